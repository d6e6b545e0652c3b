#pragma once
// Decoding of every supported tensor type to F32, bit-exact to the GGML formats: the value
// of each weight is what llama.cpp's and gguf-py's dequantization give, to the last bit.
// This is the one place that knows where the bits of each format are (quant/blocks.h lists
// the layouts); the matmul kernels either call it or are tested against it.
#include <cstdint>

#include "gguf/gguf_file.h"

namespace hsd::quant {

// Decodes n consecutive weights starting at the beginning of `src` (for quantized types, the
// first block; n a multiple of the block size) into dst.
void dequantize_row(gguf::TensorType type, const void* src, float* dst, int64_t n);
// The same with the portable scalar decoders only (the reference the vector paths must equal
// bit for bit; tests check both).
void dequantize_row_scalar(gguf::TensorType type, const void* src, float* dst, int64_t n);

}  // namespace hsd::quant
