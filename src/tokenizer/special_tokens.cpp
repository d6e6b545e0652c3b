#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <array>

namespace hsd {

std::vector<Fragment> partition_special(std::string_view text, const std::vector<TokenId>& specials,
                                        const std::vector<std::string>& pieces) {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, (uint32_t)text.size()});
    if (specials.empty()) return frags;
    std::array<bool, 256> present{};  // cheap filter: a special token must start with a byte of the text
    for (unsigned char c : text) present[c] = true;
    std::vector<Fragment> next;
    for (const TokenId id : specials) {
        const std::string& s = pieces[(size_t)id];
        if (s.empty() || !present[(unsigned char)s[0]] || s.size() > text.size()) continue;
        if (text.find(s) == std::string_view::npos) continue;
        next.clear();
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            const std::string_view raw = text.substr(f.off, f.len);
            size_t from = 0;
            for (size_t at; (at = raw.find(s, from)) != std::string_view::npos; from = at + s.size()) {
                if (at > from) next.push_back({-1, f.off + (uint32_t)from, (uint32_t)(at - from)});
                next.push_back({id, 0, 0});
            }
            if (from < raw.size()) next.push_back({-1, f.off + (uint32_t)from, (uint32_t)(raw.size() - from)});
        }
        frags.swap(next);
    }
    return frags;
}

namespace {
template <size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& list) {
    return std::find(list.begin(), list.end(), s) != list.end();
}
}  // namespace

bool is_eog_text(std::string_view s) {
    static constexpr std::array<std::string_view, 12> list = {
        "<|eot_id|>",   "<|im_end|>", "<|end|>",     "<|return|>", "<|call|>",        "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>",      "_<EOT>",     "<|end_of_text|>", "<end_of_utterance>"};
    return one_of(s, list);
}

bool is_eot_text(std::string_view s) {
    static constexpr std::array<std::string_view, 10> list = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
        "_<EOT>",
        "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek's <｜end▁of▁sentence｜>
        "<end_of_utterance>"};
    return one_of(s, list);
}

bool is_eom_text(std::string_view s) { return s == "<|eom_id|>"; }

bool is_fim_eog_text(std::string_view s) {
    static constexpr std::array<std::string_view, 10> list = {
        "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",  // pad
        "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",  // repository name
        "<|file_sep|>"};
    return one_of(s, list);
}

bool is_fim_text(std::string_view s) {
#define HSD_FW "\xEF\xBD\x9C"  // U+FF5C FULLWIDTH VERTICAL LINE, as in DeepSeek's tokens
#define HSD_SP "\xE2\x96\x81"  // U+2581
    static constexpr std::array<std::string_view, 21> list = {
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<" HSD_FW "fim" HSD_SP "begin" HSD_FW ">", "<PRE>",
        HSD_SP "<PRE>",   "<|code_prefix|>",
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<" HSD_FW "fim" HSD_SP "hole" HSD_FW ">", "<SUF>",
        HSD_SP "<SUF>",   "<|code_suffix|>",
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<" HSD_FW "fim" HSD_SP "end" HSD_FW ">", "<MID>",
        HSD_SP "<MID>",   "<|code_middle|>"};
#undef HSD_FW
#undef HSD_SP
    return one_of(s, list);
}

}  // namespace hsd
