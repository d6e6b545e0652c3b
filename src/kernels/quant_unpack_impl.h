#pragma once
// The per-type unpackers behind qk::type_info (kernels/quant_unpack.h), in a header so that
// the kernels (kernels/quant_dot.cpp) can inline them into a kernel per type.
#include <cstring>

#include "common/fp16.h"
#include "kernels/quant_act.h"
#include "kernels/quant_unpack.h"
#include "common/simd.h"
#include "quant/blocks.h"

namespace hsd::qk::unpack {

using namespace hsd::quant;

// F16 scale fields: one instruction with F16C instead of the portable bit manipulation.
inline float half(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return f16_to_f32(h);
#endif
}

// off_g = -(sc_g << shift), from the stored sc, in one store.
inline void offsets(Unit& o, int shift) {
#if defined(__AVX2__)
    const __m256i sc = _mm256_load_si256((const __m256i*)o.sc);
    _mm256_store_si256((__m256i*)o.off, _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, shift)));
#else
    for (int g = 0; g < 16; ++g) o.off[g] = (int16_t)(-(o.sc[g] * (1 << shift)));
#endif
}

// 8 per-sub-block integer scales (bytes, less `bias`) times a float -> the 8 block scales of a
// unit in one 256-bit store. The products are exact: an F16 value times a 6-bit integer.
inline void block_floats(uint64_t v, int bias, float mult, float* dst) {
#if defined(__AVX2__)
    const __m256i w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)), _mm256_set1_epi32(bias));
    _mm256_store_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(w), _mm256_set1_ps(mult)));
#else
    for (int j = 0; j < 8; ++j) dst[j] = (float)((int)((v >> (8 * j)) & 0xff) - bias) * mult;
#endif
}

#if defined(__AVX2__)
// 64 codes as two 32-byte halves, stored as the kernels load them: a load that several
// narrower stores wrote cannot be forwarded from the store buffer (a long stall).
inline void store64(uint8_t* dst, __m256i lo, __m256i hi) {
#if defined(__AVX512BW__)
    _mm512_store_si512(dst, _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1));
#else
    _mm256_store_si256((__m256i*)dst, lo);
    _mm256_store_si256((__m256i*)(dst + 32), hi);
#endif
}

// 0x10 in byte j where bit j of the 32-bit h is set.
inline __m256i bits_to_16(uint32_t h) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                                                2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}
#endif

#if defined(__AVX512BW__)
// Two 16-byte nibble blocks A, B -> [low(A), high(A), low(B), high(B)] in one zmm.
inline __m512i nibble_pairs(__m128i a, __m128i b) {
    const __m256i v = _mm256_set_m128i(b, a), m = _mm256_set1_epi8(0xF);
    const __m512i z = _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_and_si256(v, m)),
                                         _mm256_and_si256(_mm256_srli_epi16(v, 4), m), 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}
// Legacy block scales of a whole unit in one 256-bit store.
template <class B>
inline void block_scales(const B* b, float* dst) {
    const __m128i h = _mm_setr_epi16((short)b[0].d, (short)b[1].d, (short)b[2].d, (short)b[3].d, (short)b[4].d,
                                     (short)b[5].d, (short)b[6].d, (short)b[7].d);
    _mm256_store_ps(dst, _mm256_cvtph_ps(h));
}
#endif

// ---- byte helpers: scalar, with AVX2 versions where the unpacking is on the hot path -------

// 16 bytes of packed nibbles -> 32 codes: low nibbles first, then high nibbles.
inline void nibbles16(const uint8_t* src, uint8_t* dst) {
#if defined(__AVX2__)
    const __m128i v = _mm_loadu_si128((const __m128i*)src), m = _mm_set1_epi8(0xF);
    _mm_storeu_si128((__m128i*)dst, _mm_and_si128(v, m));
    _mm_storeu_si128((__m128i*)(dst + 16), _mm_and_si128(_mm_srli_epi16(v, 4), m));
#else
    for (int j = 0; j < 16; ++j) dst[j] = src[j] & 15, dst[j + 16] = src[j] >> 4;
#endif
}

