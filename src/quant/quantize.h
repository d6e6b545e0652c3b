#pragma once
// Quantization of F32 rows into the GGML block formats, with the same algorithms as
// llama.cpp's reference quantizers when no importance matrix is given (scale searches of the
// K-quants, the non-linear grid of IQ4), so that `hsd quantize` gives files of the quality
// users know from llama-quantize, readable by any GGUF reader.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_file.h"

namespace hsd::quant {

// Quantizes n values (a multiple of the type's block size) into dst, which must hold
// gguf::tensor_row_bytes(type, n) bytes. Any supported type, F32/F16/BF16 included; throws
// hsd::Error for other types or a partial block. Blocks are quantized independently, so rows
// (or runs of whole blocks) may be quantized on different threads.
void quantize_row(gguf::TensorType type, const float* src, void* dst, int64_t n);

}  // namespace hsd::quant
