#include "tokenizer/synthetic_tokens.h"

#include "common/error.h"

namespace hsd {

std::vector<TokenId> synthetic_tokens(const Tokenizer& tok, int64_t n, uint32_t seed) {
    std::vector<TokenId> text;
    for (TokenId id = 0; id < tok.n_vocab(); ++id)
        if (tok.type(id) == Tokenizer::PieceType::Normal) text.push_back(id);
    if (text.empty()) fail("synthetic tokens: the vocabulary has no ordinary (Normal) pieces");
    std::vector<TokenId> t;
    if (n <= 0) return t;
    t.reserve((size_t)n);
    if (tok.add_bos_default()) t.push_back(tok.bos_id());
    uint32_t x = seed;  // a linear congruential generator: the same sequence on every platform
    while ((int64_t)t.size() < n) {
        x = x * 1664525u + 1013904223u;
        t.push_back(text[(x >> 8) % (uint32_t)text.size()]);
    }
    return t;
}

}  // namespace hsd
