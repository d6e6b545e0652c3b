#include "server/chat_format.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <ctime>
#include <initializer_list>

#include "common/error.h"

namespace hsd::server {
namespace {

struct FormatInfo {
    ChatFormat format;
    const char* name;
    std::vector<std::string> end_of_turn;
};

const std::vector<FormatInfo>& formats() {
    static const std::vector<FormatInfo> table = {
        {ChatFormat::ChatML, "chatml", {"<|im_end|>"}},
        {ChatFormat::ChatMLBos, "chatml-bos", {"<|im_end|>"}},
        {ChatFormat::Qwen25, "qwen2.5", {"<|im_end|>"}},
        {ChatFormat::MiMo, "mimo", {"<|im_end|>"}},
        {ChatFormat::Qwen3, "qwen3", {"<|im_end|>"}},
        {ChatFormat::Qwen35, "qwen3.5", {"<|im_end|>"}},
        {ChatFormat::QwQ, "qwq", {"<|im_end|>"}},
        {ChatFormat::Step35, "step3.5", {"<|im_end|>"}},
        {ChatFormat::MiniCPM5, "minicpm5", {"<|im_end|>"}},
        {ChatFormat::Bielik, "bielik", {"<|im_end|>"}},
        {ChatFormat::LFM25, "lfm2.5", {"<|im_end|>"}},
        {ChatFormat::Llama2, "llama2", {"</s>"}},
        {ChatFormat::Llama3, "llama3", {"<|eot_id|>"}},
        {ChatFormat::Llama31, "llama3.1", {"<|eot_id|>", "<|eom_id|>"}},
        {ChatFormat::Llama32, "llama3.2", {"<|eot_id|>", "<|eom_id|>"}},
        {ChatFormat::MistralNemo, "mistral-nemo", {"</s>"}},
        {ChatFormat::Phi3, "phi3", {"<|end|>"}},
        {ChatFormat::Gemma, "gemma", {"<end_of_turn>"}},
        {ChatFormat::Zephyr, "zephyr", {"</s>"}},
        {ChatFormat::DeepSeekR1, "deepseek-r1", {"<｜end▁of▁sentence｜>"}},
        {ChatFormat::DeepSeekR1NoThink, "deepseek-r1-nothink", {"<｜end▁of▁sentence｜>"}},
        {ChatFormat::DeepSeekV31, "deepseek-v3.1", {"<｜end▁of▁sentence｜>"}},
        {ChatFormat::DeepSeekV32, "deepseek-v3.2", {"<｜end▁of▁sentence｜>"}},
        {ChatFormat::DeepSeekV4, "deepseek-v4", {"<｜end▁of▁sentence｜>"}},
        {ChatFormat::Granite33, "granite3.3", {"<|end_of_text|>"}},
        {ChatFormat::Granite40, "granite4.0", {"<|end_of_text|>"}},
        {ChatFormat::Granite41, "granite4.1", {"<|end_of_text|>"}},
        {ChatFormat::SeedOSS, "seed-oss", {"<seed:eos>"}},
        {ChatFormat::RwkvWorld, "rwkv-world", {"\n\nUser:"}},
    };
    return table;
}

const FormatInfo& info(ChatFormat f) {
    for (const auto& entry : formats())
        if (entry.format == f) return entry;
    HSD_ASSERT(false, fmt::format("chat format {} has no table entry", static_cast<int>(f)));
    __builtin_unreachable();
}

// ---- string helpers mirroring the Python string methods the templates call ----

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

bool contains_any(std::string_view text, std::initializer_list<std::string_view> parts) {
    for (auto part : parts)
        if (contains(text, part)) return true;
    return false;
}

// str.strip() / lstrip() / rstrip() without arguments (ASCII whitespace), or of one character.
constexpr std::string_view kWhitespace = " \t\n\r\v\f";

std::string lstrip(std::string_view s, std::string_view chars = kWhitespace) {
    const auto begin = s.find_first_not_of(chars);
    return begin == std::string_view::npos ? std::string() : std::string(s.substr(begin));
}

std::string rstrip(std::string_view s, std::string_view chars = kWhitespace) {
    const auto end = s.find_last_not_of(chars);
    return end == std::string_view::npos ? std::string() : std::string(s.substr(0, end + 1));
}

std::string strip(std::string_view s, std::string_view chars = kWhitespace) { return lstrip(rstrip(s, chars), chars); }

// s.split(sep)[0] and s.split(sep)[-1].
std::string_view before_first(std::string_view s, std::string_view sep) { return s.substr(0, s.find(sep)); }

std::string_view after_last(std::string_view s, std::string_view sep) {
    const auto pos = s.rfind(sep);
    return pos == std::string_view::npos ? s : s.substr(pos + sep.size());
}

// The "<think>...</think>answer" split of Qwen3-style templates:
//   reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
//   content   = content.split('</think>')[-1].lstrip('\n')
struct Reasoned {
    std::string reasoning;
    std::string content;
};

Reasoned split_reasoning(std::string_view content) {
    if (!contains(content, "</think>")) return {"", std::string(content)};
    return {lstrip(after_last(rstrip(before_first(content, "</think>"), "\n"), "<think>"), "\n"),
            lstrip(after_last(content, "</think>"), "\n")};
}

// ---- conversation checks ----

void require_messages(const std::vector<ChatMessage>& messages) {
    if (messages.empty()) fail("chat: the conversation has no messages");
}

void require_known_roles(const std::vector<ChatMessage>& messages, ChatFormat f) {
    for (const auto& m : messages)
        if (m.role != "system" && m.role != "user" && m.role != "assistant")
            fail(fmt::format("chat format {}: unknown message role '{}' (expected system, user or assistant)",
                             chat_format_name(f), m.role));
}

// Roles after an optional leading system message must go user, assistant, user, ...
void require_alternation(const std::vector<ChatMessage>& messages, std::size_t first, ChatFormat f) {
    for (std::size_t i = first; i < messages.size(); ++i) {
        const bool expect_user = (i - first) % 2 == 0;
        if ((messages[i].role == "user") != expect_user)
            fail(
                fmt::format("chat format {}: after the optional system message, roles must alternate "
                            "user/assistant/user/...; message {} has role '{}'",
                            chat_format_name(f), i, messages[i].role));
    }
}

bool has_leading_system(const std::vector<ChatMessage>& messages) {
    return !messages.empty() && messages[0].role == "system";
}

// Index of the last user message, or -1.
long last_user_index(const std::vector<ChatMessage>& messages) {
    for (std::size_t i = messages.size(); i-- > 0;)
        if (messages[i].role == "user") return static_cast<long>(i);
    return -1;
}

std::string month_name(int month) {
    static constexpr std::array<const char*, 12> names = {"January",   "February", "March",    "April",
                                                          "May",       "June",     "July",     "August",
                                                          "September", "October",  "November", "December"};
    HSD_ASSERT(month >= 1 && month <= 12, fmt::format("month {} out of range", month));
    return names[static_cast<std::size_t>(month - 1)];
}

// ---- ChatML family ----

std::string im(std::string_view role, std::string_view content) {
    return fmt::format("<|im_start|>{}\n{}<|im_end|>\n", role, content);
}

// Plain ChatML, optionally with a default system message when the first message is not one.
std::string render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                          const char* default_system) {
    std::string out;
    if (default_system && !has_leading_system(messages)) out += im("system", default_system);
    for (const auto& m : messages) out += im(m.role, m.content);
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// BOS + ChatML where the leading system message is only written when non-empty (LFM2).
std::string render_chatml_bos(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                              std::string_view bos) {
    std::string out(bos);
    std::size_t first = 0;
    if (has_leading_system(messages)) {
        if (!messages[0].content.empty()) out += im("system", messages[0].content);
        first = 1;
    }
    for (std::size_t i = first; i < messages.size(); ++i) out += im(messages[i].role, messages[i].content);
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// LFM2.5: as LFM2, reasoning dropped from every assistant turn but the last one.
std::string render_lfm25(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view bos) {
    std::string out(bos);
    std::size_t first = 0;
    if (has_leading_system(messages)) {
        if (!messages[0].content.empty()) out += im("system", messages[0].content);
        first = 1;
    }
    std::size_t last_assistant = messages.size();
    for (std::size_t i = first; i < messages.size(); ++i)
        if (messages[i].role == "assistant") last_assistant = i;
    for (std::size_t i = first; i < messages.size(); ++i) {
        std::string content = messages[i].content;
        if (messages[i].role == "assistant" && i != last_assistant && contains(content, "</think>"))
            content = strip(after_last(content, "</think>"));
        out += im(messages[i].role, content);
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// The Qwen3 lineage: a leading system message, user (and later system) turns as ChatML, and
// assistant turns whose <think> part is dropped before the last user message and re-written
// after it. The variants differ in how that is written.
enum class ThinkStyle {
    Qwen3,     // after the last query: think block when last or when there is reasoning
    Qwen35,    // always a think block after the last query; contents trimmed
    Step35,    // always a think block after the last query, one newline after </think>
    MiniCPM5,  // think block only when there is reasoning
};

std::string render_qwen3_like(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                              std::string_view bos, ThinkStyle style) {
    const bool trim_all = style == ThinkStyle::Qwen35;
    auto content_of = [&](const ChatMessage& m) { return trim_all ? strip(m.content) : m.content; };

    std::string out;
    if (style == ThinkStyle::Step35 || style == ThinkStyle::MiniCPM5) out += bos;
    if (has_leading_system(messages)) out += im("system", content_of(messages[0]));
    const long last_query = last_user_index(messages);
    if (style == ThinkStyle::Qwen35 && last_query < 0)
        fail(fmt::format("chat format {}: no user message in the conversation", chat_format_name(f)));
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const std::string content = content_of(m);
        if (m.role == "system") {
            if (i == 0) continue;
            if (style == ThinkStyle::Qwen35)
                fail(fmt::format("chat format {}: a system message must be the first message", chat_format_name(f)));
            out += im("system", content);
        } else if (m.role == "user") {
            out += im("user", content);
        } else {
            Reasoned r = split_reasoning(content);
            const bool after_query = static_cast<long>(i) > last_query;
            const bool last = i + 1 == messages.size();
            std::string body = r.content;
            if (after_query) {
                switch (style) {
                    case ThinkStyle::Qwen3:
                        if (last || !r.reasoning.empty())
                            body = "<think>\n" + strip(r.reasoning, "\n") + "\n</think>\n\n" + lstrip(r.content, "\n");
                        break;
                    case ThinkStyle::MiniCPM5:
                        if (!r.reasoning.empty())
                            body = "<think>\n" + strip(r.reasoning, "\n") + "\n</think>\n\n" + lstrip(r.content, "\n");
                        break;
                    case ThinkStyle::Qwen35:
                        body = "<think>\n" + strip(r.reasoning) + "\n</think>\n\n" + r.content;
                        break;
                    case ThinkStyle::Step35:
                        body = "<think>\n" + r.reasoning + "\n</think>\n" + r.content;
                        break;
                }
            }
            out += im("assistant", body);
        }
    }
    if (add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        if (style == ThinkStyle::Qwen35 || style == ThinkStyle::Step35) out += "<think>\n";
    }
    return out;
}

// QwQ: ChatML, reasoning dropped from all but the last message, the prompt closes an empty think.
std::string render_qwq(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
    std::string out;
    if (has_leading_system(messages)) out += im("system", messages[0].content);
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (m.role == "user" || (m.role == "system" && i > 0)) {
            out += im(m.role, m.content);
        } else if (m.role == "assistant") {
            const bool last = i + 1 == messages.size();
            out += im("assistant", last ? m.content : lstrip(after_last(m.content, "</think>"), "\n"));
        }
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n<think>\n</think>";
    return out;
}

// Bielik: BOS + ChatML; assistant reasoning re-wrapped as "<think>\n...\n</think>\n".
std::string render_bielik(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view bos) {
    std::string out(bos);
    std::size_t first = 0;
    if (has_leading_system(messages)) {
        if (!messages[0].content.empty()) out += im("system", messages[0].content);
        first = 1;
    }
    for (std::size_t i = first; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (m.role == "user") {
            out += im("user", m.content);
        } else if (m.role == "assistant") {
            std::string_view content = m.content;
            std::string reasoning;
            std::string rest(content);
            if (contains(content, "<think>") && contains(content, "</think>")) {
                const auto close = content.find("</think>");
                reasoning = std::string(after_last(content.substr(0, close), "<think>"));
                rest = std::string(content.substr(close + 8));
            }
            std::string body;
            if (!reasoning.empty()) body = "<think>\n" + strip(reasoning) + "\n</think>\n";
            out += im("assistant", body + lstrip(rest));
        }
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// ---- Llama ----

std::string header(std::string_view role) { return fmt::format("<|start_header_id|>{}<|end_header_id|>\n\n", role); }

std::string render_llama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view bos) {
    std::string out(bos);
    for (const auto& m : messages) out += header(m.role) + strip(m.content) + "<|eot_id|>";
    if (add_generation_prompt) out += header("assistant");
    return out;
}

// Llama 3.1 / 3.2 / 3.3: a system turn always, starting with the knowledge and today's dates.
std::string render_llama31(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view bos,
                           const std::string& date) {
    std::string out(bos);
    std::size_t first = 0;
    std::string system;
    if (has_leading_system(messages)) {
        system = strip(messages[0].content);
        first = 1;
    }
    out += header("system") + "Cutting Knowledge Date: December 2023\nToday Date: " + date + "\n\n" + system +
           "<|eot_id|>";
    for (std::size_t i = first; i < messages.size(); ++i)
        out += header(messages[i].role) + strip(messages[i].content) + "<|eot_id|>";
    if (add_generation_prompt) out += header("assistant");
    return out;
}

// Llama 2: the system message goes inside the first [INST] block; roles must alternate.
std::string render_llama2(const std::vector<ChatMessage>& messages, std::string_view bos, std::string_view eos) {
    const bool sys = has_leading_system(messages);
    const std::size_t first = sys ? 1 : 0;
    require_alternation(messages, first, ChatFormat::Llama2);
    std::string out;
    for (std::size_t i = first; i < messages.size(); ++i) {
        std::string content = messages[i].content;
        if (i == first && sys) content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + content;
        if (messages[i].role == "user")
            out += fmt::format("{}[INST] {} [/INST]", bos, strip(content));
        else
            out += fmt::format(" {} {}", strip(content), eos);
    }
    return out;
}

// ---- Mistral ----

// Mistral Nemo (tekken v3): the system message is prepended to the final message when that is a
// user message, and dropped otherwise.
std::string render_mistral_nemo(const std::vector<ChatMessage>& messages, std::string_view bos, std::string_view eos) {
    const bool sys = has_leading_system(messages);
    const std::size_t first = sys ? 1 : 0;
    require_alternation(messages, first, ChatFormat::MistralNemo);
    std::string out(bos);
    for (std::size_t i = first; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (m.role == "user") {
            const bool last = i + 1 == messages.size();
            if (last && sys)
                out += "[INST]" + messages[0].content + "\n\n" + m.content + "[/INST]";
            else
                out += "[INST]" + m.content + "[/INST]";
        } else if (m.role == "assistant") {
            out += m.content + std::string(eos);
        } else {
            fail(
                "chat format mistral-nemo: only user and assistant roles are supported after an optional "
                "first system message");
        }
    }
    return out;
}

// ---- other families ----

std::string render_phi3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view eos) {
    std::string out;
    for (const auto& m : messages) {
        if (m.role == "system" && !m.content.empty())
            out += "<|system|>\n" + m.content + "<|end|>\n";
        else if (m.role == "user" || m.role == "assistant")
            out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
    }
    out += add_generation_prompt ? std::string("<|assistant|>\n") : std::string(eos);
    return out;
}

std::string render_zephyr(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view eos) {
    std::string out;
    for (const auto& m : messages)
        if (m.role == "system" || m.role == "user" || m.role == "assistant")
            out += fmt::format("<|{}|>\n{}{}\n", m.role, m.content, eos);
    if (add_generation_prompt && !messages.empty()) out += "<|assistant|>\n";
    return out;
}

std::string render_gemma(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string_view bos) {
    if (messages[0].role == "system") fail("chat format gemma: the system role is not supported");
    require_alternation(messages, 0, ChatFormat::Gemma);
    std::string out(bos);
    for (const auto& m : messages)
        out += fmt::format("<start_of_turn>{}\n{}<end_of_turn>\n", m.role == "assistant" ? "model" : m.role,
                           strip(m.content));
    if (add_generation_prompt) out += "<start_of_turn>model\n";
    return out;
}

constexpr std::string_view kDsUser = "<｜User｜>";
constexpr std::string_view kDsAssistant = "<｜Assistant｜>";
constexpr std::string_view kDsEnd = "<｜end▁of▁sentence｜>";

// DeepSeek R1 (and its distills): the last system message goes first.
std::string render_deepseek_r1(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                               std::string_view bos, bool no_think) {
    std::string system;
    for (const auto& m : messages)
        if (m.role == "system") system = m.content;
    std::string out = std::string(bos) + system;
    for (const auto& m : messages) {
        if (m.role == "user") out += std::string(kDsUser) + m.content;
        if (m.role == "assistant")
            out += std::string(kDsAssistant) + std::string(after_last(m.content, "</think>")) + std::string(kDsEnd);
    }
    if (add_generation_prompt) out += std::string(kDsAssistant) + (no_think ? "<think>\n</think>" : "<think>\n");
    return out;
}

// DeepSeek V3.x / V4 (non-thinking): all system messages, joined by blank lines, go first.
std::string deepseek_system(const std::vector<ChatMessage>& messages) {
    std::string system;
    bool first = true;
    for (const auto& m : messages) {
        if (m.role != "system") continue;
        if (!first) system += "\n\n";
        system += m.content;
        first = false;
    }
    return system;
}

std::string render_deepseek_v3(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                               std::string_view bos, ChatFormat f) {
    std::string out = std::string(bos) + deepseek_system(messages);
    bool pending_assistant = false;  // the last turn was a user's
    for (const auto& m : messages) {
        if (m.role == "user") {
            out += std::string(kDsUser) + m.content;
            pending_assistant = true;
        } else if (m.role == "assistant") {
            if (f == ChatFormat::DeepSeekV31) {
                if (pending_assistant) out += std::string(kDsAssistant) + "<think></think>";
                std::string_view content = m.content;
                const auto close = content.find("</think>");
                if (close != std::string_view::npos) content = content.substr(close + 8);
                out += std::string(content) + std::string(kDsEnd);
            } else {
                if (pending_assistant) out += std::string(kDsAssistant) + "</think>";
                out += m.content + std::string(kDsEnd);
            }
            pending_assistant = false;
        }
    }
    if (add_generation_prompt && pending_assistant) out += std::string(kDsAssistant) + "<think></think>";
    return out;
}

std::string render_deepseek_v4(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                               std::string_view bos) {
    std::string out = std::string(bos) + deepseek_system(messages);
    bool in_user = false;
    for (const auto& m : messages) {
        if (m.role == "user") {
            out += in_user ? std::string("\n\n") : std::string(kDsUser);
            out += m.content;
            in_user = true;
        } else if (m.role == "assistant") {
            in_user = false;
            out += std::string(kDsAssistant) + "</think>" + m.content + std::string(kDsEnd);
        }
    }
    if (add_generation_prompt) out += std::string(kDsAssistant) + "</think>";
    return out;
}

std::string render_granite(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                           const std::string& default_system) {
    auto turn = [](std::string_view role, std::string_view content) {
        return fmt::format("<|start_of_role|>{}<|end_of_role|>{}<|end_of_text|>\n", role, content);
    };
    std::string out;
    if (!has_leading_system(messages) && !default_system.empty()) out += turn("system", default_system);
    for (const auto& m : messages) out += turn(m.role, m.content);
    if (add_generation_prompt) out += "<|start_of_role|>assistant<|end_of_role|>";
    return out;
}

// Seed-OSS writes its own BOS/EOS texts; an assistant turn with blank content has no EOS.
std::string render_seed_oss(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
    std::string out;
    for (const auto& m : messages) {
        if (m.role == "assistant") {
            out += "<seed:bos>assistant";
            const std::string content = strip(m.content);
            if (!content.empty()) out += "\n" + content + "<seed:eos>";
        } else {
            out += "<seed:bos>" + m.role + "\n" + m.content + "<seed:eos>";
        }
    }
    if (add_generation_prompt) out += "<seed:bos>assistant\n";
    return out;
}

// RWKV World: the last system message first, trimmed turns separated by blank lines.
std::string render_rwkv_world(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                              std::string_view bos) {
    std::string system;
    for (const auto& m : messages)
        if (m.role == "system") system = m.content;
    std::string out(bos);
    if (!system.empty()) out += "System: " + system + "\n\n";
    for (const auto& m : messages) {
        if (m.role == "user") out += "User: " + strip(m.content) + "\n\n";
        if (m.role == "assistant") out += "Assistant: " + strip(after_last(m.content, "</think>")) + "\n\n";
    }
    if (add_generation_prompt) out += "Assistant:";
    return out;
}

}  // namespace

ChatDate chat_date_today() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&now, &local);
    return {local.tm_year + 1900, local.tm_mon + 1, local.tm_mday};
}

std::optional<ChatFormat> detect_chat_format(std::string_view t) {
    // Templates of the HF-only {% generation %} tag cannot be checked against jinja2: not claimed.
    if (contains_any(t, {"{% generation %}", "{%- generation %}", "{%- generation -%}"})) return std::nullopt;

    if (contains(t, "<|im_start|>")) {
        if (contains(t, "You are Qwen, created by Alibaba Cloud")) return ChatFormat::Qwen25;
        if (contains(t, "You are MiMo")) return ChatFormat::MiMo;
        if (contains(t, "<|function_output|>")) return ChatFormat::Bielik;
        if (contains(t, "keep_past_thinking")) return ChatFormat::LFM25;
        if (contains(t, "<|tool_list_start|>")) return ChatFormat::ChatMLBos;
        if (contains(t, "<|im_start|>tool_response")) return ChatFormat::Step35;
        if (contains(t, "<tool_sep>")) return ChatFormat::MiniCPM5;
        if (contains(t, "No user query found in messages.")) return ChatFormat::Qwen35;
        if (contains(t, "last_query_index") && contains(t, "<think>")) return ChatFormat::Qwen3;
        if (contains(t, "<|im_start|>assistant\\n<think>\\n") && contains(t, "split('</think>')[-1]") &&
            !contains(t, "<think></think>"))
            return ChatFormat::QwQ;
        // Built-in system prompts (SmolLM3, Hermes tool use) or own reasoning rules (Nemotron):
        // not plain ChatML.
        if (contains_any(t, {"<think>", "SmolLM", "function calling AI model", "bos_token"})) return std::nullopt;
        return ChatFormat::ChatML;
    }
    if (contains(t, "<|start_header_id|>")) {
        if (contains_any(t, {">>>", "<function"})) return std::nullopt;  // functionary
        if (contains(t, "Cutting Knowledge Date"))
            return contains(t, "strftime_now") ? ChatFormat::Llama32 : ChatFormat::Llama31;
        if (contains(t, "functions")) return std::nullopt;  // firefunction
        return ChatFormat::Llama3;
    }
    if (contains(t, "[INST]")) {
        if (contains(t, "<<SYS>>")) return ChatFormat::Llama2;
        if (contains(t, R"("[INST]" + system_message + "\n\n" + message["content"] + "[/INST]")"))
            return ChatFormat::MistralNemo;
        return std::nullopt;  // [SYSTEM_PROMPT] variants carry long built-in system prompts
    }
    if (contains(t, "<start_of_turn>")) return ChatFormat::Gemma;
    if (contains(t, "<|user|>") && contains(t, "<|assistant|>")) {
        if (contains(t, "ServiceNow")) return std::nullopt;  // Apriel: built-in system prompt
        if (contains(t, "<|end|>")) return ChatFormat::Phi3;
        if (contains(t, "eos_token")) return ChatFormat::Zephyr;
        return std::nullopt;
    }
    if (contains(t, "<｜User｜>")) {
        if (contains(t, "｜DSML｜"))
            return contains(t, "<tool_result>") ? ChatFormat::DeepSeekV4 : ChatFormat::DeepSeekV32;
        if (contains(t, "is_last_user") && contains(t, "<think></think>")) return ChatFormat::DeepSeekV31;
        if (contains(t, "flush_tool_outputs")) return std::nullopt;  // llama.cpp's own R1 variant
        if (contains(t, "<｜Assistant｜><think>\\n"))
            return contains(t, "if not enable_thinking") ? ChatFormat::DeepSeekR1NoThink : ChatFormat::DeepSeekR1;
        return std::nullopt;
    }
    if (contains(t, "<seed:bos>")) return ChatFormat::SeedOSS;
    if (contains(t, "'User: '") && contains(t, "'Assistant: '")) return ChatFormat::RwkvWorld;
    if (contains(t, "<|start_of_role|>")) {
        if (contains(t, "Knowledge Cutoff Date: April 2024")) return ChatFormat::Granite33;
        if (contains(t, "g4_default_system_message")) return ChatFormat::Granite40;
        return ChatFormat::Granite41;
    }
    return std::nullopt;
}

ChatFormat chat_format_from_name(std::string_view name) {
    for (const auto& entry : formats())
        if (name == entry.name) return entry.format;
    // Family names for the format most models of the family use.
    if (name == "mistral") return ChatFormat::MistralNemo;
    if (name == "deepseek") return ChatFormat::DeepSeekR1;
    fail(
        fmt::format("unknown chat template name '{}'; valid names: {} (also 'mistral' for mistral-nemo, "
                    "'deepseek' for deepseek-r1)",
                    name, fmt::join(chat_format_names(), ", ")));
}

std::string chat_format_name(ChatFormat f) { return info(f).name; }

std::vector<std::string> chat_format_names() {
    std::vector<std::string> names;
    for (const auto& entry : formats()) names.emplace_back(entry.name);
    return names;
}

std::vector<std::string> chat_format_end_of_turn(ChatFormat f) { return info(f).end_of_turn; }

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos, std::string_view eos) {
    return render_chat(f, messages, add_generation_prompt, bos, eos, chat_date_today());
}

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos, std::string_view eos, ChatDate today) {
    require_messages(messages);
    require_known_roles(messages, f);
    switch (f) {
        case ChatFormat::ChatML:
            return render_chatml(messages, add_generation_prompt, nullptr);
        case ChatFormat::ChatMLBos:
            return render_chatml_bos(messages, add_generation_prompt, bos);
        case ChatFormat::Qwen25:
            return render_chatml(messages, add_generation_prompt,
                                 "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
        case ChatFormat::MiMo:
            return render_chatml(messages, add_generation_prompt, "You are MiMo, an AI assistant developed by Xiaomi.");
        case ChatFormat::Qwen3:
            return render_qwen3_like(f, messages, add_generation_prompt, bos, ThinkStyle::Qwen3);
        case ChatFormat::Qwen35:
            return render_qwen3_like(f, messages, add_generation_prompt, bos, ThinkStyle::Qwen35);
        case ChatFormat::Step35:
            return render_qwen3_like(f, messages, add_generation_prompt, bos, ThinkStyle::Step35);
        case ChatFormat::MiniCPM5:
            return render_qwen3_like(f, messages, add_generation_prompt, bos, ThinkStyle::MiniCPM5);
        case ChatFormat::QwQ:
            return render_qwq(messages, add_generation_prompt);
        case ChatFormat::Bielik:
            return render_bielik(messages, add_generation_prompt, bos);
        case ChatFormat::LFM25:
            return render_lfm25(messages, add_generation_prompt, bos);
        case ChatFormat::Llama2:
            return render_llama2(messages, bos, eos);
        case ChatFormat::Llama3:
            return render_llama3(messages, add_generation_prompt, bos);
        case ChatFormat::Llama31:
            return render_llama31(messages, add_generation_prompt, bos, "26 Jul 2024");
        case ChatFormat::Llama32:
            return render_llama31(messages, add_generation_prompt, bos,
                                  fmt::format("{:02} {:.3} {}", today.day, month_name(today.month), today.year));
        case ChatFormat::MistralNemo:
            return render_mistral_nemo(messages, bos, eos);
        case ChatFormat::Phi3:
            return render_phi3(messages, add_generation_prompt, eos);
        case ChatFormat::Gemma:
            return render_gemma(messages, add_generation_prompt, bos);
        case ChatFormat::Zephyr:
            return render_zephyr(messages, add_generation_prompt, eos);
        case ChatFormat::DeepSeekR1:
            return render_deepseek_r1(messages, add_generation_prompt, bos, false);
        case ChatFormat::DeepSeekR1NoThink:
            return render_deepseek_r1(messages, add_generation_prompt, bos, true);
        case ChatFormat::DeepSeekV31:
        case ChatFormat::DeepSeekV32:
            return render_deepseek_v3(messages, add_generation_prompt, bos, f);
        case ChatFormat::DeepSeekV4:
            return render_deepseek_v4(messages, add_generation_prompt, bos);
        case ChatFormat::Granite33:
            return render_granite(messages, add_generation_prompt,
                                  fmt::format("Knowledge Cutoff Date: April 2024. Today's Date: {} {:02}, {}. "
                                              "You are Granite, developed by IBM. You are a helpful AI assistant.",
                                              month_name(today.month), today.day, today.year));
        case ChatFormat::Granite40:
            return render_granite(messages, add_generation_prompt,
                                  "You are a helpful assistant. Please ensure responses are professional, accurate, "
                                  "and safe.");
        case ChatFormat::Granite41:
            return render_granite(messages, add_generation_prompt, "");
        case ChatFormat::SeedOSS:
            return render_seed_oss(messages, add_generation_prompt);
        case ChatFormat::RwkvWorld:
            return render_rwkv_world(messages, add_generation_prompt, bos);
    }
    HSD_ASSERT(false, fmt::format("chat format {} has no renderer", static_cast<int>(f)));
    __builtin_unreachable();
}

}  // namespace hsd::server
