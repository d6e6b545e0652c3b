#include "kernels/quant_pack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/quant_unpack_impl.h"
#include "common/simd.h"

namespace hsd::qk {

namespace {

using T = gguf::TensorType;

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define HSD_PACKED 1

// How the codes of one block (32 columns x 16 rows) are stored, from the unpacked units' codes
// v[s][4r + i] = code of row r, column 32b + 4s + i:
//   Nib4     4 vectors; vector j = k-step j in the low nibbles, k-step j + 4 in the high ones
//   Nib4Lut  the same with each IQ4 level's index                     (IQ4_NL, IQ4_XS)
//   Nib5     Nib4 of the low 4 bits, then 8 x 64-bit masks: bit p of mask s = bit 4 of v[s][p]
//   Nib6     Nib4 of the low 4 bits, then 2 vectors: bits 2i, 2i + 1 of byte p of vector j =
//            bits 4-5 of v[4j + i][p]                                  (Q6_K)
//   Byte8    8 vectors, one per k-step                                 (Q8_0)
enum class Codes { Nib4, Nib4Lut, Nib5, Nib6, Byte8 };
// How the scales are stored (F16 values kept as F16, 6-bit integers as bytes), per unit header
// and per block, 16 rows each:
//   Half8    block: d                                   (Q4_0, Q5_0, Q8_0, IQ4_NL)
//   Half8x2  block: d, then m                           (Q4_1, Q5_1)
//   KSub     header: d, dmin; block: scale, min bytes   (Q4_K, Q5_K)
//   XS       header: d; block: scale less 32 (int8)     (IQ4_XS)
//   Group16  header: d; block: its 2 group scales       (Q6_K)
enum class Scales { Half8, Half8x2, KSub, XS, Group16 };

struct Format {
    Codes codes;
    Scales scales;
};

constexpr int code_bytes(Codes c) {
    switch (c) {
        case Codes::Nib4:
        case Codes::Nib4Lut: return 256;
        case Codes::Nib5: return 320;
        case Codes::Nib6: return 384;
        case Codes::Byte8: return 512;
    }
    return 0;
}
constexpr int header_bytes(Scales s) { return s == Scales::KSub ? 64 : s == Scales::XS || s == Scales::Group16 ? 32 : 0; }
constexpr int block_scale_bytes(Scales s) {
    switch (s) {
        case Scales::Half8: return 32;
        case Scales::Half8x2: return 64;
        case Scales::KSub: return 32;
        case Scales::XS: return 16;
        case Scales::Group16: return 32;
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

Format checked_format(const WeightView& w) {
    Format f{};
    if (!format_of(w.type, f))
        throw std::logic_error(std::string("no packed layout for tensor type ") + gguf::tensor_type_name(w.type));
    return f;
}

// Sizes of the layout (quant_pack.h): a block, a whole unit, a row block.
struct Sizes {
    size_t block, unit, row_block;
    int header, codes;
    int64_t n_units, n_blocks;  // per row: units, and 32-column blocks
};

Sizes sizes_of(const WeightView& w, const Format& f) {
    Sizes z{};
    z.codes = code_bytes(f.codes);
    z.header = header_bytes(f.scales);
    z.block = (size_t)(z.codes + block_scale_bytes(f.scales));
    z.unit = (size_t)z.header + 8 * z.block;
    z.n_units = (w.cols + kUnit - 1) / kUnit;
    z.n_blocks = w.cols / quant::kBlock;
    const int64_t last = z.n_blocks - 8 * (z.n_units - 1);  // blocks of the last unit (K-quants: 8)
    z.row_block = (size_t)(z.n_units - 1) * z.unit + (size_t)z.header + (size_t)last * z.block;
    return z;
}

inline int unit_blocks(const Sizes& z, int64_t u) { return (int)std::min<int64_t>(8, z.n_blocks - 8 * u); }

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

// The index of an IQ4 level code.
uint8_t iq4_index(uint8_t code) {
    for (int i = 0; i < 16; ++i)
        if (unpack::iq4_code(i) == code) return (uint8_t)i;
    throw std::logic_error("IQ4 code " + std::to_string(code) + " is not a level");
}

// v[s][4r + i]: the codes of block b of the 16 rows (absent rows: 0).
void encode_codes(Codes c, const uint8_t (&v)[8][64], uint8_t* out) {
    const int bits = c == Codes::Nib5 ? 5 : c == Codes::Nib6 ? 6 : c == Codes::Byte8 ? 8 : 4;
    for (int s = 0; s < 8; ++s)
        for (int p = 0; p < 64; ++p)
            if (bits < 8 && (v[s][p] >> bits))
                throw std::logic_error("code " + std::to_string(v[s][p]) + " does not fit its packed width");
    if (c == Codes::Byte8) {
        std::memcpy(out, v, 512);
        return;
    }
    for (int j = 0; j < 4; ++j)
        for (int p = 0; p < 64; ++p) out[64 * j + p] = (uint8_t)((v[j][p] & 15) | (v[j + 4][p] & 15) << 4);
    if (c == Codes::Nib5) {
        for (int s = 0; s < 8; ++s) {
            uint64_t m = 0;
            for (int p = 0; p < 64; ++p) m |= (uint64_t)((v[s][p] >> 4) & 1) << p;
            std::memcpy(out + 256 + 8 * s, &m, 8);
        }
    } else if (c == Codes::Nib6) {
        for (int j = 0; j < 2; ++j)
            for (int p = 0; p < 64; ++p) {
                uint8_t h = 0;
                for (int i = 0; i < 4; ++i) h = (uint8_t)(h | ((v[4 * j + i][p] >> 4) & 3) << (2 * i));
                out[256 + 64 * j + p] = h;
            }
    }
}

void put16(uint8_t* out, uint16_t v) { std::memcpy(out, &v, 2); }

template <class B>
const B& block_at(const uint8_t* row, int64_t index) {
    return reinterpret_cast<const B*>(row)[index];
}

// Row r's entries of unit u's scales: the header (K-quants: super-block d, dmin) and the scales
// of its nb blocks (block b's at blocks + b * block_stride).
void encode_scales(T t, const uint8_t* row, int64_t u, int nb, int r, uint8_t* header, uint8_t* blocks,
                   size_t block_stride) {
    using namespace hsd::quant;
    auto at = [&](int b) { return blocks + (size_t)b * block_stride; };
    auto half8 = [&](const auto* x, bool with_m) {  // the legacy types: d (and m) per block
        for (int b = 0; b < nb; ++b) {
            put16(at(b) + 2 * r, x[8 * u + b].d);
            if constexpr (requires { x->m; })
                if (with_m) put16(at(b) + 32 + 2 * r, x[8 * u + b].m);
        }
    };
    auto k4 = [&](const auto& x) {  // Q4_K, Q5_K
        put16(header + 2 * r, x.d), put16(header + 32 + 2 * r, x.dmin);
        uint64_t sc, mn;
        unpack::k4_scale_bytes(x.scales, sc, mn);
        for (int b = 0; b < nb; ++b) at(b)[r] = (uint8_t)(sc >> (8 * b)), at(b)[16 + r] = (uint8_t)(mn >> (8 * b));
    };
    switch (t) {
        case T::Q4_0: half8(reinterpret_cast<const BlockQ4_0*>(row), false); break;
        case T::Q5_0: half8(reinterpret_cast<const BlockQ5_0*>(row), false); break;
        case T::Q8_0: half8(reinterpret_cast<const BlockQ8_0*>(row), false); break;
        case T::IQ4_NL: half8(reinterpret_cast<const BlockIQ4_NL*>(row), false); break;
        case T::Q4_1: half8(reinterpret_cast<const BlockQ4_1*>(row), true); break;
        case T::Q5_1: half8(reinterpret_cast<const BlockQ5_1*>(row), true); break;
        case T::Q4_K: k4(block_at<BlockQ4_K>(row, u)); break;
        case T::Q5_K: k4(block_at<BlockQ5_K>(row, u)); break;
        case T::IQ4_XS: {
            const BlockIQ4_XS& x = block_at<BlockIQ4_XS>(row, u);
            put16(header + 2 * r, x.d);
            const uint64_t ls = unpack::iq4_xs_scale_bytes(x);
            for (int b = 0; b < nb; ++b) at(b)[r] = (uint8_t)(int8_t)((int)((ls >> (8 * b)) & 0xff) - 32);
            break;
        }
        case T::Q6_K: {
            const BlockQ6_K& x = block_at<BlockQ6_K>(row, u);
            put16(header + 2 * r, x.d);
            for (int b = 0; b < nb; ++b) at(b)[r] = (uint8_t)x.scales[2 * b], at(b)[16 + r] = (uint8_t)x.scales[2 * b + 1];
            break;
        }
        default: break;
    }
}

// ---- the kernels (AVX-512 VNNI) ------------------------------------------------------------

// The 8 k-steps of a block as dpbusd operands.
template <Codes C>
inline void block_codes(const uint8_t* c, __m512i (&z)[8]) {
    if constexpr (C == Codes::Byte8) {
        for (int s = 0; s < 8; ++s) z[s] = _mm512_loadu_si512(c + 64 * s);
    } else {
        const __m512i m4 = _mm512_set1_epi8(0xF);
        for (int j = 0; j < 4; ++j) {
            const __m512i v = _mm512_loadu_si512(c + 64 * j);
            z[j] = _mm512_and_si512(v, m4);
            z[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        if constexpr (C == Codes::Nib4Lut) {
            const __m512i lut = unpack::iq4_lut();
            for (int s = 0; s < 8; ++s) z[s] = _mm512_shuffle_epi8(lut, z[s]);
        } else if constexpr (C == Codes::Nib5) {
            const __m512i v16 = _mm512_set1_epi8(16);
            for (int s = 0; s < 8; ++s) {
                uint64_t m;
                std::memcpy(&m, c + 256 + 8 * s, 8);
                z[s] = _mm512_mask_add_epi8(z[s], (__mmask64)m, z[s], v16);
            }
        } else if constexpr (C == Codes::Nib6) {
            const __m512i m2 = _mm512_set1_epi8(0x30);
            for (int j = 0; j < 2; ++j) {
                const __m512i h = _mm512_loadu_si512(c + 256 + 64 * j);
                z[4 * j] = _mm512_or_si512(z[4 * j], _mm512_and_si512(_mm512_slli_epi16(h, 4), m2));
                z[4 * j + 1] = _mm512_or_si512(z[4 * j + 1], _mm512_and_si512(_mm512_slli_epi16(h, 2), m2));
                z[4 * j + 2] = _mm512_or_si512(z[4 * j + 2], _mm512_and_si512(h, m2));
                z[4 * j + 3] = _mm512_or_si512(z[4 * j + 3], _mm512_and_si512(_mm512_srli_epi16(h, 2), m2));
            }
        }
    }
}

inline __m512 halves16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
inline __m512 bytes16(const uint8_t* p, bool is_signed) {
    const __m128i b = _mm_loadu_si128((const __m128i*)p);
    return _mm512_cvtepi32_ps(is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}
inline __m512i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

constexpr int kPackTok = 8;  // most tokens per pass over a row block (accumulators in registers)

// What one row block needs: its bytes, the tokens [t0, t0 + nt).
struct PJob {
    const uint8_t* base;
    Sizes z;
    int rr;
    int off;
    const QuantActs* a;
    int64_t t0;
    int nt;
    float* y;  // row 0 of the block, token 0
    int64_t ldy;
};

// The stream is sequential; a prefetch this far ahead of the block being computed keeps
// enough lines in flight for one core (bench_quant_kernels).
constexpr size_t kAheadBytes = 4096;
inline void prefetch_block(const uint8_t* p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char*)(p + kAheadBytes + o), _MM_HINT_T0);
}

// One token's int8 activations as the lane kernels read them, per unit u and block b (k-step s
// of the block at codes + 64 (s / 2) + 4 (s % 2) in the legacy layout, + 64 (s % 4) + 4 (s / 4)
// in the K layout, transposed by groups of 16).
struct TokenActs {
    const int8_t* q;
    const float* d;
    const int16_t* sums;
    const int8_t* codes(int64_t u, int b) const { return q + u * kUnit + 8 * b; }
    const int16_t* block_sums(int64_t u, int b) const { return sums + u * 16 + 2 * b; }  // its 2 groups of 16
    float scale(int64_t u, int b) const { return d[u * 8 + b]; }
};

template <int NT>
void start_tokens(const PJob& j, TokenActs (&at)[NT], __m512 (&acc)[NT]) {
    const QuantActs& a = *j.a;
    for (int t = 0; t < NT; ++t) {
        const int64_t tt = j.t0 + t;
        at[t] = {a.q.data() + tt * a.kpad, a.d.data() + tt * a.n_scales, a.bsums.data() + tt * (a.kpad / 16)};
        acc[t] = _mm512_setzero_ps();
    }
}

// Lane r of acc[t] is row r of token t0 + t: the block's rr rows are stored.
template <int NT>
void store_lanes(const PJob& j, const __m512 (&acc)[NT]) {
    const __mmask16 m = (__mmask16)(j.rr >= 16 ? 0xffff : (1u << j.rr) - 1);
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(j.y + (j.t0 + t) * j.ldy, m, acc[t]);
}

// Legacy kind (32-column blocks, one scale each): per block and token, 8 dpbusd from the
// offset term (off * the block's activation sum), one convert, and one multiply-add by the 16
// rows' scales times the token's block scale (plus the mins' term).
template <Codes C, Scales S, bool Min, int NT>
void legacy_lanes(const PJob& j) {
    const Sizes z = j.z;
    const int off = j.off;
    TokenActs at[NT];
    __m512 acc[NT];
    start_tokens(j, at, acc);
    for (int64_t u = 0; u < z.n_units; ++u) {
        const uint8_t* unit = j.base + (size_t)u * z.unit;
        __m512 D = _mm512_setzero_ps(), NDM = _mm512_setzero_ps();
        if constexpr (S == Scales::KSub || S == Scales::XS) D = halves16(unit);
        if constexpr (S == Scales::KSub) NDM = _mm512_sub_ps(_mm512_setzero_ps(), halves16(unit + 32));  // -dmin, exact
        const int nb = unit_blocks(z, u);
        for (int b = 0; b < nb; ++b) {
            const uint8_t* bp = unit + z.header + (size_t)b * z.block;
            prefetch_block(bp, z.block);
            __m512i q[8];
            block_codes<C>(bp, q);
            const uint8_t* sp = bp + z.codes;
            __m512 DB, MB = _mm512_setzero_ps();
            if constexpr (S == Scales::Half8 || S == Scales::Half8x2) DB = halves16(sp);
            if constexpr (S == Scales::Half8x2) MB = halves16(sp + 32);
            if constexpr (S == Scales::KSub) DB = _mm512_mul_ps(bytes16(sp, false), D), MB = _mm512_mul_ps(bytes16(sp + 16, false), NDM);
            if constexpr (S == Scales::XS) DB = _mm512_mul_ps(bytes16(sp, true), D);
            for (int t = 0; t < NT; ++t) {
                const int8_t* a = at[t].codes(u, b);
                const int16_t* bs = at[t].block_sums(u, b);
                const int sum = bs[0] + bs[1];
                const float dx = at[t].scale(u, b);
                // Two chains of 4 (exact integer sums), half the latency of one of 8.
                __m512i P = _mm512_set1_epi32(off * sum), P2 = _mm512_setzero_si512();
                for (int s = 0; s < 8; s += 2) {
                    P = _mm512_dpbusd_epi32(P, q[s], bcast4(a + 64 * (s / 2)));
                    P2 = _mm512_dpbusd_epi32(P2, q[s + 1], bcast4(a + 64 * (s / 2) + 4));
                }
                P = _mm512_add_epi32(P, P2);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P), _mm512_mul_ps(DB, _mm512_set1_ps(dx)), acc[t]);
                if (Min) acc[t] = _mm512_fmadd_ps(MB, _mm512_set1_ps(dx * (float)sum), acc[t]);
            }
        }
    }
    store_lanes(j, acc);
}

// K kind (Q6_K: 16-column groups with int8 scales, offset in code units, no min): per group
// and token, 4 dpbusd, one convert and one multiply-add.
template <Codes C, int NT>
void k_lanes(const PJob& j) {
    const Sizes z = j.z;
    const int off = j.off;
    TokenActs at[NT];
    __m512 acc[NT];
    start_tokens(j, at, acc);
    for (int64_t u = 0; u < z.n_units; ++u) {
        const uint8_t* unit = j.base + (size_t)u * z.unit;
        const __m512 D = halves16(unit);
        for (int b = 0; b < 8; ++b) {
            const uint8_t* bp = unit + z.header + (size_t)b * z.block;
            prefetch_block(bp, z.block);
            __m512i q[8];
            block_codes<C>(bp, q);
            const uint8_t* sp = bp + z.codes;
            const __m512 DB0 = _mm512_mul_ps(bytes16(sp, true), D), DB1 = _mm512_mul_ps(bytes16(sp + 16, true), D);
            for (int t = 0; t < NT; ++t) {
                const int8_t* a = at[t].codes(u, b);
                const int16_t* bs = at[t].block_sums(u, b);
                const __m512 DX = _mm512_set1_ps(at[t].scale(u, b));
                __m512i P0 = _mm512_set1_epi32(off * bs[0]), P1 = _mm512_set1_epi32(off * bs[1]);
                for (int s = 0; s < 4; ++s) P0 = _mm512_dpbusd_epi32(P0, q[s], bcast4(a + 64 * s));
                for (int s = 4; s < 8; ++s) P1 = _mm512_dpbusd_epi32(P1, q[s], bcast4(a + 64 * (s - 4) + 4));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P0), _mm512_mul_ps(DB0, DX), acc[t]);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(P1), _mm512_mul_ps(DB1, DX), acc[t]);
            }
        }
    }
    store_lanes(j, acc);
}

