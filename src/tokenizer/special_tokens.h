#pragma once
// Special-token handling shared by both tokenizer kinds, as llama.cpp does it: splitting text
// on special-token strings before tokenizing, and the end-of-generation tokens it recognizes
// by their text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/token_id.h"

namespace hsd {

struct Fragment {
    TokenId token;      // >= 0: this special token; -1: raw text
    uint32_t off, len;  // the raw text's bytes (token < 0)
};

// Splits `text` on occurrences of the strings of `specials` (token ids, already in priority
// order: longest text first). Each special token in turn splits every remaining raw fragment at
// its non-overlapping occurrences, left to right (llama.cpp's tokenizer_st_partition without
// lstrip/rstrip, which only some vocabularies not handled here use).
std::vector<Fragment> partition_special(std::string_view text, const std::vector<TokenId>& specials,
                                        const std::vector<std::string>& pieces);

// Texts llama.cpp treats as end of generation whatever the token ids in the file say.
bool is_eog_text(std::string_view s);
// Texts llama.cpp takes as the end-of-turn / end-of-message / FIM pad, repo and file-separator
// tokens when the file does not name them (these end generation too).
bool is_eot_text(std::string_view s);
bool is_eom_text(std::string_view s);
bool is_fim_eog_text(std::string_view s);
// FIM prefix/suffix/middle texts llama.cpp recognizes (made control tokens, as it does).
bool is_fim_text(std::string_view s);

}  // namespace hsd