// 32 bytes of packed nibbles -> 64 codes (Q4_K/Q5_K chunk order).
inline void nibbles32(const uint8_t* src, uint8_t* dst) {
#if defined(__AVX512BW__)
    const __m256i v = _mm256_loadu_si256((const __m256i*)src);
    const __m512i z = _mm512_inserti64x4(_mm512_zextsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
    _mm512_store_si512(dst, _mm512_and_si512(z, _mm512_set1_epi8(0xF)));
#elif defined(__AVX2__)
    const __m256i v = _mm256_loadu_si256((const __m256i*)src), m = _mm256_set1_epi8(0xF);
    _mm256_store_si256((__m256i*)dst, _mm256_and_si256(v, m));
    _mm256_store_si256((__m256i*)(dst + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), m));
#else
    for (int j = 0; j < 32; ++j) dst[j] = src[j] & 15, dst[j + 32] = src[j] >> 4;
#endif
}

// The IQ4 levels + 128, as unsigned codes.
constexpr uint8_t iq4_code(int i) { return (uint8_t)(kIq4nlValues[i] + 128); }

#if defined(__AVX2__)
inline __m128i iq4_lut128() {
    return _mm_setr_epi8((char)iq4_code(0), (char)iq4_code(1), (char)iq4_code(2), (char)iq4_code(3),
                         (char)iq4_code(4), (char)iq4_code(5), (char)iq4_code(6), (char)iq4_code(7),
                         (char)iq4_code(8), (char)iq4_code(9), (char)iq4_code(10), (char)iq4_code(11),
                         (char)iq4_code(12), (char)iq4_code(13), (char)iq4_code(14), (char)iq4_code(15));
}
#endif
#if defined(__AVX512BW__)
inline __m512i iq4_lut() { return _mm512_broadcast_i32x4(iq4_lut128()); }
#endif

// 16 bytes of IQ4 nibbles -> 32 level codes.
inline void iq4_16(const uint8_t* src, uint8_t* dst) {
#if defined(__AVX2__)
    const __m128i lut = iq4_lut128();
    const __m128i v = _mm_loadu_si128((const __m128i*)src), m = _mm_set1_epi8(0xF);
    _mm_storeu_si128((__m128i*)dst, _mm_shuffle_epi8(lut, _mm_and_si128(v, m)));
    _mm_storeu_si128((__m128i*)(dst + 16), _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(v, 4), m)));
#else
    for (int j = 0; j < 16; ++j) dst[j] = iq4_code(src[j] & 15), dst[j + 16] = iq4_code(src[j] >> 4);
#endif
}

// Legacy units: blocks past nb are zero (weights and scales), so they add exact zeros.
inline void zero_tail(int nb, Unit& u) {
    if (nb < 8) std::memset(u.q + nb * kBlock, 0, (size_t)(8 - nb) * kBlock);
    for (int b = nb; b < 8; ++b) u.db[b] = u.mb[b] = 0;
}

// Legacy units end in the layout the kernels take (kernels/quant_act.h): transposed with
// AVX-512 VNNI. store_unit does it in registers; finish_legacy in memory, for the paths
// that wrote the codes piecewise.
#if defined(__AVX512BW__)
inline void store_unit(uint8_t* q, __m512i (&z)[4]) {
#if defined(__AVX512VNNI__)
    transpose4(z);
#endif
    for (int k = 0; k < 4; ++k) _mm512_store_si512(q + 64 * k, z[k]);
}
// K units likewise (VNNI: transposed by groups of 16).
inline void store_unit16(uint8_t* q, __m512i (&z)[4]) {
#if defined(__AVX512VNNI__)
    transpose16(z);
#endif
    for (int k = 0; k < 4; ++k) _mm512_store_si512(q + 64 * k, z[k]);
}
#endif
inline void finish_legacy(Unit& o) {
    if (kLegacyTransposed) transpose_unit(o.q);
}

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define HSD_K_FLOATS 1
// K units with VNNI: float scales per group, 16 integer scales (bytes) times an F16 value:
// exact. The kernel that sums each group in one lane applies them (kernels/quant_dot.cpp).
template <bool Signed>
inline void group_floats(__m128i bytes, float mult, float* dst) {
    const __m512i v = Signed ? _mm512_cvtepi8_epi32(bytes) : _mm512_cvtepu8_epi32(bytes);
    _mm512_store_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(mult)));
}
#endif

