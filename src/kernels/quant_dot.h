#pragma once
// Integer dot products of quantized weight rows (kernels/quant_unpack.h) with int8
// activations (kernels/quant_act.h): each unit (256 weights) of kRowBlock weight rows is
// unpacked once and multiplied with up to 16 tokens; more tokens take more passes. Per
// (row, token) the operations are always the same, in the same order (one accumulator, one
// horizontal sum at the end), so a token's result does not depend on the batch, its place
// in it, the row blocking or the thread count.
// AVX-512 VNNI (dpbusd on transposed units: one lane per block / group, no reduction inside
// a unit), AVX2 (maddubs / madd) and scalar kernels compute the same exact integer dot
// product per block of 32 (legacy) or group of 16 (K); they differ in how the scales are
// applied and in the order of the float accumulation.
#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/quant_act.h"

namespace hsd::qk {

constexpr int kRowBlock = 8;    // weight rows unpacked together
constexpr int kTokBlock = 16;   // tokens per pass over the weights

// y[t * ldy + r] for all tokens of `a` and rows [r0, r1) of w (a.cols == w.cols). A matrix
// repacked at load (w.packed) goes to kernels/quant_pack.h's kernel, with the same results;
// r0 must then be a multiple of kPackRows.
void int8_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
               int64_t r1);

// Which kernel this build uses: "avx512-vnni", "avx2" or "scalar".
const char* int8_isa();

}  // namespace hsd::qk
