#pragma once
// The per-format quantizers behind quant::quantize_row (internal to src/quant). Each takes
// n floats (a multiple of its block size) and writes n / block-size blocks.
#include <cstdint>

#include "quant/blocks.h"

namespace hsd::quant::detail {

// quantize_legacy.cpp: one scale (and min) per 32 values, from the block's extremes.
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);

// quantize_kquants.cpp: searched sub-block scales, themselves quantized per super-block.
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);

// quantize_iq4.cpp: the non-linear 16-level grid.
void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n);
void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n);

}  // namespace hsd::quant::detail
