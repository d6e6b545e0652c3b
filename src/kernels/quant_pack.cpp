#include "kernels/quant_pack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/quant_unpack_impl.h"
#include "common/simd.h"

namespace hsd::qk {

namespace {

using T = gguf::TensorType;

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define HSD_PACKED 1

// How a unit's 256 codes are stored (from the unpacked, transposed unit q: vector k = q[64k ..]):
//   Nib4     128 bytes; byte i = q[i] | q[128 + i] << 4       (Q4_0, Q4_1, Q4_K)
//   Nib4Lut  the same with each IQ4 level's index              (IQ4_NL, IQ4_XS)
//   Nib5     Nib4 of the low 4 bits, then 4 x 64-bit masks: bit i of mask k = bit 4 of q[64k + i]
//   Nib6     Nib4 of the low 4 bits, then 64 bytes: bits 2k, 2k + 1 of byte i = bits 4-5 of q[64k + i]
//   Byte8    the 256 codes as they are                         (Q8_0)
enum class Codes { Nib4, Nib4Lut, Nib5, Nib6, Byte8 };
// How a row's unit scales are stored (F16 values kept as F16, 6-bit integers as bytes):
//   Half8    8 block d                                  (Q4_0, Q5_0, Q8_0, IQ4_NL)
//   Half8x2  8 block d, then 8 block m                  (Q4_1, Q5_1)
//   KSub     d, dmin, 8 sub-block scales, 8 mins         (Q4_K, Q5_K)
//   XS       d, 8 sub-block scales less 32 (int8)        (IQ4_XS)
//   Group16  d, 16 group scales (int8)                   (Q6_K)
enum class Scales { Half8, Half8x2, KSub, XS, Group16 };

struct Format {
    Codes codes;
    Scales scales;
};

constexpr int code_bytes(Codes c) {
    switch (c) {
        case Codes::Nib4:
        case Codes::Nib4Lut: return 128;
        case Codes::Nib5: return 160;
        case Codes::Nib6: return 192;
        case Codes::Byte8: return 256;
    }
    return 0;
}
constexpr int scale_bytes(Scales s) {
    switch (s) {
        case Scales::Half8: return 16;
        case Scales::Half8x2: return 32;
        case Scales::KSub: return 20;
        case Scales::XS: return 10;
        case Scales::Group16: return 18;
    }
    return 0;
}

bool format_of(T t, Format& f) {
    switch (t) {
        case T::Q4_0: f = {Codes::Nib4, Scales::Half8}; return true;
        case T::Q4_1: f = {Codes::Nib4, Scales::Half8x2}; return true;
        case T::Q5_0: f = {Codes::Nib5, Scales::Half8}; return true;
        case T::Q5_1: f = {Codes::Nib5, Scales::Half8x2}; return true;
        case T::Q8_0: f = {Codes::Byte8, Scales::Half8}; return true;
        case T::IQ4_NL: f = {Codes::Nib4Lut, Scales::Half8}; return true;
        case T::Q4_K: f = {Codes::Nib4, Scales::KSub}; return true;
        case T::Q5_K: f = {Codes::Nib5, Scales::KSub}; return true;
        case T::IQ4_XS: f = {Codes::Nib4Lut, Scales::XS}; return true;
        case T::Q6_K: f = {Codes::Nib6, Scales::Group16}; return true;
        default: return false;
    }
}

size_t group_bytes(const Format& f) { return (size_t)kRowBlock * (size_t)(code_bytes(f.codes) + scale_bytes(f.scales)); }
int64_t units_of(const WeightView& w) { return (w.cols + kUnit - 1) / kUnit; }

Format checked_format(const WeightView& w) {
    Format f{};
    if (!format_of(w.type, f))
        throw std::logic_error(std::string("no packed layout for tensor type ") + gguf::tensor_type_name(w.type));
    return f;
}

// ---- packing (at load) -------------------------------------------------------------------

void unpack_unit(T t, const uint8_t* row, int64_t u, int nb, Unit& o) {
    using namespace unpack;
    switch (t) {
        case T::Q4_0: unpack_q4_0(row, u, nb, o); break;
        case T::Q4_1: unpack_q4_1(row, u, nb, o); break;
        case T::Q5_0: unpack_q5_0(row, u, nb, o); break;
        case T::Q5_1: unpack_q5_1(row, u, nb, o); break;
        case T::Q8_0: unpack_q8_0(row, u, nb, o); break;
        case T::IQ4_NL: unpack_iq4_nl(row, u, nb, o); break;
        case T::Q4_K: unpack_q4_k(row, u, nb, o); break;
        case T::Q5_K: unpack_q5_k(row, u, nb, o); break;
        case T::IQ4_XS: unpack_iq4_xs(row, u, nb, o); break;
        case T::Q6_K: unpack_q6_k(row, u, nb, o); break;
        default: break;
    }
}

// The index of an IQ4 level code; 0 for the zero codes of padding blocks (their scale is 0 and
// their activations are 0, so any code gives the same exact 0).
uint8_t iq4_index(uint8_t code) {
    for (int i = 0; i < 16; ++i)
        if (unpack::iq4_code(i) == code) return (uint8_t)i;
    if (code == 0) return 0;
    throw std::logic_error("IQ4 code " + std::to_string(code) + " is not a level");
}

void encode_codes(Codes c, const uint8_t* q, uint8_t* out) {
    if (c == Codes::Byte8) {
        std::memcpy(out, q, kUnit);
        return;
    }
    const int bits = c == Codes::Nib5 ? 5 : c == Codes::Nib6 ? 6 : 4;
    uint8_t v[kUnit];
    for (int i = 0; i < kUnit; ++i) {
        v[i] = c == Codes::Nib4Lut ? iq4_index(q[i]) : q[i];
        if (v[i] >> bits) throw std::logic_error("code " + std::to_string(v[i]) + " does not fit its packed width");
    }
    for (int i = 0; i < 128; ++i) out[i] = (uint8_t)((v[i] & 15) | (v[128 + i] & 15) << 4);
    if (c == Codes::Nib5) {
        for (int k = 0; k < 4; ++k) {
            uint64_t m = 0;
            for (int i = 0; i < 64; ++i) m |= (uint64_t)((v[64 * k + i] >> 4) & 1) << i;
            std::memcpy(out + 128 + 8 * k, &m, 8);
        }
    } else if (c == Codes::Nib6) {
        for (int i = 0; i < 64; ++i) {
            uint8_t h = 0;
            for (int k = 0; k < 4; ++k) h = (uint8_t)(h | ((v[64 * k + i] >> 4) & 3) << (2 * k));
            out[128 + i] = h;
        }
    }
}

void put16(uint8_t* out, uint16_t v) { std::memcpy(out, &v, 2); }

template <class B>
const B* unit_blocks(const uint8_t* row, int64_t u) {
    return reinterpret_cast<const B*>(row) + u * 8;
}

// The scales of unit u of a row (nb of its 8 legacy blocks present: the rest stay zero).
void encode_scales(T t, const uint8_t* row, int64_t u, int nb, uint8_t* out, int sb) {
    using namespace hsd::quant;
    std::memset(out, 0, (size_t)sb);
    auto half8 = [&](const auto* b, bool with_m) {
        for (int i = 0; i < nb; ++i) {
            put16(out + 2 * i, b[i].d);
            if constexpr (requires { b[i].m; })
                if (with_m) put16(out + 16 + 2 * i, b[i].m);
        }
    };
    switch (t) {
        case T::Q4_0: half8(unit_blocks<BlockQ4_0>(row, u), false); break;
        case T::Q5_0: half8(unit_blocks<BlockQ5_0>(row, u), false); break;
        case T::Q8_0: half8(unit_blocks<BlockQ8_0>(row, u), false); break;
        case T::IQ4_NL: half8(unit_blocks<BlockIQ4_NL>(row, u), false); break;
        case T::Q4_1: half8(unit_blocks<BlockQ4_1>(row, u), true); break;
        case T::Q5_1: half8(unit_blocks<BlockQ5_1>(row, u), true); break;
        case T::Q4_K:
        case T::Q5_K: {
            // Q4_K and Q5_K begin alike: d, dmin, 12 bytes of 6-bit scales and mins.
            const BlockQ4_K& b = *reinterpret_cast<const BlockQ4_K*>(row + u * (int64_t)(t == T::Q4_K ? sizeof(BlockQ4_K)
                                                                                                      : sizeof(BlockQ5_K)));
            uint64_t sc, mn;
            unpack::k4_scale_bytes(b.scales, sc, mn);
            put16(out, b.d), put16(out + 2, b.dmin);
            std::memcpy(out + 4, &sc, 8), std::memcpy(out + 12, &mn, 8);
            break;
        }
        case T::IQ4_XS: {
            const BlockIQ4_XS& b = reinterpret_cast<const BlockIQ4_XS*>(row)[u];
            put16(out, b.d);
            for (int i = 0; i < 8; ++i) {
                const int ls = ((b.scales_l[i / 2] >> (4 * (i % 2))) & 15) | (((b.scales_h >> (2 * i)) & 3) << 4);
                out[2 + i] = (uint8_t)(int8_t)(ls - 32);
            }
            break;
        }
        case T::Q6_K: {
            const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[u];
            put16(out, b.d);
            std::memcpy(out + 2, b.scales, 16);
            break;
        }
        default: break;
    }
}

// ---- the kernel (AVX-512 VNNI) -------------------------------------------------------------

template <Codes C>
inline void load_codes(const uint8_t* c, __m512i (&z)[4]) {
    if constexpr (C == Codes::Byte8) {
        for (int k = 0; k < 4; ++k) z[k] = _mm512_loadu_si512(c + 64 * k);
    } else {
        const __m512i m4 = _mm512_set1_epi8(0xF);
        const __m512i v0 = _mm512_loadu_si512(c), v1 = _mm512_loadu_si512(c + 64);
        z[0] = _mm512_and_si512(v0, m4);
        z[1] = _mm512_and_si512(v1, m4);
        z[2] = _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4);
        z[3] = _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4);
        if constexpr (C == Codes::Nib4Lut) {
            const __m512i lut = unpack::iq4_lut();
            for (int k = 0; k < 4; ++k) z[k] = _mm512_shuffle_epi8(lut, z[k]);
        } else if constexpr (C == Codes::Nib5) {
            const __m512i v16 = _mm512_set1_epi8(16);
            for (int k = 0; k < 4; ++k) {
                uint64_t m;
                std::memcpy(&m, c + 128 + 8 * k, 8);
                z[k] = _mm512_mask_add_epi8(z[k], (__mmask64)m, z[k], v16);
            }
        } else if constexpr (C == Codes::Nib6) {
            const __m512i h = _mm512_loadu_si512(c + 128), m2 = _mm512_set1_epi8(0x30);
            z[0] = _mm512_or_si512(z[0], _mm512_and_si512(_mm512_slli_epi16(h, 4), m2));
            z[1] = _mm512_or_si512(z[1], _mm512_and_si512(_mm512_slli_epi16(h, 2), m2));
            z[2] = _mm512_or_si512(z[2], _mm512_and_si512(h, m2));
            z[3] = _mm512_or_si512(z[3], _mm512_and_si512(_mm512_srli_epi16(h, 2), m2));
        }
    }
}

