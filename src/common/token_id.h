#pragma once
// A token's index in a model's vocabulary. Its own header so that folders below the tokenizer
// (sampling, the KV cache users, the speculative levels) can name tokens without the tokenizer.
#include <cstdint>

namespace hsd {

using TokenId = int32_t;

}  // namespace hsd