template <int NT>
void run_packed(T t, const PJob& j) {
    switch (t) {
        case T::Q4_0: legacy_lanes<Codes::Nib4, Scales::Half8, false, NT>(j); break;
        case T::Q4_1: legacy_lanes<Codes::Nib4, Scales::Half8x2, true, NT>(j); break;
        case T::Q5_0: legacy_lanes<Codes::Nib5, Scales::Half8, false, NT>(j); break;
        case T::Q5_1: legacy_lanes<Codes::Nib5, Scales::Half8x2, true, NT>(j); break;
        case T::Q8_0: legacy_lanes<Codes::Byte8, Scales::Half8, false, NT>(j); break;
        case T::IQ4_NL: legacy_lanes<Codes::Nib4Lut, Scales::Half8, false, NT>(j); break;
        case T::Q4_K: legacy_lanes<Codes::Nib4, Scales::KSub, true, NT>(j); break;
        case T::Q5_K: legacy_lanes<Codes::Nib5, Scales::KSub, true, NT>(j); break;
        case T::IQ4_XS: legacy_lanes<Codes::Nib4Lut, Scales::XS, false, NT>(j); break;
        case T::Q6_K: k_lanes<Codes::Nib6, NT>(j); break;
        default: break;
    }
}

// Tokens in groups of 8, 4, 2, 1 whose accumulators the compiler keeps in registers (a
// runtime count spilled them: a store and a reload per block and token, ~40% of the kernel's
// time at n = 8 by perf annotate). A token's operations do not depend on its group.
void run_tokens(T t, const PJob& j) {
    static_assert(kPackTok == 8);
    if (j.nt == 8) run_packed<8>(t, j);
    else if (j.nt == 4) run_packed<4>(t, j);
    else if (j.nt == 2) run_packed<2>(t, j);
    else run_packed<1>(t, j);
}
#endif

}  // namespace

