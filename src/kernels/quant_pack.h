#pragma once
// Quantized matrices repacked at load into a layout where each vector lane is one weight row
// (docs/ARCHITECTURE.md, "Repacked quantized weights").
//
// The file's layout keeps a row's weights together, so an integer kernel on it computes one
// row at a time: a unit of 256 weights is unpacked (nibbles to bytes, bytes transposed into
// the order dpbusd sums, scales converted one by one: ~70% of a Q4_K kernel at n = 1), and each
// block's scale is then applied per (row, token) with a convert and two float operations per
// 4 dot-product instructions. Packed, 16 rows are interleaved 4 bytes at a time, so lane r of
// every vector is row r:
//
//   matrix = row blocks of kPackRows rows (the last padded with zero rows), one after another
//   block  = its units (256 columns), in order; a row's last, partial unit holds only its blocks
//   unit   = [unit header: F16 super-block scales of the 16 rows, K-quants]
//            then per block of 32 columns: [codes][block scales of the 16 rows]
//   codes  = for each 4 columns ("k-step" s of 8): 16 rows x 4 bytes, one 64-byte vector;
//            4-bit codes hold k-steps s and s + 4 in the low and high nibbles of one vector,
//            5th bits as one 64-bit byte mask per k-step, Q6_K's top 2 bits four k-steps to a
//            vector, Q8_0 one vector per k-step
//
// One vpdpbusd multiplies a k-step of 16 rows with 4 activation bytes broadcast, 8 of them make
// a block, and one convert and one multiply-add apply the 16 rows' block scales (a vector) to
// 16 outputs. The codes keep the file's bits and the scales theirs (F16 as F16, 6-bit integers
// as bytes): Q4_0 / Q5_0 / Q6_K / Q8_0 / IQ4_NL / Q4_1 / Q5_1 streams are the file's bytes,
// Q4_K 148 / 144, Q5_K 180 / 176, IQ4_XS 138 / 136 per 256 weights. A thread's rows are one
// sequential stream. Every (row, token) output is one lane accumulated block after block in
// column order with the same operations whatever the batch, its position in it or the thread
// count: bit-identical results (tested). The integer products are the unpacking kernel's, the
// float summation order differs (results within float rounding of it, tested).
#include <cstddef>
#include <cstdint>

#include "kernels/quant_dot.h"

namespace hsd::qk {

constexpr int kPackRows = 16;  // rows per packed row block: one per lane of a 512-bit vector

// Whether this build packs matrices of type t (AVX-512 VNNI builds: every type with an
// integer kernel but Q2_K and Q3_K; elsewhere none, and the unpacking kernels serve).
bool packing_supported(gguf::TensorType t);
// Row blocks of w's packed copy, and its size in bytes.
int64_t packed_row_blocks(const WeightView& w);
size_t packed_size(const WeightView& w);
// Writes row blocks [b0, b1) of w's packed copy into dst (the whole copy's start).
void pack_matrix(const WeightView& w, uint8_t* dst, int64_t b0, int64_t b1);

// As int8_rows (kernels/quant_dot.h) on w.packed; r0 is a multiple of kPackRows.
void packed_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
                 int64_t r1);

}  // namespace hsd::qk
