#include "quant/dequantize.h"

#include <cstring>
#include <fmt/format.h>

#include "common/error.h"
#include "common/fp16.h"
#include "common/simd.h"
#include "quant/blocks.h"

// Exactness: every weight is computed with GGML's float operations in GGML's order (for
// example Q4_K: d1 = d * sc, m1 = dmin * m, y = d1 * q - m1), and the vector paths do the same
// per lane, so they equal the scalar ones bit for bit. In every format the products are exact
// in float (an 11-bit F16 significand times at most 12 bits of integer scale and quant), so only
// a final add or subtract rounds and FMA contraction could not change a result either; the file
// is still built with -ffp-contract=off (CMakeLists.txt; GCC's C++ default is to fuse) so that
// this holds by construction, not only by that argument.

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define HSD_DEQ_AVX512 1
#endif

namespace hsd::quant {

namespace {

float half(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return f16_to_f32(h);
#endif
}

template <typename B>
const B* blocks_of(const void* src) {
    return static_cast<const B*>(src);
}

// ---- F32 / F16 / BF16 ----------------------------------------------------------------------

void decode_f16(const uint16_t* src, int64_t n, float* dst) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src + i))));
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + i))));
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void decode_bf16(const uint16_t* src, int64_t n, float* dst) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

// ---- scalar reference decoders: one block at a time, GGML's operation order ----------------

void scalar_q4_0(const BlockQ4_0& b, float* y) {
    const float d = half(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = (float)((b.qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((b.qs[j] >> 4) - 8) * d;
    }
}

void scalar_q4_1(const BlockQ4_1& b, float* y) {
    const float d = half(b.d), m = half(b.m);
    for (int j = 0; j < 16; ++j) {
        y[j] = (float)(b.qs[j] & 15) * d + m;
        y[j + 16] = (float)(b.qs[j] >> 4) * d + m;
    }
}

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // x86 and every GGUF producer: little-endian
}

void scalar_q5_0(const BlockQ5_0& b, float* y) {
    const float d = half(b.d);
    const uint32_t qh = load_u32(b.qh);
    for (int j = 0; j < 16; ++j) {
        const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)(((b.qs[j] & 15) | h0) - 16) * d;
        y[j + 16] = (float)(((b.qs[j] >> 4) | h1) - 16) * d;
    }
}

void scalar_q5_1(const BlockQ5_1& b, float* y) {
    const float d = half(b.d), m = half(b.m);
    const uint32_t qh = load_u32(b.qh);
    for (int j = 0; j < 16; ++j) {
        const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)((b.qs[j] & 15) | h0) * d + m;
        y[j + 16] = (float)((b.qs[j] >> 4) | h1) * d + m;
    }
}

void scalar_q8_0(const BlockQ8_0& b, float* y) {
    const float d = half(b.d);
    for (int j = 0; j < 32; ++j) y[j] = (float)b.qs[j] * d;
}

void scalar_iq4_nl(const BlockIQ4_NL& b, float* y) {
    const float d = half(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = d * (float)kIq4nlValues[b.qs[j] & 15];
        y[j + 16] = d * (float)kIq4nlValues[b.qs[j] >> 4];
    }
}

// Q2_K: 2-bit q; weights 32*g + 16*h + l (g < 8, h < 2) use bits 2*(g%4) of qs[32*(g/4) + 16*h + l]
// and the scale byte 2*g + h.
void scalar_q2_k(const BlockQ2_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* q = b.qs;
    int is = 0;
    for (int n = 0; n < kSuperBlock; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int h = 0; h < 2; ++h) {
                const uint8_t sc = b.scales[is++];
                const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * (float)((q[l + 16 * h] >> shift) & 3) - ml;
            }
        }
    }
}