template <class B>
inline const B* blocks(const uint8_t* row, int64_t u) {
    return reinterpret_cast<const B*>(row) + u * 8;
}

inline void unpack_q4_0(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockQ4_0* b = blocks<BlockQ4_0>(row, u);
#if defined(__AVX512BW__)
    if (nb == 8) {
        __m512i z[4];
        for (int i = 0; i < 4; ++i)
            z[i] = nibble_pairs(_mm_loadu_si128((const __m128i*)b[2 * i].qs), _mm_loadu_si128((const __m128i*)b[2 * i + 1].qs));
        store_unit(o.q, z);
        block_scales(b, o.db);
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) nibbles16(b[i].qs, o.q + i * kBlock), o.db[i] = half(b[i].d);
    zero_tail(nb, o);
    finish_legacy(o);
}

inline void unpack_q4_1(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockQ4_1* b = blocks<BlockQ4_1>(row, u);
#if defined(__AVX512BW__)
    if (nb == 8) {
        __m512i z[4];
        for (int i = 0; i < 4; ++i)
            z[i] = nibble_pairs(_mm_loadu_si128((const __m128i*)b[2 * i].qs), _mm_loadu_si128((const __m128i*)b[2 * i + 1].qs));
        store_unit(o.q, z);
        block_scales(b, o.db);
        const __m128i m = _mm_setr_epi16((short)b[0].m, (short)b[1].m, (short)b[2].m, (short)b[3].m, (short)b[4].m,
                                         (short)b[5].m, (short)b[6].m, (short)b[7].m);
        _mm256_store_ps(o.mb, _mm256_cvtph_ps(m));
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) {
        nibbles16(b[i].qs, o.q + i * kBlock);
        o.db[i] = half(b[i].d), o.mb[i] = half(b[i].m);
    }
    zero_tail(nb, o);
    finish_legacy(o);
}

// Fifth bits of Q5_0/Q5_1: bit j of the little-endian qh is weight j's.
inline uint32_t qh32(const uint8_t* qh) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    return h;
}
inline void fifth_bits(const uint8_t* qh, uint8_t* q) {
#if defined(__AVX2__)
    const __m256i v = _mm256_loadu_si256((const __m256i*)q);
    _mm256_storeu_si256((__m256i*)q, _mm256_or_si256(v, bits_to_16(qh32(qh))));
#else
    const uint32_t h = qh32(qh);
    for (int j = 0; j < 32; ++j) q[j] |= (uint8_t)(((h >> j) & 1) << 4);
#endif
}

// Q5_0/Q5_1: two blocks per store, the fifth bits (bit j of qh = weight j) as a byte mask.
template <class B>
inline bool q5_pairs(const B* b, int nb, Unit& o) {
#if defined(__AVX512BW__)
    if (nb != 8) return false;
    __m512i z[4];
    for (int i = 0; i < 4; ++i) {
        const __m512i v = nibble_pairs(_mm_loadu_si128((const __m128i*)b[2 * i].qs), _mm_loadu_si128((const __m128i*)b[2 * i + 1].qs));
        const __mmask64 h = (__mmask64)qh32(b[2 * i].qh) | (__mmask64)qh32(b[2 * i + 1].qh) << 32;
        z[i] = _mm512_mask_add_epi8(v, h, v, _mm512_set1_epi8(16));
    }
    store_unit(o.q, z);
    return true;
#else
    (void)b, (void)nb, (void)o;
    return false;
#endif
}

// A row's last, partial unit copied in front of zero blocks (zero scales: they add exact
// zeros, as zero_tail's do, so the result is the same bit for bit), for the whole-unit path
// to run on. For Q5_0/Q5_1 the per-block path's fifth-bit scatter made rows of 448 (1 unit +
// 6 blocks) cost 30-33 ns per 256 weights, against 17-20 ns this way (bench_quant_kernels
// --compute --cols 448); the other types' per-block paths are as fast as the copy (measured).
template <class B>
inline const B* padded_unit(const B* b, int nb, B (&tmp)[8]) {
    std::memset(tmp, 0, sizeof tmp);
    std::memcpy(tmp, b, (size_t)nb * sizeof(B));
    return tmp;
}