inline float half_at(const uint8_t* s) {
    uint16_t h;
    std::memcpy(&h, s, 2);
    return unpack::half(h);
}

// A legacy row's 8 block scales and mins, computed as the unpackers compute them.
template <Scales S>
inline void legacy_scales(const uint8_t* s, __m256& db, __m256& mb) {
    if constexpr (S == Scales::Half8 || S == Scales::Half8x2) {
        db = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)s));
        if constexpr (S == Scales::Half8x2) mb = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(s + 16)));
    } else if constexpr (S == Scales::KSub) {
        db = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(s + 4)))),
                           _mm256_set1_ps(half_at(s)));
        mb = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(s + 12)))),
                           _mm256_set1_ps(-half_at(s + 2)));
    } else if constexpr (S == Scales::XS) {
        db = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(s + 2)))),
                           _mm256_set1_ps(half_at(s)));
    }
}

// What one row block needs: its groups, the tokens [t0, t0 + nt).
struct PJob {
    const uint8_t* block;  // group of unit 0
    size_t group_bytes;
    int rr;
    const TypeInfo* ti;
    const QuantActs* a;
    int64_t t0, n_units;
    int nt;
    float* y;
    int64_t ldy;
};

// The stream is sequential; the hardware prefetcher alone left n = 1 a few percent short of
// the memory speed a prefetch this far ahead reaches (bench_quant_kernels).
constexpr int kAheadGroups = 4;