// The 6-bit scale i (0..15) of Q3_K: low 4 bits in bytes 0..7 (low nibbles first), high 2 bits
// in bytes 8..11, two per byte-position group.
int q3_k_scale(const uint8_t* s, int i) {
    const int lo = i < 8 ? (s[i] & 15) : (s[i - 8] >> 4);
    const int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

// Q3_K: as Q2_K for the low 2 bits; the third bit of weight 32*g + k is bit g of hmask[k],
// and when it is clear the value is lowered by 4.
void scalar_q3_k(const BlockQ3_K& b, float* y) {
    const float d = half(b.d);
    const uint8_t* q = b.qs;
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < kSuperBlock; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
            for (int h = 0; h < 2; ++h) {
                const float dl = d * (float)q3_k_scale(b.scales, is++);
                for (int l = 16 * h; l < 16 * h + 16; ++l)
                    *y++ = dl * (float)(((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4));
            }
        }
    }
}

// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K.
void k4_scale_min(const uint8_t* s, int j, int& sc, int& mn) {
    if (j < 4) {
        sc = s[j] & 63;
        mn = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q4_K: 64 weights per 32 bytes of qs, low nibbles first (sub-block 2i), then high (2i+1).
void scalar_q4_k(const BlockQ4_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* q = b.qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int sc, mn;
        k4_scale_min(b.scales, j, sc, mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(b.scales, j + 1, sc, mn);
        const float d2 = d * (float)sc, m2 = dmin * (float)mn;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (float)(q[l] & 15) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

// Q5_K: Q4_K plus a fifth bit: bit j of qh[l] for weight 32*j + l.
void scalar_q5_k(const BlockQ5_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* q = b.qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int sc, mn;
        k4_scale_min(b.scales, j, sc, mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(b.scales, j + 1, sc, mn);
        const float d2 = d * (float)sc, m2 = dmin * (float)mn;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (float)((q[l] & 15) + ((b.qh[l] >> j) & 1) * 16) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (float)((q[l] >> 4) + ((b.qh[l] >> (j + 1)) & 1) * 16) - m2;
    }
}

// Q6_K: per half (128 weights): 64 bytes of ql (low nibbles: weights 0..63, high: 64..127),
// 32 bytes of qh (2 bits each for the four 32-weight quarters), 8 scales; y = d * sc * (q - 32).
void scalar_q6_k(const BlockQ6_K& b, float* y) {
    const float d = half(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n = 0; n < kSuperBlock; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

int iq4_xs_scale(const BlockIQ4_XS& b, int ib) {
    return (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((b.scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

void scalar_iq4_xs(const BlockIQ4_XS& b, float* y) {
    const float d = half(b.d);
    for (int ib = 0; ib < 8; ++ib, y += 32) {
        const float dl = d * (float)iq4_xs_scale(b, ib);
        const uint8_t* qs = b.qs + 16 * ib;
        for (int j = 0; j < 16; ++j) {
            y[j] = dl * (float)kIq4nlValues[qs[j] & 15];
            y[j + 16] = dl * (float)kIq4nlValues[qs[j] >> 4];
        }
    }
}

template <typename B, int N>
void run_blocks(void (*f)(const B&, float*), const void* src, float* dst, int64_t n) {
    const B* b = blocks_of<B>(src);
    for (int64_t i = 0; i < n / N; ++i) f(b[i], dst + i * N);
}

// ---- AVX-512 decoders (same lane-wise operations as the scalar ones) -------------------------

#if defined(HSD_DEQ_AVX512)

// 16 bytes -> 16 floats, as unsigned integers.
inline __m512 u8_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }
inline __m128i lo_nibbles(__m128i v) { return _mm_and_si128(v, _mm_set1_epi8(15)); }
inline __m128i hi_nibbles(__m128i v) { return _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)); }
inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128((const __m128i*)p); }

void avx512_q4_0(const BlockQ4_0& b, float* y) {
    const __m512 d = _mm512_set1_ps(half(b.d));
    const __m128i q = load16(b.qs), eight = _mm_set1_epi8(8);
    // (q - 8) as int8, then sign-extended: the same integer the scalar code converts.
    const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(lo_nibbles(q), eight)));
    const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(hi_nibbles(q), eight)));
    _mm512_storeu_ps(y, _mm512_mul_ps(lo, d));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(hi, d));
}

void avx512_q8_0(const BlockQ8_0& b, float* y) {
    const __m512 d = _mm512_set1_ps(half(b.d));
    for (int j = 0; j < 32; j += 16) {
        const __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(b.qs + j)));
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_cvtepi32_ps(v), d));
    }
}