inline void unpack_q5_0(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockQ5_0* b = blocks<BlockQ5_0>(row, u);
#if defined(__AVX512BW__)
    BlockQ5_0 tmp[8];
    if (nb < 8) b = padded_unit(b, nb, tmp), nb = 8;
    if (q5_pairs(b, nb, o)) {
        block_scales(b, o.db);
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) {
        nibbles16(b[i].qs, o.q + i * kBlock);
        fifth_bits(b[i].qh, o.q + i * kBlock);
        o.db[i] = half(b[i].d);
    }
    zero_tail(nb, o);
    finish_legacy(o);
}

inline void unpack_q5_1(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockQ5_1* b = blocks<BlockQ5_1>(row, u);
#if defined(__AVX512BW__)
    BlockQ5_1 tmp[8];
    if (nb < 8) b = padded_unit(b, nb, tmp), nb = 8;
    if (q5_pairs(b, nb, o)) {
        block_scales(b, o.db);
        const __m128i m = _mm_setr_epi16((short)b[0].m, (short)b[1].m, (short)b[2].m, (short)b[3].m, (short)b[4].m,
                                         (short)b[5].m, (short)b[6].m, (short)b[7].m);
        _mm256_store_ps(o.mb, _mm256_cvtph_ps(m));
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) {
        nibbles16(b[i].qs, o.q + i * kBlock);
        fifth_bits(b[i].qh, o.q + i * kBlock);
        o.db[i] = half(b[i].d), o.mb[i] = half(b[i].m);
    }
    zero_tail(nb, o);
    finish_legacy(o);
}

inline void unpack_q8_0(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockQ8_0* b = blocks<BlockQ8_0>(row, u);
#if defined(__AVX512BW__)
    if (nb == 8) {
        __m512i z[4];
        for (int i = 0; i < 4; ++i) {
            const __m512i v = _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)b[2 * i].qs)),
                                                 _mm256_loadu_si256((const __m256i*)b[2 * i + 1].qs), 1);
            z[i] = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
        }
        store_unit(o.q, z);
        block_scales(b, o.db);
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) {
#if defined(__AVX2__)
        const __m256i v = _mm256_loadu_si256((const __m256i*)b[i].qs);
        _mm256_store_si256((__m256i*)(o.q + i * kBlock), _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)));
#else
        for (int j = 0; j < kBlock; ++j) o.q[i * kBlock + j] = (uint8_t)(b[i].qs[j] + 128);
#endif
        o.db[i] = half(b[i].d);
    }
    zero_tail(nb, o);
    finish_legacy(o);
}

inline void unpack_iq4_nl(const uint8_t* row, int64_t u, int nb, Unit& o) {
    const BlockIQ4_NL* b = blocks<BlockIQ4_NL>(row, u);
#if defined(__AVX512BW__)
    if (nb == 8) {
        const __m512i lut = iq4_lut();
        __m512i z[4];
        for (int i = 0; i < 4; ++i)
            z[i] = _mm512_shuffle_epi8(lut, nibble_pairs(_mm_loadu_si128((const __m128i*)b[2 * i].qs),
                                                         _mm_loadu_si128((const __m128i*)b[2 * i + 1].qs)));
        store_unit(o.q, z);
        block_scales(b, o.db);
        return;
    }
#endif
    for (int i = 0; i < nb; ++i) iq4_16(b[i].qs, o.q + i * kBlock), o.db[i] = half(b[i].d);
    zero_tail(nb, o);
    finish_legacy(o);
}

// ---- K-quants: one super-block per unit ---------------------------------------------------

// The 6-bit scales and mins of the 8 sub-blocks of Q4_K/Q5_K, all at once: bytes 0-3 hold
// scales 0-3 (low 6 bits), 4-7 mins 0-3; scale/min 4-7 take their low 4 bits from the
// nibbles of bytes 8-11 and their high 2 bits from the top bits of bytes 0-3 / 4-7.
inline void k4_scale_bytes(const uint8_t* s, uint64_t& sc, uint64_t& mn) {
    uint32_t u0, u1, u2;
    std::memcpy(&u0, s, 4), std::memcpy(&u1, s + 4, 4), std::memcpy(&u2, s + 8, 4);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    sc = (uint64_t)(u0 & m6) | (uint64_t)((u2 & m4) | (((u0 >> 6) & m2) << 4)) << 32;
    mn = (uint64_t)(u1 & m6) | (uint64_t)(((u2 >> 4) & m4) | (((u1 >> 6) & m2) << 4)) << 32;
}

