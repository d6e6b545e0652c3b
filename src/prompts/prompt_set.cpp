#include "prompts/prompt_set.h"

#include <fmt/format.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace hsd {

namespace {

// The whole file, inflated if it is gzip (zlib's gzread also passes plain files through).
std::string read_all(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fail(fmt::format("cannot open prompt file '{}'", path));
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const int got = gzread(f, buf, sizeof buf);
        if (got < 0) {
            int err = 0;
            const std::string msg = gzerror(f, &err);
            gzclose(f);
            fail(fmt::format("cannot read prompt file '{}': {}", path, msg));
        }
        if (got == 0) break;
        out.append(buf, (size_t)got);
    }
    // A gzip stream cut short reads as a clean end of file; zlib only reports it here
    // (Z_BUF_ERROR), and a silently shorter prompt set would be a wrong benchmark.
    if (gzclose(f) != Z_OK)
        fail(fmt::format("cannot read prompt file '{}': the gzip stream is truncated or corrupt", path));
    return out;
}

}  // namespace

std::vector<Prompt> load_prompts(const std::string& path, size_t limit) {
    const std::string data = read_all(path);
    std::vector<Prompt> out;
    size_t line_no = 0, start = 0;
    while (start < data.size() && (limit == 0 || out.size() < limit)) {
        size_t end = data.find('\n', start);
        if (end == std::string::npos) end = data.size();
        const std::string line = data.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fail(fmt::format("{}:{}: not a JSON object ({})", path, line_no, e.what()));
        }
        if (!j.is_object()) fail(fmt::format("{}:{}: not a JSON object", path, line_no));
        Prompt p;
        if (j.contains("task_id")) p.id = j["task_id"].is_string() ? j["task_id"].get<std::string>() : j["task_id"].dump();
        else if (j.contains("question_id")) p.id = j["question_id"].dump();
        else p.id = std::to_string(line_no);
        auto text_of = [&](const nlohmann::json& v, const char* field) {
            if (!v.is_string()) fail(fmt::format("{}:{}: field \"{}\" is not a string", path, line_no, field));
            return v.get<std::string>();
        };
        if (j.contains("prompt")) p.text = text_of(j["prompt"], "prompt");
        else if (j.contains("turns") && j["turns"].is_array() && !j["turns"].empty()) p.text = text_of(j["turns"][0], "turns");
        else if (j.contains("question")) p.text = text_of(j["question"], "question");
        else if (j.contains("text")) p.text = text_of(j["text"], "text");
        else fail(fmt::format("{}:{}: no \"prompt\", \"turns\", \"question\" or \"text\" field", path, line_no));
        out.push_back(std::move(p));
    }
    if (out.empty()) fail(fmt::format("prompt file '{}' holds no prompts", path));
    return out;
}

std::vector<TokenId> keep_prompt_tail(std::vector<TokenId> t, size_t max_tokens, const Tokenizer& tok) {
    HSD_ASSERT(max_tokens >= 1, "a prompt cut to no tokens");
    if (t.size() <= max_tokens) return t;
    const size_t head = tok.add_bos_default() && t[0] == tok.bos_id() ? 1 : 0;
    t.erase(t.begin() + (std::ptrdiff_t)head, t.end() - (std::ptrdiff_t)(max_tokens - head));
    return t;
}

}  // namespace hsd