#ifdef HSD_PACKED
bool packing_supported(gguf::TensorType t) {
    Format f;
    return format_of(t, f);
}

int64_t packed_row_blocks(const WeightView& w) { return (w.rows + kPackRows - 1) / kPackRows; }

size_t packed_size(const WeightView& w) { return (size_t)packed_row_blocks(w) * sizes_of(w, checked_format(w)).row_block; }

void pack_matrix(const WeightView& w, uint8_t* dst, int64_t b0, int64_t b1) {
    const Format f = checked_format(w);
    const Sizes z = sizes_of(w, f);
    const size_t rb = w.row_bytes();
    const bool legacy = type_info(w.type)->kind == Kind::Legacy;
    static_assert(kPackRows * 4 == 64);
    std::vector<Unit> units(kPackRows);
    uint8_t v[8][64];
    for (int64_t blk = b0; blk < b1; ++blk) {
        uint8_t* base = dst + (size_t)blk * z.row_block;
        for (int64_t u = 0; u < z.n_units; ++u) {
            const int nb = legacy ? unit_blocks(z, u) : 8;
            uint8_t* unit = base + (size_t)u * z.unit;
            std::memset(unit, 0, (size_t)z.header + (size_t)nb * z.block);
            int present = 0;
            for (int r = 0; r < kPackRows; ++r) {
                const int64_t row = blk * kPackRows + r;
                if (row >= w.rows) break;  // padding rows stay zero (never stored)
                present = r + 1;
                const uint8_t* src = w.data + (size_t)row * rb;
                std::memset(&units[(size_t)r], 0, sizeof(Unit));
                unpack_unit(w.type, src, u, nb, units[(size_t)r]);
                encode_scales(w.type, src, u, nb, r, unit, unit + z.header + z.codes, z.block);
            }
            for (int b = 0; b < nb; ++b) {
                for (int s = 0; s < 8; ++s)
                    for (int r = 0; r < kPackRows; ++r)
                        for (int i = 0; i < 4; ++i) {
                            const int c = 32 * b + 4 * s + i;
                            uint8_t code = 0;
                            if (r < present) {
                                code = units[(size_t)r].q[legacy ? transposed_pos(c) : transposed16_pos(c)];
                                if (f.codes == Codes::Nib4Lut) code = iq4_index(code);
                            }
                            v[s][4 * r + i] = code;
                        }
                encode_codes(f.codes, v, unit + z.header + (size_t)b * z.block);
            }
        }
    }
}