// Their sub-blocks are 32 weights, so they unpack as legacy blocks: db = d * scale,
// mb = -dmin * min.
inline void k4_block_scales(const uint8_t* s, uint16_t d, uint16_t dmin, Unit& o) {
    uint64_t sc, mn;
    k4_scale_bytes(s, sc, mn);
    block_floats(sc, 0, half(d), o.db), block_floats(mn, 0, -half(dmin), o.mb);
}

// Q4_K as legacy blocks (its sub-blocks are 32 weights).
inline void unpack_q4_k(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockQ4_K& b = reinterpret_cast<const BlockQ4_K*>(row)[u];
#if defined(__AVX512BW__)
    __m512i z[4];
    for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * c));
        z[c] = _mm512_and_si512(_mm512_inserti64x4(_mm512_zextsi256_si512(v), _mm256_srli_epi16(v, 4), 1),
                                _mm512_set1_epi8(0xF));
    }
    store_unit(o.q, z);
#else
    for (int c = 0; c < 4; ++c) nibbles32(b.qs + 32 * c, o.q + 64 * c);
#endif
    k4_block_scales(b.scales, b.d, b.dmin, o);
}

inline void unpack_q5_k(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockQ5_K& b = reinterpret_cast<const BlockQ5_K*>(row)[u];
#if defined(__AVX512BW__)
    // Fifth bits: bit 2c of qh[l] for the low half of chunk c, bit 2c + 1 for the high half.
    const __m256i h = _mm256_loadu_si256((const __m256i*)b.qh);
    const __m512i hh = _mm512_inserti64x4(_mm512_zextsi256_si512(h), h, 1), v16 = _mm512_set1_epi8(16);
    __m512i zz[4];
    for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * c));
        const __m512i z = _mm512_and_si512(_mm512_inserti64x4(_mm512_zextsi256_si512(v), _mm256_srli_epi16(v, 4), 1),
                                           _mm512_set1_epi8(0xF));
        const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))),
                                               _mm256_set1_epi8((char)(2 << (2 * c))), 1);
        zz[c] = _mm512_mask_add_epi8(z, _mm512_test_epi8_mask(hh, bit), z, v16);
    }
    store_unit(o.q, zz);
#elif defined(__AVX2__)
    const __m256i h = _mm256_loadu_si256((const __m256i*)b.qh), m = _mm256_set1_epi8(0xF);
    const __m256i v16 = _mm256_set1_epi8(16);
    for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * c));
        const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * c))), b1 = _mm256_set1_epi8((char)(2 << (2 * c)));
        const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, b0), b0), v16);
        const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, b1), b1), v16);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m), h0);
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m), h1);
        _mm256_store_si256((__m256i*)(o.q + 64 * c), lo);
        _mm256_store_si256((__m256i*)(o.q + 64 * c + 32), hi);
    }
#else
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
            const uint8_t v = b.qs[32 * c + l], h = b.qh[l];
            o.q[64 * c + l] = (uint8_t)((v & 15) | (((h >> (2 * c)) & 1) << 4));
            o.q[64 * c + 32 + l] = (uint8_t)((v >> 4) | (((h >> (2 * c + 1)) & 1) << 4));
        }
#endif
    k4_block_scales(b.scales, b.d, b.dmin, o);
}