inline void store_affine(float* y, __m128i q, float d1, float m1) {
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d1), u8_to_ps(q)), _mm512_set1_ps(m1)));
}

// q * d + m for the unsigned 4/5-bit types (Q4_1, Q5_1).
inline void store_offset(float* y, __m128i q, __m512 d, __m512 m) {
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(u8_to_ps(q), d), m));
}

// The 16 low and 16 high nibbles with their fifth bits (bits 0..15 and 16..31 of qh) added.
inline void five_bits(const uint8_t* qs, const uint8_t* qh, __m128i& lo, __m128i& hi) {
    const uint32_t h = load_u32(qh);
    const __m128i q = load16(qs), sixteen = _mm_set1_epi8(16);
    lo = _mm_mask_add_epi8(lo_nibbles(q), (__mmask16)(h & 0xffff), lo_nibbles(q), sixteen);
    hi = _mm_mask_add_epi8(hi_nibbles(q), (__mmask16)(h >> 16), hi_nibbles(q), sixteen);
}

void avx512_q4_1(const BlockQ4_1& b, float* y) {
    const __m512 d = _mm512_set1_ps(half(b.d)), m = _mm512_set1_ps(half(b.m));
    const __m128i q = load16(b.qs);
    store_offset(y, lo_nibbles(q), d, m);
    store_offset(y + 16, hi_nibbles(q), d, m);
}

void avx512_q5_0(const BlockQ5_0& b, float* y) {
    const __m512 d = _mm512_set1_ps(half(b.d));
    __m128i lo, hi;
    five_bits(b.qs, b.qh, lo, hi);
    const __m128i k16 = _mm_set1_epi8(16);
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(lo, k16))), d));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(hi, k16))), d));
}

void avx512_q5_1(const BlockQ5_1& b, float* y) {
    const __m512 d = _mm512_set1_ps(half(b.d)), m = _mm512_set1_ps(half(b.m));
    __m128i lo, hi;
    five_bits(b.qs, b.qh, lo, hi);
    store_offset(y, lo, d, m);
    store_offset(y + 16, hi, d, m);
}

// Bits [shift, shift + 2) of 16 bytes.
inline __m128i two_bits(__m128i v, int shift) {
    return _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(shift)), _mm_set1_epi8(3));
}

void avx512_q2_k(const BlockQ2_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* sc = b.scales;
    for (int n = 0; n < kSuperBlock; n += 128) {
        const __m128i q0 = load16(b.qs + n / 4), q1 = load16(b.qs + n / 4 + 16);
        for (int shift = 0; shift < 8; shift += 2, sc += 2, y += 32) {
            store_affine(y, two_bits(q0, shift), d * (float)(sc[0] & 15), dmin * (float)(sc[0] >> 4));
            store_affine(y + 16, two_bits(q1, shift), d * (float)(sc[1] & 15), dmin * (float)(sc[1] >> 4));
        }
    }
}

void avx512_q3_k(const BlockQ3_K& b, float* y) {
    const float d = half(b.d);
    const __m128i h0 = load16(b.hmask), h1 = load16(b.hmask + 16), four = _mm_set1_epi8(4);
    int is = 0, g = 0;
    for (int n = 0; n < kSuperBlock; n += 128) {
        const __m128i q0 = load16(b.qs + n / 4), q1 = load16(b.qs + n / 4 + 16);
        for (int shift = 0; shift < 8; shift += 2, ++g) {
            const __m128i m = _mm_set1_epi8((char)(1 << g));
            // Low two bits, minus 4 where the high bit is clear: -4..3 as int8.
            const __m128i lo0 = two_bits(q0, shift), lo1 = two_bits(q1, shift);
            const __m128i a = _mm_mask_sub_epi8(lo0, _mm_testn_epi8_mask(h0, m), lo0, four);
            const __m128i c = _mm_mask_sub_epi8(lo1, _mm_testn_epi8_mask(h1, m), lo1, four);
            const __m512 da = _mm512_set1_ps(d * (float)q3_k_scale(b.scales, is++));
            const __m512 dc = _mm512_set1_ps(d * (float)q3_k_scale(b.scales, is++));
            _mm512_storeu_ps(y, _mm512_mul_ps(da, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(a))));
            _mm512_storeu_ps(y + 16, _mm512_mul_ps(dc, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(c))));
            y += 32;
        }
    }
}

