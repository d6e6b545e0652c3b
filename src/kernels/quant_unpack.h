#pragma once
// Quantized weight rows unpacked 256 weights at a time ("units") into the one form the
// integer dot products of kernels/quant_dot.h take, so each type only needs a decoder:
//
//   K kind (Q2_K, Q3_K, Q6_K), 16 groups g of 16 weights, integer scales:
//       w_j = d * (sc_g * q_j + off_g) + dmin * mn_g
//   (with VNNI also as float group scales: db_g = d * sc_g, mb_g = dmin * mn_g, off_g = off * sc_g)
//   Legacy kind, 8 blocks b of 32 weights, float scales: the 32-blocks of Q4_0 ... Q8_0 and
//   IQ4_NL, and the 32-weight sub-blocks of Q4_K, Q5_K and IQ4_XS (db = d * scale, exact):
//       w_j = db_b * (q_j + off) + mb_b          (off a per-type constant)
// Which kind a K-quant takes is whichever kernel measured faster (bench_quant_kernels).
//
// q is unsigned, in column order, or transposed with VNNI (kernels/quant_act.h). "Wide" types (Q8_0, IQ4_NL, IQ4_XS) store signed value + 128 with
// off = -128: VNNI needs an unsigned operand, while AVX2's maddubs would saturate on codes
// above 127, so the AVX2 kernel flips them back to signed and drops the offset. Either way
// the integer of each block is the same.
#include <cstdint>

#include "gguf/gguf_file.h"

namespace hsd::qk {

constexpr int kUnit = 256;

enum class Kind { Legacy, K };

struct Unit {
    alignas(64) uint8_t q[kUnit];
    alignas(32) int16_t sc[16];
    alignas(32) int16_t off[16];
    alignas(32) int16_t mn[16];
    alignas(64) float db[16];  // legacy: 8 block scales; K with VNNI: d * sc_g, 16 groups
    alignas(64) float mb[16];  // legacy: 8 block mins; K with VNNI: dmin * mn_g
    float d, dmin;
};

struct TypeInfo {
    Kind kind;
    int off;  // legacy: the per-type offset; K: the offset in code units (Q6_K -32, Q3_K -4)
};
// The unpackers themselves (unit u of a row; legacy: its blocks [8u, 8u + nb), the rest
// zeroed) are in kernels/quant_unpack_impl.h, inlined into one kernel per type, whose other
// properties (wide codes, min terms) are template arguments (kernels/quant_dot.cpp).

// nullptr when the type has no integer kernel (F32, F16, BF16).
const TypeInfo* type_info(gguf::TensorType t);

}  // namespace hsd::qk