inline void prefetch_group(const uint8_t* g, size_t gb) {
    const uint8_t* p = g + kAheadGroups * gb;
    for (size_t off = 0; off < gb; off += 64) _mm_prefetch((const char*)(p + off), _MM_HINT_T0);
}

constexpr __mmask16 kFirst = 0x5555;  // lane 2b: one lane per block
inline __m512i pair_idx() { return _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7); }

// The legacy kernel of kernels/quant_dot.cpp (same lanes, same float operations in the same
// order), reading packed groups.
// Codes are decoded where they are used (once per token pair) while few tokens share them;
// from buffer_from(C) tokens on (Buf) each row's unit is decoded once into an L1 buffer of
// full-vector stores and read back per pair. Measured (bench_quant_kernels --compute): for
// 5- and 6-bit codes buffering pays from 3 tokens (Q6_K n = 8: 14.6 vs 26.4 ns per unit), for
// 4- and 8-bit codes only past 8 (n = 8 equal within noise, n = 16 26-30 vs 31-33 ns).
constexpr int buffer_from(Codes c) { return c == Codes::Nib5 || c == Codes::Nib6 ? 3 : 9; }

template <Codes C, bool Buf>
struct CodeSource {
    alignas(64) uint8_t buf[kRowBlock][kUnit];
    const uint8_t* g = nullptr;
    void start(const uint8_t* group, int rr) {
        g = group;
        if constexpr (Buf)
            for (int r = 0; r < rr; ++r) {
                __m512i z[4];
                load_codes<C>(g + r * code_bytes(C), z);
                for (int k = 0; k < 4; ++k) _mm512_store_si512(buf[r] + 64 * k, z[k]);
            }
    }
    void get(int r, __m512i (&z)[4]) const {
        if constexpr (Buf)
            for (int k = 0; k < 4; ++k) z[k] = _mm512_load_si512(buf[r] + 64 * k);
        else
            load_codes<C>(g + r * code_bytes(C), z);
    }
};