inline void unpack_q6_k(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[u];
    for (int n = 0; n < 2; ++n) {
        const uint8_t* ql = b.ql + 64 * n;
        const uint8_t* qh = b.qh + 32 * n;
        uint8_t* q = o.q + 128 * n;
#if defined(__AVX512BW__)
        // Codes 0-63 from ql[0..63] (low nibbles, then high nibbles) and 2-bit pairs of qh;
        // transposed below, in memory (measured faster than in registers here).
        const __m512i l = _mm512_loadu_si512(ql), m4 = _mm512_set1_epi8(0xF), m2 = _mm512_set1_epi8(0x30);
        const __m256i h = _mm256_loadu_si256((const __m256i*)qh);
        const __m512i h01 = _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_slli_epi16(h, 4)), _mm256_slli_epi16(h, 2), 1);
        const __m512i h23 = _mm512_inserti64x4(_mm512_zextsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
        _mm512_store_si512(q, _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(h01, m2)));
        _mm512_store_si512(q + 64, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                                   _mm512_and_si512(h23, m2)));
#elif defined(__AVX2__)
        const __m256i l0 = _mm256_loadu_si256((const __m256i*)ql), l1 = _mm256_loadu_si256((const __m256i*)(ql + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i*)qh);
        const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(0x30);
        const __m256i y0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
        const __m256i y1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
        const __m256i y2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
        const __m256i y3 =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
        _mm256_store_si256((__m256i*)q, y0);
        _mm256_store_si256((__m256i*)(q + 32), y1);
        _mm256_store_si256((__m256i*)(q + 64), y2);
        _mm256_store_si256((__m256i*)(q + 96), y3);
#else
        for (int l = 0; l < 32; ++l) {
            q[l] = (uint8_t)((ql[l] & 15) | ((qh[l] & 3) << 4));
            q[l + 32] = (uint8_t)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
            q[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            q[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
#endif
    }
#if defined(HSD_K_FLOATS)
    transpose16_unit(o.q);  // measured faster here than in registers
    group_floats<true>(_mm_loadu_si128((const __m128i*)b.scales), half(b.d), o.db);
#else
#if defined(__AVX2__)
    _mm256_store_si256((__m256i*)o.sc, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)b.scales)));
#else
    for (int g = 0; g < 16; ++g) o.sc[g] = b.scales[g];
#endif
    offsets(o, 5);
    o.d = half(b.d);
#endif
}

inline void unpack_q3_k(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockQ3_K& b = reinterpret_cast<const BlockQ3_K*>(row)[u];
    // 16 6-bit scales: low 4 bits in bytes 0-7 (two per byte: groups g and g + 8), high 2
    // bits in bytes 8-11 (four per byte: groups g, g + 4, g + 8, g + 12).
    uint32_t a0, a1, a2;
    std::memcpy(&a0, b.scales, 4), std::memcpy(&a1, b.scales + 4, 4), std::memcpy(&a2, b.scales + 8, 4);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const uint32_t s[4] = {(a0 & m4) | ((a2 & m2) << 4), (a1 & m4) | (((a2 >> 2) & m2) << 4),
                           ((a0 >> 4) & m4) | (((a2 >> 4) & m2) << 4), ((a1 >> 4) & m4) | (((a2 >> 6) & m2) << 4)};
#if defined(__AVX2__)
    const __m128i s16 = _mm_sub_epi8(_mm_loadu_si128((const __m128i*)s), _mm_set1_epi8(32));
#if defined(HSD_K_FLOATS)
    group_floats<true>(s16, half(b.d), o.db);
#else
    _mm256_store_si256((__m256i*)o.sc, _mm256_cvtepi8_epi16(s16));
#endif
    // Weight 128n + 32j + l: bits 2j of qs[32n + l], plus 4 if bit 4n + j of hmask[l] is set.
    const __m256i hm = _mm256_loadu_si256((const __m256i*)b.hmask), m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
#if defined(__AVX512BW__)
    __m512i z[4];
#endif
    for (int n = 0; n < 2; ++n) {
        const __m256i q = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * n));
        __m256i y[4];
        for (int j = 0; j < 4; ++j) {
            const __m256i h = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + j), one);
            y[j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3), _mm256_slli_epi16(h, 2));
        }
#if defined(__AVX512BW__)
        z[2 * n] = _mm512_inserti64x4(_mm512_zextsi256_si512(y[0]), y[1], 1);
        z[2 * n + 1] = _mm512_inserti64x4(_mm512_zextsi256_si512(y[2]), y[3], 1);
#else
        store64(o.q + 128 * n, y[0], y[1]);
        store64(o.q + 128 * n + 64, y[2], y[3]);
#endif
    }
