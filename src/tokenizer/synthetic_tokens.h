#pragma once
// Token sequences for timing forward passes (profiler, bench_forward): what a model sees in
// real use, as far as cost goes — BOS first when the model's text starts with it, then
// ordinary text pieces only, so that no control, unknown, unused or byte token (whose ids are
// anywhere in a vocabulary, not necessarily 0..2) gets fed in the middle of a sequence.
#include <cstdint>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hsd {

// n tokens: BOS when tok.add_bos_default(), then pseudo-random pieces of type Normal, drawn
// uniformly. The same seed gives the same sequence, and a shorter one is a prefix of a longer
// one. Throws hsd::Error if the vocabulary has no Normal piece.
std::vector<TokenId> synthetic_tokens(const Tokenizer& tok, int64_t n, uint32_t seed);

}  // namespace hsd