template <Codes C, Scales S, bool Min, bool Buf>
void legacy_packed(const PJob& j) {
    constexpr int cb = code_bytes(C), sb = scale_bytes(S);
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const size_t gb = j.group_bytes;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m512 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm512_setzero_ps();
    const __m512i idx = pair_idx(), voff = _mm512_set1_epi32(j.ti->off);
    CodeSource<C, Buf> src;
    for (int64_t u = 0; u < n_units; ++u) {
        const uint8_t* g = j.block + (size_t)u * gb;
        prefetch_group(g, gb);
        src.start(g, rr);
        const uint8_t* sc = g + kRowBlock * cb;
        __m512 DW[kRowBlock], MW[kRowBlock];
        for (int r = 0; r < rr; ++r) {
            __m256 db, mb = _mm256_setzero_ps();
            legacy_scales<S>(sc + r * sb, db, mb);
            DW[r] = _mm512_permutexvar_ps(idx, _mm512_zextps256_ps512(db));
            if (Min) MW[r] = _mm512_maskz_permutexvar_ps(kFirst, idx, _mm512_zextps256_ps512(mb));
        }
        // Per token: its scale and offset vectors for this unit.
        __m512 DX[kTokBlock], DXS[kTokBlock];
        __m512i O[kTokBlock];
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const __m512 dx = _mm512_zextps256_ps512(_mm256_loadu_ps((ad0 + tt * nsc) + u * 8));
            const __m256i s8 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)((as0 + tt * (kpad / 16)) + u * 16)),
                                                 _mm256_set1_epi16(1));  // block sums
            const __m512i s = _mm512_zextsi256_si512(s8);
            DX[t] = _mm512_permutexvar_ps(idx, dx);
            O[t] = _mm512_mullo_epi32(_mm512_maskz_permutexvar_epi32(kFirst, idx, s), voff);
            DXS[t] = Min ? _mm512_maskz_permutexvar_ps(kFirst, idx, _mm512_mul_ps(_mm512_cvtepi32_ps(s), dx))
                         : _mm512_setzero_ps();
        }
        // Tokens in pairs: a row's codes are loaded once for two tokens.
        int t = 0;
        for (; t + 2 <= nt; t += 2) {
            const int8_t* a0 = (aq0 + (t0 + t) * kpad) + u * kUnit;
            const int8_t* a1 = a0 + kpad;
            __m512i A0[4], A1[4];
            for (int k = 0; k < 4; ++k) A0[k] = _mm512_loadu_si512(a0 + 64 * k), A1[k] = _mm512_loadu_si512(a1 + 64 * k);
            for (int r = 0; r < rr; ++r) {
                __m512i z[4];
                src.get(r, z);
                __m512i P0 = O[t], P1 = O[t + 1];
                for (int k = 0; k < 4; ++k) P0 = _mm512_dpbusd_epi32(P0, z[k], A0[k]), P1 = _mm512_dpbusd_epi32(P1, z[k], A1[k]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P0), _mm512_mul_ps(DW[r], DX[t]), acc[r][t]);
                acc[r][t + 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P1), _mm512_mul_ps(DW[r], DX[t + 1]), acc[r][t + 1]);
                if (Min) {
                    acc[r][t] = _mm512_fmadd_ps(MW[r], DXS[t], acc[r][t]);
                    acc[r][t + 1] = _mm512_fmadd_ps(MW[r], DXS[t + 1], acc[r][t + 1]);
                }
            }
        }
        if (t < nt) {
            const int8_t* a0 = (aq0 + (t0 + t) * kpad) + u * kUnit;
            __m512i A0[4];
            for (int k = 0; k < 4; ++k) A0[k] = _mm512_loadu_si512(a0 + 64 * k);
            for (int r = 0; r < rr; ++r) {
                __m512i z[4];
                src.get(r, z);
                __m512i P = O[t];
                for (int k = 0; k < 4; ++k) P = _mm512_dpbusd_epi32(P, z[k], A0[k]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P), _mm512_mul_ps(DW[r], DX[t]), acc[r][t]);
                if (Min) acc[r][t] = _mm512_fmadd_ps(MW[r], DXS[t], acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// The K kernel of kernels/quant_dot.cpp for Q6_K (group scales d * sc_g, offset in code
// units, no min), reading packed groups.
template <Codes C, bool Buf>
void k_packed(const PJob& j) {
    constexpr int cb = code_bytes(C), sb = scale_bytes(Scales::Group16);
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const size_t gb = j.group_bytes;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m512 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm512_setzero_ps();
    const __m512i voff = _mm512_set1_epi32(j.ti->off), idx = pair_idx();
    CodeSource<C, Buf> src;
    for (int64_t u = 0; u < n_units; ++u) {
        const uint8_t* g = j.block + (size_t)u * gb;
        prefetch_group(g, gb);
        src.start(g, rr);
        const uint8_t* sc = g + kRowBlock * cb;
        __m512 DB[kRowBlock];
        for (int r = 0; r < rr; ++r)
            DB[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(sc + r * sb + 2)))),
                                  _mm512_set1_ps(half_at(sc + r * sb)));
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const __m512i A[4] = {_mm512_loadu_si512(aq), _mm512_loadu_si512(aq + 64), _mm512_loadu_si512(aq + 128),
                                  _mm512_loadu_si512(aq + 192)};
            const __m512i s = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i*)((as0 + tt * (kpad / 16)) + u * 16)));
            const __m512 dx = _mm512_permutexvar_ps(idx, _mm512_zextps256_ps512(_mm256_loadu_ps((ad0 + tt * nsc) + u * 8)));
            const __m512i O = _mm512_mullo_epi32(s, voff);
            for (int r = 0; r < rr; ++r) {
                __m512i z[4];
                src.get(r, z);
                __m512i P = O;
                for (int k = 0; k < 4; ++k) P = _mm512_dpbusd_epi32(P, z[k], A[k]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P), _mm512_mul_ps(DB[r], dx), acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <bool Buf>
void run_packed(T t, const PJob& j) {
    switch (t) {
        case T::Q4_0: legacy_packed<Codes::Nib4, Scales::Half8, false, Buf>(j); break;
        case T::Q4_1: legacy_packed<Codes::Nib4, Scales::Half8x2, true, Buf>(j); break;
        case T::Q5_0: legacy_packed<Codes::Nib5, Scales::Half8, false, Buf>(j); break;
        case T::Q5_1: legacy_packed<Codes::Nib5, Scales::Half8x2, true, Buf>(j); break;
        case T::Q8_0: legacy_packed<Codes::Byte8, Scales::Half8, false, Buf>(j); break;
        case T::IQ4_NL: legacy_packed<Codes::Nib4Lut, Scales::Half8, false, Buf>(j); break;
        case T::Q4_K: legacy_packed<Codes::Nib4, Scales::KSub, true, Buf>(j); break;
        case T::Q5_K: legacy_packed<Codes::Nib5, Scales::KSub, true, Buf>(j); break;
        case T::IQ4_XS: legacy_packed<Codes::Nib4Lut, Scales::XS, false, Buf>(j); break;
        case T::Q6_K: k_packed<Codes::Nib6, Buf>(j); break;
        default: break;
    }
}
#endif

}  // namespace