void avx512_q4_k(const BlockQ4_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* q = b.qs;
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
        int sc, mn;
        k4_scale_min(b.scales, j, sc, mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(b.scales, j + 1, sc, mn);
        const float d2 = d * (float)sc, m2 = dmin * (float)mn;
        const __m128i a = load16(q), c = load16(q + 16);
        store_affine(y, lo_nibbles(a), d1, m1);
        store_affine(y + 16, lo_nibbles(c), d1, m1);
        store_affine(y + 32, hi_nibbles(a), d2, m2);
        store_affine(y + 48, hi_nibbles(c), d2, m2);
    }
}

void avx512_q5_k(const BlockQ5_K& b, float* y) {
    const float d = half(b.d), dmin = half(b.dmin);
    const uint8_t* q = b.qs;
    const __m128i h0 = load16(b.qh), h1 = load16(b.qh + 16), sixteen = _mm_set1_epi8(16);
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
        int sc, mn;
        k4_scale_min(b.scales, j, sc, mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(b.scales, j + 1, sc, mn);
        const float d2 = d * (float)sc, m2 = dmin * (float)mn;
        const __m128i a = load16(q), c = load16(q + 16);
        const __m128i ma = _mm_set1_epi8((char)(1 << j)), mb = _mm_set1_epi8((char)(2 << j));
        // Adds 16 where the fifth bit is set.
        store_affine(y, _mm_mask_add_epi8(lo_nibbles(a), _mm_test_epi8_mask(h0, ma), lo_nibbles(a), sixteen), d1, m1);
        store_affine(y + 16, _mm_mask_add_epi8(lo_nibbles(c), _mm_test_epi8_mask(h1, ma), lo_nibbles(c), sixteen), d1,
                     m1);
        store_affine(y + 32, _mm_mask_add_epi8(hi_nibbles(a), _mm_test_epi8_mask(h0, mb), hi_nibbles(a), sixteen), d2,
                     m2);
        store_affine(y + 48, _mm_mask_add_epi8(hi_nibbles(c), _mm_test_epi8_mask(h1, mb), hi_nibbles(c), sixteen), d2,
                     m2);
    }
}

// (q - 32) as signed int for 16 six-bit values, times (d * sc) computed as in the scalar code.
inline void store_q6(float* y, __m128i q6, float d, int8_t sc) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(q6, _mm_set1_epi8(32))));
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc), v));
}

void avx512_q6_k(const BlockQ6_K& b, float* y) {
    const float d = half(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    const __m128i m30 = _mm_set1_epi8(0x30);
    for (int n = 0; n < kSuperBlock; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l += 16) {
            const int is = l / 16;
            const __m128i a = load16(ql + l), c = load16(ql + l + 32), h = load16(qh + l);
            const __m128i q1 = _mm_or_si128(lo_nibbles(a), _mm_and_si128(_mm_slli_epi16(h, 4), m30));
            const __m128i q2 = _mm_or_si128(lo_nibbles(c), _mm_and_si128(_mm_slli_epi16(h, 2), m30));
            const __m128i q3 = _mm_or_si128(hi_nibbles(a), _mm_and_si128(h, m30));
            const __m128i q4 = _mm_or_si128(hi_nibbles(c), _mm_and_si128(_mm_srli_epi16(h, 2), m30));
            store_q6(y + l, q1, d, sc[is]);
            store_q6(y + l + 32, q2, d, sc[is + 2]);
            store_q6(y + l + 64, q3, d, sc[is + 4]);
            store_q6(y + l + 96, q4, d, sc[is + 6]);
        }
    }
}