void packed_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
                 int64_t r1) {
    PJob j{};
    j.z = sizes_of(w, checked_format(w));
    j.off = ti.off;
    j.a = &a;
    j.ldy = ldy;
    // Row blocks outer, token groups inner: a row block (16 rows, 18-50 KiB on the 1B shape)
    // is read from memory once and from cache by the later token groups.
    for (int64_t r = r0; r < r1; r += kPackRows) {
        j.base = w.packed + (size_t)(r / kPackRows) * j.z.row_block;
        j.rr = (int)std::min<int64_t>(kPackRows, r1 - r);
        j.y = y + r;
        for (int64_t t0 = 0; t0 < a.n; t0 += j.nt) {
            const int64_t left = a.n - t0;
            j.t0 = t0;
            j.nt = left >= kPackTok ? kPackTok : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            run_tokens(w.type, j);
        }
    }
}
#else
bool packing_supported(gguf::TensorType) { return false; }
int64_t packed_row_blocks(const WeightView& w) { return (w.rows + kPackRows - 1) / kPackRows; }
size_t packed_size(const WeightView&) { throw std::logic_error("this build has no packed quantized layout"); }
void pack_matrix(const WeightView&, uint8_t*, int64_t, int64_t) {
    throw std::logic_error("this build has no packed quantized layout");
}
void packed_rows(const WeightView&, const TypeInfo&, const QuantActs&, float*, int64_t, int64_t, int64_t) {
    throw std::logic_error("this build has no packed quantized layout");
}
#endif

}  // namespace hsd::qk
