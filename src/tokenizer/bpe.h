#pragma once
// Rank-ordered BPE over GPT-2 byte-level symbols (tokenizer.ggml.model = "gpt2"), as
// llama.cpp's llm_tokenizer_bpe: within one pre-tokenized word, repeatedly merge the adjacent
// pair with the lowest merge rank (leftmost on ties); symbols that are not tokens fall back to
// their single-byte tokens where those exist.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/token_id.h"

namespace hsd {

class BpeModel {
public:
    // `pieces` are the vocabulary texts (byte-level), `merges` the "left right" strings in rank
    // order. Throws hsd::Error (naming `path`) on a malformed merge.
    BpeModel(const std::vector<std::string>& pieces, const std::vector<std::string>& merges, const std::string& path);

    // Appends the ids of one word given as raw bytes.
    void encode_word(std::string_view raw, bool ignore_merges, std::vector<TokenId>& out) const;
    // Token whose text is `s` (the last one if several), -1 if none.
    TokenId find(std::string_view s) const;

private:
    struct Merge {
        uint64_t key = kNone;  // left symbol << 32 | right symbol
        int32_t rank = 0;
        int32_t result = 0;  // symbol id of the merged text
    };
    static constexpr uint64_t kNone = ~0ULL;
    struct TextHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    int32_t intern(const std::string& s);
    static uint64_t key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }
    const Merge* find_merge(int32_t a, int32_t b) const;
    void merge_small(std::vector<struct BpeSymbol>& syms) const;
    void merge_large(std::vector<struct BpeSymbol>& syms) const;

    int32_t n_vocab_ = 0;
    // Symbol ids: a vocabulary text's id is its token id; texts that only occur in merges get
    // ids from n_vocab_ on.
    std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> sym_of_;
    std::vector<std::string> sym_text_;
    std::vector<Merge> merges_;  // open addressing on the pair key (the hot lookup)
    uint64_t merge_mask_ = 0;
    int32_t byte_sym_[256];  // symbol of each byte's byte-level character, -1 if it has none
};

}  // namespace hsd
