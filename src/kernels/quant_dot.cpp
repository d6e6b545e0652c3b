#include "kernels/quant_dot.h"

#include <algorithm>

#include "kernels/quant_pack.h"
#include "kernels/quant_unpack_impl.h"
#include "common/simd.h"

namespace hsd::qk {

namespace {

// What one row block needs: its rows, the type's unpacker, the tokens [t0, t0 + nt).
struct Job {
    const uint8_t* rows[kRowBlock];
    int rr;
    const TypeInfo* ti;
    const QuantActs* a;
    int64_t t0;
    int nt;
    gguf::TensorType type;
    int64_t n_units, n_blocks;  // n_blocks: 32-blocks per row (legacy)
    size_t unit_bytes;          // bytes of 256 weights of a row
    const uint8_t* next;        // the next row block of the range (nullptr: none)
    size_t next_bytes;
    float* y;
    int64_t ldy;
};

inline int unit_blocks(const Job& j, int64_t u) { return (int)std::min<int64_t>(8, j.n_blocks - 8 * u); }

// The rows' units are unpacked one unit ahead of their use (two buffers): loading a vector
// that a few narrower stores have just written stalls until they commit (no store-to-load
// forwarding), which at n = 1 cost more than the arithmetic.
template <auto Unpack>
struct UnitPipe {
    alignas(64) Unit buf[2][kRowBlock];
    const Job& j;
    explicit UnitPipe(const Job& job) : j(job) { fill(0); }
    void fill(int64_t u) {
        if (u >= j.n_units) return;
        const int nb = j.ti->kind == Kind::Legacy ? unit_blocks(j, u) : 8;
        // Rows are read kRowBlock at a time, a unit of each in turn: too many short streams for the
        // hardware prefetcher, which would also restart at every row block. So while one block
        // is computed the next one (contiguous, the rows are adjacent) is prefetched, 1/n_units
        // of it per unit (measured: 2-3x the GB/s at n = 1).
        if (j.next) {
            const size_t step = j.next_bytes / (size_t)j.n_units, from = step * (size_t)u;
            const size_t to = u + 1 == j.n_units ? j.next_bytes : from + step;
            for (size_t off = from & ~(size_t)63; off < to; off += 64) __builtin_prefetch(j.next + off, 0, 3);
        }
        for (int r = 0; r < j.rr; ++r) Unpack(j.rows[r], u, nb, buf[u & 1][r]);
    }
    // Unit u of every row (and unpacks unit u + 1).
    const Unit* next(int64_t u) {
        fill(u + 1);
        return buf[u & 1];
    }
};

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define HSD_INT8_ISA "avx512-vnni"

// Legacy: weights and activations are in the transposed unit layout (kernels/quant_act.h),
// so the 4 dpbusd of a unit accumulate in one vector, lanes 2b and 2b + 1 holding block b
// (the per-block offset term off * S_b preloaded in lane 2b), then one conversion and one
// multiply-add by db * dx.
constexpr __mmask16 kFirst = 0x5555;  // lane 2b: one lane per block
inline __m512i pair_idx() { return _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7); }

template <auto Unpack, bool Min>
void legacy_block(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m512 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm512_setzero_ps();
    const __m512i idx = pair_idx(), voff = _mm512_set1_epi32(j.ti->off);
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        const Unit* U = pipe.next(u);
        __m512 DW[kRowBlock], MW[kRowBlock];
        for (int r = 0; r < rr; ++r) {
            DW[r] = _mm512_permutexvar_ps(idx, _mm512_zextps256_ps512(_mm256_load_ps(U[r].db)));
            if (Min) MW[r] = _mm512_maskz_permutexvar_ps(kFirst, idx, _mm512_zextps256_ps512(_mm256_load_ps(U[r].mb)));
        }
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const __m512i A[4] = {_mm512_loadu_si512(aq), _mm512_loadu_si512(aq + 64), _mm512_loadu_si512(aq + 128),
                                  _mm512_loadu_si512(aq + 192)};
            const __m512 dx = _mm512_zextps256_ps512(_mm256_loadu_ps((ad0 + tt * nsc) + u * 8));
            const __m256i s8 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)((as0 + tt * (kpad / 16)) + u * 16)),
                                                 _mm256_set1_epi16(1));  // block sums
            const __m512i s = _mm512_zextsi256_si512(s8);
            const __m512 DX = _mm512_permutexvar_ps(idx, dx);
            const __m512i O = _mm512_mullo_epi32(_mm512_maskz_permutexvar_epi32(kFirst, idx, s), voff);
            const __m512 DXS = Min ? _mm512_maskz_permutexvar_ps(kFirst, idx, _mm512_mul_ps(_mm512_cvtepi32_ps(s), dx))
                                   : _mm512_setzero_ps();
            for (int r = 0; r < rr; ++r) {
                __m512i P = O;
                for (int k = 0; k < 4; ++k) P = _mm512_dpbusd_epi32(P, _mm512_load_si512(U[r].q + 64 * k), A[k]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P), _mm512_mul_ps(DW[r], DX), acc[r][t]);
                if (Min) acc[r][t] = _mm512_fmadd_ps(MW[r], DXS, acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// K kind: as legacy, with 16 groups of 16 (one lane each); an activation scale per 32 values
// (two lanes).
// The offset (Q6_K: -32, Q3_K: -4) is in code units, so it shares the group scale.
template <auto Unpack, bool Min, bool Off>
void k_block(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m512 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm512_setzero_ps();
    const __m512i voff = _mm512_set1_epi32(j.ti->off), idx = pair_idx();
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        const Unit* U = pipe.next(u);
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const __m512i A[4] = {_mm512_loadu_si512(aq), _mm512_loadu_si512(aq + 64), _mm512_loadu_si512(aq + 128),
                                  _mm512_loadu_si512(aq + 192)};
            const __m512i s = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i*)((as0 + tt * (kpad / 16)) + u * 16)));
            // Group g (lane g) lies in activation block g / 2.
            const __m512 dx = _mm512_permutexvar_ps(idx, _mm512_zextps256_ps512(_mm256_loadu_ps((ad0 + tt * nsc) + u * 8)));
            const __m512i O = Off ? _mm512_mullo_epi32(s, voff) : _mm512_setzero_si512();
            const __m512 DXS = Min ? _mm512_mul_ps(_mm512_cvtepi32_ps(s), dx) : _mm512_setzero_ps();
            for (int r = 0; r < rr; ++r) {
                __m512i P = O;
                for (int k = 0; k < 4; ++k) P = _mm512_dpbusd_epi32(P, _mm512_load_si512(U[r].q + 64 * k), A[k]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P), _mm512_mul_ps(_mm512_load_ps(U[r].db), dx), acc[r][t]);
                if (Min) acc[r][t] = _mm512_fmadd_ps(_mm512_load_ps(U[r].mb), DXS, acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <auto Unpack, bool Wide, bool Min>
void legacy_block_w(const Job& j) {
    legacy_block<Unpack, Min>(j);  // VNNI takes the +128 codes as they are
}

#elif defined(__AVX2__) && defined(__FMA__)
#define HSD_INT8_ISA "avx2"

inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 int16 pair sums of 32 codes times 32 activations: maddubs on unsigned codes (< 128, no
// saturation), or for wide codes the signed value (code - 128) through the sign trick.
template <bool Wide>
inline __m256i pair_sums(__m256i Q, __m256i A) {
    if (!Wide) return _mm256_maddubs_epi16(Q, A);
    const __m256i W = _mm256_xor_si256(Q, _mm256_set1_epi8((char)0x80));
    return _mm256_maddubs_epi16(_mm256_abs_epi8(W), _mm256_sign_epi8(A, W));
}

template <auto Unpack, bool Wide, bool Min>
void legacy_block_w(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m256 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int off = Wide ? 0 : j.ti->off;
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        const int nb = unit_blocks(j, u);
        const Unit* U = pipe.next(u);
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const float* ad = (ad0 + tt * nsc) + u * 8;
            const int16_t* as = (as0 + tt * (kpad / 16)) + u * 16;
            for (int b = 0; b < nb; ++b) {
                const __m256i A = _mm256_loadu_si256((const __m256i*)(aq + 32 * b));
                const int S = as[2 * b] + as[2 * b + 1];
                const __m256i O = _mm256_setr_epi32(off * S, 0, 0, 0, 0, 0, 0, 0);
                for (int r = 0; r < rr; ++r) {
                    const __m256i Q = _mm256_load_si256((const __m256i*)(U[r].q + 32 * b));
                    const __m256i P = _mm256_add_epi32(_mm256_madd_epi16(pair_sums<Wide>(Q, A), ones), O);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(P), _mm256_set1_ps(U[r].db[b] * ad[b]), acc[r][t]);
                    if (Min)
                        acc[r][t] = _mm256_add_ps(
                            acc[r][t], _mm256_setr_ps(U[r].mb[b] * (ad[b] * (float)S), 0, 0, 0, 0, 0, 0, 0));
                }
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = hsum8(acc[r][t]);
}

template <auto Unpack, bool Min, bool Off>
void k_block(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    __m256 acc[kRowBlock][kTokBlock];
    for (int r = 0; r < rr; ++r)
        for (int t = 0; t < nt; ++t) acc[r][t] = _mm256_setzero_ps();
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        __m256i SC[kRowBlock][8];  // int16 lane i of ymm k: group 2k + i / 8
        const Unit* U = pipe.next(u);
        for (int r = 0; r < rr; ++r) {
            for (int k = 0; k < 8; ++k)
                SC[r][k] = _mm256_set_m128i(_mm_set1_epi16(U[r].sc[2 * k + 1]), _mm_set1_epi16(U[r].sc[2 * k]));
        }
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const __m256i bs = _mm256_loadu_si256((const __m256i*)((as0 + tt * (kpad / 16)) + u * 16));
            const float* dx = (ad0 + tt * nsc) + u * 8;  // one scale per 32 values = ymm k
            const __m256 DX = _mm256_loadu_ps(dx);         // lane b: block b (as madd(off, bs) below)
            for (int r = 0; r < rr; ++r) {
                if (Off) {
                    const __m256i O = _mm256_madd_epi16(_mm256_load_si256((const __m256i*)U[r].off), bs);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(O), _mm256_mul_ps(_mm256_set1_ps(U[r].d), DX), acc[r][t]);
                }
                for (int k = 0; k < 8; ++k) {
                    const __m256i Q = _mm256_load_si256((const __m256i*)(U[r].q + 32 * k));
                    const __m256i A = _mm256_loadu_si256((const __m256i*)(aq + 32 * k));
                    const __m256i I = _mm256_madd_epi16(_mm256_maddubs_epi16(Q, A), SC[r][k]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_set1_ps(U[r].d * dx[k]), acc[r][t]);
                }
                if (Min) {
                    const __m256i m = _mm256_madd_epi16(_mm256_load_si256((const __m256i*)U[r].mn), bs);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(_mm256_set1_ps(U[r].dmin), DX), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = hsum8(acc[r][t]);
}

#else
#define HSD_INT8_ISA "scalar"

inline int code(uint8_t q, bool wide) { return wide ? (int)q - 128 : (int)q; }

template <auto Unpack, bool Wide, bool Min>
void legacy_block_w(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    float acc[kRowBlock][kTokBlock] = {};
    const int off = Wide ? 0 : j.ti->off;
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        const int nb = unit_blocks(j, u);
        const Unit* U = pipe.next(u);
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const float* ad = (ad0 + tt * nsc) + u * 8;
            const int16_t* as = (as0 + tt * (kpad / 16)) + u * 16;
            for (int b = 0; b < nb; ++b) {
                const int S = as[2 * b] + as[2 * b + 1];
                for (int r = 0; r < rr; ++r) {
                    int P = off * S;
                    for (int i = 0; i < 32; ++i) P += code(U[r].q[32 * b + i], Wide) * aq[32 * b + i];
                    acc[r][t] += (U[r].db[b] * ad[b]) * (float)P;
                    if (Min) acc[r][t] += U[r].mb[b] * (ad[b] * (float)S);
                }
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = acc[r][t];
}

template <auto Unpack, bool Min, bool Off>
void k_block(const Job& j) {
    // Locals, not j's fields: the unpackers' byte stores may alias anything reached through j.
    const int rr = j.rr, nt = j.nt;
    const int64_t n_units = j.n_units, t0 = j.t0, kpad = j.a->kpad, nsc = j.a->n_scales;
    const int8_t* const aq0 = j.a->q.data();
    const float* const ad0 = j.a->d.data();
    const int16_t* const as0 = j.a->bsums.data();
    float acc[kRowBlock][kTokBlock] = {};
    UnitPipe<Unpack> pipe(j);
    for (int64_t u = 0; u < n_units; ++u) {
        const Unit* U = pipe.next(u);
        for (int t = 0; t < nt; ++t) {
            const int64_t tt = t0 + t;
            const int8_t* aq = (aq0 + tt * kpad) + u * kUnit;
            const int16_t* bs = (as0 + tt * (kpad / 16)) + u * 16;
            const float* dx = (ad0 + tt * nsc) + u * 8;  // one scale per 32 values: groups 2b, 2b + 1
            for (int r = 0; r < rr; ++r) {
                for (int b = 0; b < 8; ++b) {
                    int I = 0, M = 0;
                    for (int g = 2 * b; g < 2 * b + 2; ++g) {
                        int s = 0;
                        for (int i = 0; i < 16; ++i) s += U[r].q[16 * g + i] * aq[16 * g + i];
                        I += U[r].sc[g] * s;
                        if (Off) I += U[r].off[g] * bs[g];
                        if (Min) M += U[r].mn[g] * bs[g];
                    }
                    acc[r][t] += (U[r].d * dx[b]) * (float)I;
                    if (Min) acc[r][t] += (U[r].dmin * dx[b]) * (float)M;
                }
            }
        }
    }
    for (int t = 0; t < nt; ++t)
        for (int r = 0; r < rr; ++r) j.y[(t0 + t) * j.ldy + r] = acc[r][t];
}
#endif

// One kernel per type, its unpacker inlined.
void run_block(const Job& j) {
    using T = gguf::TensorType;
    using namespace unpack;
    switch (j.type) {
        case T::Q4_0: legacy_block_w<unpack_q4_0, false, false>(j); break;
        case T::Q4_1: legacy_block_w<unpack_q4_1, false, true>(j); break;
        case T::Q5_0: legacy_block_w<unpack_q5_0, false, false>(j); break;
        case T::Q5_1: legacy_block_w<unpack_q5_1, false, true>(j); break;
        case T::Q8_0: legacy_block_w<unpack_q8_0, true, false>(j); break;
        case T::IQ4_NL: legacy_block_w<unpack_iq4_nl, true, false>(j); break;
        case T::Q2_K: k_block<unpack_q2_k, true, false>(j); break;
        case T::Q3_K: k_block<unpack_q3_k, false, true>(j); break;
        case T::Q4_K: legacy_block_w<unpack_q4_k, false, true>(j); break;
        case T::Q5_K: legacy_block_w<unpack_q5_k, false, true>(j); break;
        case T::Q6_K: k_block<unpack_q6_k, false, true>(j); break;
        case T::IQ4_XS: legacy_block_w<unpack_iq4_xs, true, false>(j); break;
        default: break;
    }
}

}  // namespace

void int8_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
               int64_t r1) {
    if (w.packed) {
        packed_rows(w, ti, a, y, ldy, r0, r1);
        return;
    }
    Job j{};
    j.ti = &ti;
    j.type = w.type;
    j.a = &a;
    j.n_units = a.kpad / kUnit;
    j.n_blocks = w.cols / 32;
    j.unit_bytes = gguf::tensor_row_bytes(w.type, kUnit);
    j.ldy = ldy;
    const size_t rb = w.row_bytes();
    for (int64_t t0 = 0; t0 < a.n; t0 += kTokBlock) {
        j.t0 = t0;
        j.nt = (int)std::min<int64_t>(kTokBlock, a.n - t0);
        for (int64_t r = r0; r < r1; r += kRowBlock) {
            j.rr = (int)std::min<int64_t>(kRowBlock, r1 - r);
            for (int i = 0; i < j.rr; ++i) j.rows[i] = w.data + (size_t)(r + i) * rb;
            const int64_t rn = std::min<int64_t>(kRowBlock, r1 - (r + kRowBlock));
            j.next = rn > 0 ? w.data + (size_t)(r + kRowBlock) * rb : nullptr;
            j.next_bytes = rn > 0 ? (size_t)rn * rb : 0;
            j.y = y + r;
            run_block(j);
        }
    }
}

const char* int8_isa() { return HSD_INT8_ISA; }

}  // namespace hsd::qk
