#pragma once
// Load-time check of quantized tensors: a block whose F16 scale (d, dmin or m) is NaN or
// infinite would turn every product it touches into NaN, far from the cause. Finding it at
// load names the tensor and block instead.
#include <cstdint>
#include <optional>
#include <string>

#include "gguf/gguf_file.h"

namespace hsd::quant {

// Scans the n weights starting at `data` (the start of a block; n a multiple of the block
// size; a whole tensor may be passed as one row). Returns nullopt if every block's scales are
// finite, else a message naming the first bad block, its elements and the field, e.g.
// "block 17 (elements 544..575): d is NaN". Types without per-block scales (F32, F16, BF16)
// always pass. Reads 2-4 bytes per block, so it runs at memory speed.
std::optional<std::string> check_row(gguf::TensorType type, const void* data, int64_t n);

}  // namespace hsd::quant