// The IQ4 levels as floats, looked up 16 at a time by nibble.
inline __m512 iq4_table() {
    alignas(64) static const float t[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return _mm512_load_ps(t);
}

inline void store_iq4(float* y, __m512 table, __m128i qs, float dl) {
    const __m512 vd = _mm512_set1_ps(dl);
    const __m512 lo = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(lo_nibbles(qs)), table);
    const __m512 hi = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(hi_nibbles(qs)), table);
    _mm512_storeu_ps(y, _mm512_mul_ps(vd, lo));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(vd, hi));
}

void avx512_iq4_nl(const BlockIQ4_NL& b, float* y) { store_iq4(y, iq4_table(), load16(b.qs), half(b.d)); }

void avx512_iq4_xs(const BlockIQ4_XS& b, float* y) {
    const __m512 table = iq4_table();
    const float d = half(b.d);
    for (int ib = 0; ib < 8; ++ib)
        store_iq4(y + 32 * ib, table, load16(b.qs + 16 * ib), d * (float)iq4_xs_scale(b, ib));
}

#endif  // HSD_DEQ_AVX512

// The vector decoder where this build has one, else the scalar one.
#if defined(HSD_DEQ_AVX512)
#define HSD_PICK(name) (fast ? avx512_##name : scalar_##name)
#else
#define HSD_PICK(name) scalar_##name
#endif

using TT = gguf::TensorType;

bool dequantize_quant(TT type, const void* src, float* dst, int64_t n, [[maybe_unused]] bool fast) {
    switch (type) {
        case TT::Q4_0: run_blocks<BlockQ4_0, kBlock>(HSD_PICK(q4_0), src, dst, n); return true;
        case TT::Q4_1: run_blocks<BlockQ4_1, kBlock>(HSD_PICK(q4_1), src, dst, n); return true;
        case TT::Q5_0: run_blocks<BlockQ5_0, kBlock>(HSD_PICK(q5_0), src, dst, n); return true;
        case TT::Q5_1: run_blocks<BlockQ5_1, kBlock>(HSD_PICK(q5_1), src, dst, n); return true;
        case TT::Q8_0: run_blocks<BlockQ8_0, kBlock>(HSD_PICK(q8_0), src, dst, n); return true;
        case TT::IQ4_NL: run_blocks<BlockIQ4_NL, kBlock>(HSD_PICK(iq4_nl), src, dst, n); return true;
        case TT::Q2_K: run_blocks<BlockQ2_K, kSuperBlock>(HSD_PICK(q2_k), src, dst, n); return true;
        case TT::Q3_K: run_blocks<BlockQ3_K, kSuperBlock>(HSD_PICK(q3_k), src, dst, n); return true;
        case TT::Q4_K: run_blocks<BlockQ4_K, kSuperBlock>(HSD_PICK(q4_k), src, dst, n); return true;
        case TT::Q5_K: run_blocks<BlockQ5_K, kSuperBlock>(HSD_PICK(q5_k), src, dst, n); return true;
        case TT::Q6_K: run_blocks<BlockQ6_K, kSuperBlock>(HSD_PICK(q6_k), src, dst, n); return true;
        case TT::IQ4_XS: run_blocks<BlockIQ4_XS, kSuperBlock>(HSD_PICK(iq4_xs), src, dst, n); return true;
        default: return false;
    }
}
#undef HSD_PICK

[[noreturn]] void unsupported(TT type) {
    fail(fmt::format("dequantize_row: tensor type {} is not implemented", gguf::tensor_type_name(type)));
}

}  // namespace

void dequantize_row(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case TT::F32: std::memcpy(dst, src, (size_t)n * sizeof(float)); return;
        case TT::F16: decode_f16(static_cast<const uint16_t*>(src), n, dst); return;
        case TT::BF16: decode_bf16(static_cast<const uint16_t*>(src), n, dst); return;
        default: break;
    }
    if (!dequantize_quant(type, src, dst, n, true)) unsupported(type);
}

void dequantize_row_scalar(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    if (type == TT::F32 || type == TT::F16 || type == TT::BF16) return dequantize_row(type, src, dst, n);
    if (!dequantize_quant(type, src, dst, n, false)) unsupported(type);
}

}  // namespace hsd::quant