#ifdef HSD_PACKED
bool packing_supported(gguf::TensorType t) {
    Format f;
    return format_of(t, f);
}

int64_t packed_row_blocks(const WeightView& w) { return (w.rows + kRowBlock - 1) / kRowBlock; }

size_t packed_size(const WeightView& w) {
    return (size_t)packed_row_blocks(w) * (size_t)units_of(w) * group_bytes(checked_format(w));
}

void pack_matrix(const WeightView& w, uint8_t* dst, int64_t b0, int64_t b1) {
    const Format f = checked_format(w);
    const int cb = code_bytes(f.codes), sb = scale_bytes(f.scales);
    const size_t gb = group_bytes(f), rb = w.row_bytes();
    const int64_t n_units = units_of(w), n_blocks = w.cols / quant::kBlock;
    const bool legacy = type_info(w.type)->kind == Kind::Legacy;
    Unit unit;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t u = 0; u < n_units; ++u) {
            uint8_t* g = dst + (size_t)(b * n_units + u) * gb;
            for (int r = 0; r < kRowBlock; ++r) {
                uint8_t* codes = g + r * cb;
                uint8_t* scales = g + kRowBlock * cb + r * sb;
                const int64_t row = b * kRowBlock + r;
                if (row >= w.rows) {  // padding rows: never stored, zero anyway
                    std::memset(codes, 0, (size_t)cb), std::memset(scales, 0, (size_t)sb);
                    continue;
                }
                const uint8_t* src = w.data + (size_t)row * rb;
                const int nb = legacy ? (int)std::min<int64_t>(8, n_blocks - 8 * u) : 8;
                std::memset(&unit, 0, sizeof unit);
                unpack_unit(w.type, src, u, nb, unit);
                encode_codes(f.codes, unit.q, codes);
                encode_scales(w.type, src, u, nb, scales, sb);
            }
        }
}

