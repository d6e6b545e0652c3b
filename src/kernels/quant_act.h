#pragma once
// Activations quantized to int8 for the integer dot products, once per token and call.
// Both kinds: one F32 scale per 32 values (as Q8_0, with the scale kept in F32), and the sums
// of each 16 values (the offset / min terms); zero-padded to a multiple of 256 columns so
// kernels never need a partial unit. The kinds differ only in the transposed layout. (GGML
// quantizes the activations of the K-quants with one scale per 256 values, Q8_K; one per
// 32 costs a few float multiply-adds per unit and halves the rounding error of activations
// whose magnitudes vary within 256 values: measured on hsd-m1-Q2_K / Q3_K_M against the
// float reference, max |dlogprob| 0.53 -> see docs/ARCHITECTURE.md.)
// A token's quantization depends on that token's values only, never on the batch.
#include <cstdint>
#include <vector>

#include "kernels/quant_unpack.h"
#include "common/simd.h"

namespace hsd::qk {

// With AVX-512 VNNI, units are stored transposed: 64-byte vector k of a legacy unit holds
// bytes 8k .. 8k + 7 of each of its 8 blocks, and of a K unit bytes 4k .. 4k + 3 of each of its
// 16 groups, so that the 4 dpbusd of a unit accumulate in one vector whose lanes each belong
// to one block / group (kernels/quant_dot.cpp); the weights are unpacked the same way.
// Everywhere else units are in column order.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
constexpr bool kLegacyTransposed = true;
#else
constexpr bool kLegacyTransposed = false;
#endif

// Where column c of a unit lies in a transposed unit.
constexpr int transposed_pos(int c) { return 64 * ((c % 32) / 8) + 8 * (c / 32) + c % 8; }
constexpr int transposed16_pos(int c) { return 64 * ((c % 16) / 4) + 4 * (c / 16) + c % 4; }

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// z[j] = blocks 2j, 2j+1 of a unit in column order (4 qwords each) -> z[k] = qword k of
// blocks 0..7.
inline void transpose4(__m512i (&z)[4]) {
    const __m512i i01 = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13), i23 = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i a = _mm512_permutex2var_epi64(z[0], i01, z[1]), b = _mm512_permutex2var_epi64(z[0], i23, z[1]);
    const __m512i c = _mm512_permutex2var_epi64(z[2], i01, z[3]), d = _mm512_permutex2var_epi64(z[2], i23, z[3]);
    z[0] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(1, 0, 1, 0));
    z[1] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(3, 2, 3, 2));
    z[2] = _mm512_shuffle_i64x2(b, d, _MM_SHUFFLE(1, 0, 1, 0));
    z[3] = _mm512_shuffle_i64x2(b, d, _MM_SHUFFLE(3, 2, 3, 2));
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// The same for K units: z[j] = groups 4j .. 4j + 3 (4 dwords each) -> z[k] = dword k of
// groups 0..15.
inline void transpose16(__m512i (&z)[4]) {
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i t[4];  // t[j], 128-bit lane k: dword k of groups 4j .. 4j + 3
    for (int j = 0; j < 4; ++j) t[j] = _mm512_permutexvar_epi32(idx, z[j]);
    const __m512i lo01 = _mm512_shuffle_i64x2(t[0], t[1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i lo23 = _mm512_shuffle_i64x2(t[2], t[3], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i hi01 = _mm512_shuffle_i64x2(t[0], t[1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i hi23 = _mm512_shuffle_i64x2(t[2], t[3], _MM_SHUFFLE(3, 2, 3, 2));
    z[0] = _mm512_shuffle_i64x2(lo01, lo23, _MM_SHUFFLE(2, 0, 2, 0));
    z[1] = _mm512_shuffle_i64x2(lo01, lo23, _MM_SHUFFLE(3, 1, 3, 1));
    z[2] = _mm512_shuffle_i64x2(hi01, hi23, _MM_SHUFFLE(2, 0, 2, 0));
    z[3] = _mm512_shuffle_i64x2(hi01, hi23, _MM_SHUFFLE(3, 1, 3, 1));
}
#endif

inline void transpose16_unit(uint8_t* unit) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
    __m512i z[4];
    for (int k = 0; k < 4; ++k) z[k] = _mm512_loadu_si512(unit + 64 * k);
    transpose16(z);
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(unit + 64 * k, z[k]);
#else
    uint8_t tmp[kUnit];
    for (int c = 0; c < kUnit; ++c) tmp[transposed16_pos(c)] = unit[c];
    for (int c = 0; c < kUnit; ++c) unit[c] = tmp[c];
#endif
}

// Transposes 256 bytes in place (column order -> transposed).
inline void transpose_unit(uint8_t* unit) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
    __m512i z[4];
    for (int k = 0; k < 4; ++k) z[k] = _mm512_loadu_si512(unit + 64 * k);
    transpose4(z);
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(unit + 64 * k, z[k]);
#else
    uint8_t tmp[kUnit];
    for (int c = 0; c < kUnit; ++c) tmp[transposed_pos(c)] = unit[c];
    for (int c = 0; c < kUnit; ++c) unit[c] = tmp[c];
#endif
}

struct QuantActs {
    Kind kind = Kind::Legacy;
    int64_t n = 0, cols = 0, kpad = 0;  // kpad: cols rounded up to 256
    int64_t n_scales = 0;               // per token: kpad / 32
    std::vector<int8_t> q;              // n x kpad, values in [-127, 127]
    std::vector<float> d;               // n x n_scales
    std::vector<int16_t> bsums;         // n x kpad / 16

    const int8_t* qt(int64_t t) const { return q.data() + t * kpad; }
    const float* dt(int64_t t) const { return d.data() + t * n_scales; }
    const int16_t* st(int64_t t) const { return bsums.data() + t * (kpad / 16); }
    // The quantized value of column c of token t, whatever the layout.
    int value(int64_t t, int64_t c) const {
        if (!kLegacyTransposed) return qt(t)[c];
        const int in_unit = (int)(c % kUnit);
        return qt(t)[c - in_unit + (kind == Kind::Legacy ? transposed_pos(in_unit) : transposed16_pos(in_unit))];
    }
};

// Sizes `a` for n tokens (no values yet).
void prepare_acts(Kind kind, int64_t n, int64_t cols, QuantActs& a);
// Quantizes token t (x: its cols values) into a prepared `a`.
void quantize_token(const float* x, int64_t t, QuantActs& a);

}  // namespace hsd::qk