#if defined(__AVX512BW__)
    store_unit16(o.q, z);
#endif
#else
    for (int g = 0; g < 16; ++g) o.sc[g] = (int16_t)((int)((s[g / 4] >> (8 * (g % 4))) & 0xff) - 32);
    for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l) {
                const int q2 = (b.qs[32 * n + l] >> (2 * j)) & 3, h = (b.hmask[l] >> (4 * n + j)) & 1;
                o.q[128 * n + 32 * j + l] = (uint8_t)(q2 | (h << 2));
            }
#endif
#if !defined(HSD_K_FLOATS)
    offsets(o, 2);
    o.d = half(b.d);
#endif
}

inline void unpack_q2_k(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockQ2_K& b = reinterpret_cast<const BlockQ2_K*>(row)[u];
    // Weight 128n + 32j + l: bits 2j of qs[32n + l].
#if defined(__AVX512BW__)
    __m512i z[4];
    for (int n = 0; n < 2; ++n) {
        const __m256i q = _mm256_loadu_si256((const __m256i*)(b.qs + 32 * n)), m3 = _mm256_set1_epi8(3);
        __m256i y[4];
        for (int j = 0; j < 4; ++j) y[j] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
        z[2 * n] = _mm512_inserti64x4(_mm512_zextsi256_si512(y[0]), y[1], 1);
        z[2 * n + 1] = _mm512_inserti64x4(_mm512_zextsi256_si512(y[2]), y[3], 1);
    }
    store_unit16(o.q, z);
#else
    for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l) o.q[128 * n + 32 * j + l] = (uint8_t)((b.qs[32 * n + l] >> (2 * j)) & 3);
#endif
#if defined(HSD_K_FLOATS)
    const __m128i sb = _mm_loadu_si128((const __m128i*)b.scales), m4 = _mm_set1_epi8(0xF);
    group_floats<false>(_mm_and_si128(sb, m4), half(b.d), o.db);
    group_floats<false>(_mm_and_si128(_mm_srli_epi16(sb, 4), m4), -half(b.dmin), o.mb);
#else
    for (int g = 0; g < 16; ++g) o.sc[g] = b.scales[g] & 15, o.mn[g] = b.scales[g] >> 4;
    o.d = half(b.d), o.dmin = -half(b.dmin);
#endif
}

// The 8 6-bit sub-block scales of an IQ4_XS block (unbiased: the scale is this less 32), byte i
// = scale i: 4 low bits from nibble i of scales_l, 2 high bits from bits 2i of scales_h.
inline uint64_t iq4_xs_scale_bytes(const BlockIQ4_XS& b) {
#if defined(__BMI2__)
    uint32_t lo;
    std::memcpy(&lo, b.scales_l, 4);
    return _pdep_u64(lo, 0x0F0F0F0F0F0F0F0Full) | _pdep_u64(b.scales_h, 0x3030303030303030ull);
#else
    uint64_t ls = 0;
    for (int i = 0; i < 8; ++i)
        ls |= (uint64_t)(((b.scales_l[i / 2] >> (4 * (i % 2))) & 15) | (((b.scales_h >> (2 * i)) & 3) << 4)) << (8 * i);
    return ls;
#endif
}

inline void unpack_iq4_xs(const uint8_t* row, int64_t u, int, Unit& o) {
    const BlockIQ4_XS& b = reinterpret_cast<const BlockIQ4_XS*>(row)[u];
#if defined(__AVX512BW__)
    const __m512i lut = iq4_lut();
    __m512i z[4];
    for (int i = 0; i < 4; ++i)
        z[i] = _mm512_shuffle_epi8(lut, nibble_pairs(_mm_loadu_si128((const __m128i*)(b.qs + 32 * i)),
                                                     _mm_loadu_si128((const __m128i*)(b.qs + 32 * i + 16))));
    store_unit(o.q, z);
#else
    for (int i = 0; i < 8; ++i) iq4_16(b.qs + 16 * i, o.q + 32 * i);
#endif
    // Sub-blocks of 32 again unpack like legacy blocks: db = d * (scale - 32).
    block_floats(iq4_xs_scale_bytes(b), 32, half(b.d), o.db);
}

}  // namespace hsd::qk::unpack