void packed_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
                 int64_t r1) {
    PJob j{};
    const Format f = checked_format(w);
    const int buffer_at = buffer_from(f.codes);
    j.group_bytes = group_bytes(f);
    j.ti = &ti;
    j.a = &a;
    j.n_units = units_of(w);
    j.ldy = ldy;
    const size_t block_bytes = (size_t)j.n_units * j.group_bytes;
    for (int64_t t0 = 0; t0 < a.n; t0 += kTokBlock) {
        j.t0 = t0;
        j.nt = (int)std::min<int64_t>(kTokBlock, a.n - t0);
        for (int64_t r = r0; r < r1; r += kRowBlock) {
            j.block = w.packed + (size_t)(r / kRowBlock) * block_bytes;
            j.rr = (int)std::min<int64_t>(kRowBlock, r1 - r);
            j.y = y + r;
            if (j.nt >= buffer_at) run_packed<true>(w.type, j);
            else run_packed<false>(w.type, j);
        }
    }
}
#else
bool packing_supported(gguf::TensorType) { return false; }
int64_t packed_row_blocks(const WeightView& w) { return (w.rows + kRowBlock - 1) / kRowBlock; }
size_t packed_size(const WeightView&) { throw std::logic_error("this build has no packed quantized layout"); }
void pack_matrix(const WeightView&, uint8_t*, int64_t, int64_t) {
    throw std::logic_error("this build has no packed quantized layout");
}
void packed_rows(const WeightView&, const TypeInfo&, const QuantActs&, float*, int64_t, int64_t, int64_t) {
    throw std::logic_error("this build has no packed quantized layout");
}
#endif

}  // namespace hsd::qk
