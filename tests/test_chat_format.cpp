// Chat formats (src/server/chat_format.*): names, detection, and rendering checked against
// jinja2's rendering of real chat templates (tests/chat_templates_render.py over
// shared/chat-templates).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/error.h"
#include "server/chat_format.h"

using hsd::server::chat_format_end_of_turn;
using hsd::server::chat_format_from_name;
using hsd::server::chat_format_name;
using hsd::server::chat_format_names;
using hsd::server::ChatDate;
using hsd::server::ChatFormat;
using hsd::server::ChatMessage;
using hsd::server::detect_chat_format;
using hsd::server::render_chat;

namespace {

#ifdef HSD_SOURCE_DIR
const std::string kSourceDir = HSD_SOURCE_DIR;
#else
// tests/test_chat_format.cpp -> the repository root.
const std::string kSourceDir = [] {
    std::string file = __FILE__;
    const auto pos = file.rfind("/tests/");
    return pos == std::string::npos ? std::string(".") : file.substr(0, pos);
}();
#endif

struct RunResult {
    int status;
    std::string out;
};

RunResult run(const std::string& command) {
    RunResult result{-1, ""};
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return result;
    char buffer[65536];
    std::size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// The reference renderings, computed once.
const nlohmann::json& reference() {
    static const nlohmann::json ref = [] {
        const std::string command =
            fmt::format("python3 '{}/tests/chat_templates_render.py' '{}/chat-templates'", kSourceDir, HSD_SHARED_DIR);
        const RunResult r = run(command);
        if (r.status != 0 || r.out.empty())
            return nlohmann::json{{"error", fmt::format("`{}` failed (exit status {}): the reference renderer "
                                                        "needs python3 with jinja2; install python3-jinja2",
                                                        command, r.status)}};
        return nlohmann::json::parse(r.out);
    }();
    return ref;
}

ChatDate parse_date(const std::string& iso) {
    return {std::stoi(iso.substr(0, 4)), std::stoi(iso.substr(5, 2)), std::stoi(iso.substr(8, 2))};
}

std::vector<ChatMessage> to_messages(const nlohmann::json& list) {
    std::vector<ChatMessage> messages;
    for (const auto& m : list)
        messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    return messages;
}

}  // namespace

TEST(ChatFormat, NamesRoundTrip) {
    const auto names = chat_format_names();
    EXPECT_GE(names.size(), 20u);
    std::set<std::string> unique(names.begin(), names.end());
    EXPECT_EQ(unique.size(), names.size());
    for (const auto& name : names) EXPECT_EQ(chat_format_name(chat_format_from_name(name)), name);
    EXPECT_EQ(chat_format_from_name("chatml"), ChatFormat::ChatML);
    EXPECT_EQ(chat_format_from_name("llama3"), ChatFormat::Llama3);
    EXPECT_EQ(chat_format_from_name("gemma"), ChatFormat::Gemma);
    EXPECT_EQ(chat_format_from_name("mistral"), ChatFormat::MistralNemo);
    EXPECT_EQ(chat_format_from_name("deepseek"), ChatFormat::DeepSeekR1);
}

TEST(ChatFormat, UnknownNameListsValidOnes) {
    try {
        chat_format_from_name("no-such-format");
        FAIL() << "expected hsd::Error";
    } catch (const hsd::Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("'no-such-format'"), std::string::npos) << msg;
        for (const auto& name : chat_format_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
    }
}

TEST(ChatFormat, DetectNothing) {
    EXPECT_FALSE(detect_chat_format("").has_value());
    EXPECT_FALSE(detect_chat_format("{{ messages[0]['content'] }}").has_value());
}

TEST(ChatFormat, ChatMLLiteral) {
    const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}};
    EXPECT_EQ(render_chat(ChatFormat::ChatML, messages, true, "", ""),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(render_chat(ChatFormat::ChatML, messages, false, "", ""),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatFormat, EndOfTurn) {
    EXPECT_EQ(chat_format_end_of_turn(ChatFormat::ChatML), std::vector<std::string>{"<|im_end|>"});
    EXPECT_EQ(chat_format_end_of_turn(ChatFormat::Llama3), std::vector<std::string>{"<|eot_id|>"});
    EXPECT_EQ(chat_format_end_of_turn(ChatFormat::Gemma), std::vector<std::string>{"<end_of_turn>"});
    EXPECT_EQ(chat_format_end_of_turn(ChatFormat::Phi3), std::vector<std::string>{"<|end|>"});
    for (const auto& name : chat_format_names())
        EXPECT_FALSE(chat_format_end_of_turn(chat_format_from_name(name)).empty()) << name;
}

TEST(ChatFormat, BadConversations) {
    EXPECT_THROW(render_chat(ChatFormat::ChatML, {}, true, "", ""), hsd::Error);
    EXPECT_THROW(render_chat(ChatFormat::ChatML, {{"tool", "42"}}, true, "", ""), hsd::Error);
    EXPECT_THROW(render_chat(ChatFormat::Gemma, {{"system", "s"}, {"user", "u"}}, true, "<bos>", "<eos>"), hsd::Error);
    EXPECT_THROW(render_chat(ChatFormat::MistralNemo, {{"user", "a"}, {"user", "b"}}, true, "<s>", "</s>"), hsd::Error);
}

// Every template that detect_chat_format recognises renders exactly as jinja2 renders it, for
// every reference conversation; where the template raises an exception, render_chat throws.
TEST(ChatFormat, MatchesJinjaTemplates) {
    const auto& ref = reference();
    ASSERT_FALSE(ref.contains("error")) << ref["error"].get<std::string>();
    const ChatDate date = parse_date(ref.at("date").get<std::string>());
    std::map<std::string, std::vector<std::string>> recognised;  // format -> templates
    std::vector<std::string> unrecognised;
    std::size_t checked = 0;
    for (const auto& [file, entry] : ref.at("templates").items()) {
        const auto format = detect_chat_format(entry.at("template").get<std::string>());
        if (!format) {
            unrecognised.push_back(file);
            continue;
        }
        const std::string bos = entry.at("bos"), eos = entry.at("eos");
        std::size_t rendered = 0;
        for (const auto& c : entry.at("cases")) {
            const auto messages = to_messages(c.at("messages"));
            const bool agp = c.at("add_generation_prompt");
            const std::string where =
                fmt::format("{} ({}), case {}", file, chat_format_name(*format), c.at("name").get<std::string>());
            if (c.contains("output")) {
                std::string got;
                try {
                    got = render_chat(*format, messages, agp, bos, eos, date);
                } catch (const std::exception& e) {
                    ADD_FAILURE() << where << ": render_chat threw: " << e.what();
                    continue;
                }
                EXPECT_EQ(got, c.at("output").get<std::string>()) << where;
                ++rendered;
                ++checked;
            } else if (c.at("error").get<std::string>().rfind("TemplateError:", 0) == 0) {
                EXPECT_THROW(render_chat(*format, messages, agp, bos, eos, date), hsd::Error)
                    << where << ": the template raises " << c.at("error").get<std::string>();
                ++checked;
            }
        }
        EXPECT_GE(rendered, 5u) << file << ": recognised, but jinja2 renders too few conversations to check it";
        recognised[chat_format_name(*format)].push_back(file);
    }
    std::size_t count = 0;
    std::string summary;
    for (const auto& [name, files] : recognised) {
        count += files.size();
        summary += fmt::format("  {}: {}\n", name, fmt::join(files, ", "));
    }
    std::printf("recognised %zu of %zu templates (%zu renderings checked):\n%s  not recognised: %s\n", count,
                ref.at("templates").size(), checked, summary.c_str(),
                fmt::format("{}", fmt::join(unrecognised, ", ")).c_str());
    // The families hsd supports must stay recognised.
    for (const char* file :
         {"Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja",
          "meta-llama-Llama-3.2-3B-Instruct.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja",
          "microsoft-Phi-3.5-mini-instruct.jinja", "google-gemma-2-2b-it.jinja",
          "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "extra-llama-2-chat.jinja", "extra-zephyr-7b-beta.jinja",
          "extra-llama-3-instruct.jinja"}) {
        bool found = false;
        for (const auto& [name, files] : recognised)
            for (const auto& f : files) found = found || f == file;
        EXPECT_TRUE(found) << file << " is not recognised";
    }
    EXPECT_GE(count, 30u);
}
