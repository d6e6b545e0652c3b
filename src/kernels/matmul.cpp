#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/simd.h"
#ifdef HSD_HAVE_BLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

#include "common/fp16.h"
#include "kernels/ops.h"
#include "kernels/quant_act.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_pack.h"
#include "kernels/thread_pool.h"
#include "quant/dequantize.h"

namespace hsd {

namespace {

constexpr int kRows = 4;         // weight rows decoded per block
constexpr int64_t kChunk = 2048;  // columns decoded at a time: kRows x kChunk floats = 32 KiB
constexpr int64_t kPanelRows = 64;  // rows per BLAS panel

int64_t g_blas_threshold =
#ifdef HSD_HAVE_BLAS
    48;
#else
    0;
#endif

// ---- F32 micro-kernel: RR weight rows x TT activation rows over kc columns -------------------
// w rows are at stride ldw, x rows at stride ldx; results are added to y[t*ldy + r].

#if defined(__AVX512F__)
inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

template <int RR, int TT>
void tile(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc, float* y, int64_t ldy) {
    __m512 acc[RR][TT];
    for (int r = 0; r < RR; ++r)
        for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 wv[RR];
        for (int r = 0; r < RR; ++r) wv[r] = _mm512_loadu_ps(w + r * ldw + k);
        for (int t = 0; t < TT; ++t) {
            const __m512 xv = _mm512_loadu_ps(x + t * ldx + k);
            for (int r = 0; r < RR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (k < kc) {
        const __mmask16 m = (__mmask16)((1u << (kc - k)) - 1);
        __m512 wv[RR];
        for (int r = 0; r < RR; ++r) wv[r] = _mm512_maskz_loadu_ps(m, w + r * ldw + k);
        for (int t = 0; t < TT; ++t) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + k);
            for (int r = 0; r < RR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    for (int t = 0; t < TT; ++t)
        for (int r = 0; r < RR; ++r) y[t * ldy + r] += hsum(acc[r][t]);
}
#elif defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <int RR, int TT>
void tile(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc, float* y, int64_t ldy) {
    __m256 acc[RR][TT];
    for (int r = 0; r < RR; ++r)
        for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 wv[RR];
        for (int r = 0; r < RR; ++r) wv[r] = _mm256_loadu_ps(w + r * ldw + k);
        for (int t = 0; t < TT; ++t) {
            const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
            for (int r = 0; r < RR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    float tail[RR][TT] = {};
    for (; k < kc; ++k)
        for (int t = 0; t < TT; ++t)
            for (int r = 0; r < RR; ++r) tail[r][t] += w[r * ldw + k] * x[t * ldx + k];
    for (int t = 0; t < TT; ++t)
        for (int r = 0; r < RR; ++r) y[t * ldy + r] += hsum(acc[r][t]) + tail[r][t];
}
#else
template <int RR, int TT>
void tile(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc, float* y, int64_t ldy) {
    for (int t = 0; t < TT; ++t)
        for (int r = 0; r < RR; ++r) {
            float s = 0;
            for (int64_t k = 0; k < kc; ++k) s += w[r * ldw + k] * x[t * ldx + k];
            y[t * ldy + r] += s;
        }
}
#endif

#if defined(__AVX512F__)
#define HSD_PANEL_F16 1
// Outer-product kernel on a packed F16 panel (kPanel = 32 rows, column-major): for each
// column k, two 16-row weight vectors are converted in registers and multiplied by the
// broadcast x[t][k] of up to 8 tokens (16 accumulators). The weights are one sequential
// stream read once per call, there is no horizontal reduction, and every output is one
// accumulator lane summed over k in order, so results are bit-identical for any n.
constexpr int64_t kPrefetchColumns = 32;

// 16 weights of a panel column as F32: F16 by conversion, BF16 by a shift (its bits are the
// high half of an F32's).
template <bool Bf16>
inline __m512 panel_load(const uint16_t* p) {
    const __m256i h = _mm256_load_si256((const __m256i*)p);
    if constexpr (Bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else return _mm512_cvtph_ps(h);
}

template <int TT, bool Bf16>
void panel_f16(const uint16_t* p, int64_t K, const float* x, float* y, int64_t ldy, int valid) {
    __m512 acc[TT][2];
    for (int t = 0; t < TT; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        // Software prefetch 2 KiB ahead: with 8 tokens the kernel is compute-bound and the
        // hardware prefetcher alone falls behind (measured +30% GMAC/s at n = 8, neutral at n = 1).
        _mm_prefetch((const char*)(p + (k + kPrefetchColumns) * kPanel), _MM_HINT_T0);
        const __m512 w0 = panel_load<Bf16>(p + k * kPanel);
        const __m512 w1 = panel_load<Bf16>(p + k * kPanel + 16);
        for (int t = 0; t < TT; ++t) {
            const __m512 xb = _mm512_set1_ps(x[t * K + k]);
            acc[t][0] = _mm512_fmadd_ps(w0, xb, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(w1, xb, acc[t][1]);
        }
    }
    if (valid == kPanel) {
        for (int t = 0; t < TT; ++t) {
            _mm512_storeu_ps(y + t * ldy, acc[t][0]);
            _mm512_storeu_ps(y + t * ldy + 16, acc[t][1]);
        }
    } else {  // last, partial panel of a matrix whose rows are not a multiple of kPanel
        const __mmask16 m0 = (__mmask16)(valid >= 16 ? 0xffff : (1u << valid) - 1);
        const __mmask16 m1 = (__mmask16)(valid <= 16 ? 0 : (1u << (valid - 16)) - 1);
        for (int t = 0; t < TT; ++t) {
            _mm512_mask_storeu_ps(y + t * ldy, m0, acc[t][0]);
            _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[t][1]);
        }
    }
}

// Panels [p0, p1) of a packed matrix times all n tokens, 8 tokens per pass.
template <bool Bf16>
void matmul_panels(const WeightView& w, const float* x, int64_t n, float* y, int64_t p0, int64_t p1) {
    const int64_t K = w.cols;
    for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* panel = w.panels + p * K * kPanel;
        const int valid = (int)std::min<int64_t>(kPanel, w.rows - p * kPanel);
        for (int64_t t = 0; t < n; t += 8) {
            const float* xx = x + t * K;
            float* yy = y + t * w.rows + p * kPanel;
            switch (std::min<int64_t>(8, n - t)) {
                case 8: panel_f16<8, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 7: panel_f16<7, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 6: panel_f16<6, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 5: panel_f16<5, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 4: panel_f16<4, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 3: panel_f16<3, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                case 2: panel_f16<2, Bf16>(panel, K, xx, yy, w.rows, valid); break;
                default: panel_f16<1, Bf16>(panel, K, xx, yy, w.rows, valid); break;
            }
        }
    }
}
#endif

// All n activation rows against RR decoded weight rows, 4 activation rows at a time.
template <int RR>
void rows_times_batch(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t n, int64_t kc, float* y,
                      int64_t ldy) {
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) tile<RR, 4>(w, ldw, x + t * ldx, ldx, kc, y + t * ldy, ldy);
    switch (n - t) {
        case 3: tile<RR, 3>(w, ldw, x + t * ldx, ldx, kc, y + t * ldy, ldy); break;
        case 2: tile<RR, 2>(w, ldw, x + t * ldx, ldx, kc, y + t * ldy, ldy); break;
        case 1: tile<RR, 1>(w, ldw, x + t * ldx, ldx, kc, y + t * ldy, ldy); break;
        default: break;
    }
}

// Rows [r0, r1) of the output for all n tokens: decode kRows rows x kChunk columns, multiply.
void matmul_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
    alignas(64) static thread_local float buf[kRows * kChunk];
    for (int64_t t = 0; t < n; ++t) std::fill(y + t * w.rows + r0, y + t * w.rows + r1, 0.0f);
    for (int64_t r = r0; r < r1; r += kRows) {
        const int rr = (int)std::min<int64_t>(kRows, r1 - r);

        for (int64_t c0 = 0; c0 < w.cols; c0 += kChunk) {
            const int64_t kc = std::min(kChunk, w.cols - c0);
            for (int i = 0; i < rr; ++i) decode_row(w, r + i, c0, kc, buf + i * kChunk);
            float* yy = y + r;
            const float* xx = x + c0;
            switch (rr) {
                case 4: rows_times_batch<4>(buf, kChunk, xx, w.cols, n, kc, yy, w.rows); break;
                case 3: rows_times_batch<3>(buf, kChunk, xx, w.cols, n, kc, yy, w.rows); break;
                case 2: rows_times_batch<2>(buf, kChunk, xx, w.cols, n, kc, yy, w.rows); break;
                default: rows_times_batch<1>(buf, kChunk, xx, w.cols, n, kc, yy, w.rows); break;
            }
        }
    }
}

#ifdef HSD_HAVE_BLAS
// Large batches: decode a panel of rows once and let sgemm do the n x panel product.
void matmul_blas_panel(const WeightView& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
    static thread_local std::vector<float> panel;
    panel.resize((size_t)(kPanelRows * w.cols));
    const int64_t pr = r1 - r0;
    for (int64_t i = 0; i < pr; ++i) decode_row(w, r0 + i, 0, w.cols, panel.data() + i * w.cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)pr, (int)w.cols, 1.0f, x, (int)w.cols,
                panel.data(), (int)w.cols, 0.0f, y + r0, (int)w.rows);
}
#endif


// Rows per block of work: a panel, a packed row block, or kRows decoded rows.
int64_t rows_per_block(const WeightView& w) { return w.panels ? kPanel : w.packed ? qk::kPackRows : kRows; }

int64_t blocks_of(const WeightView& w) {
    const int64_t unit = rows_per_block(w);
    return (w.rows + unit - 1) / unit;
}

// Work of one parallel region: blocks [b0, b1) of job `job` (F16 panels, or kRows-row blocks).
struct Range {
    int job;
    int64_t b0, b1;
};

// The blocks of all jobs are cut into contiguous ranges of decreasing size ("guided"
// scheduling: each range takes 1/(2 x threads) of what is left, at least one block), so every
// thread streams long runs of weights and the last, small ranges even out the threads'
// finishing times. Returns the calling thread's buffer (workers reach it by reference).
std::vector<Range>& guided_ranges(const ThreadPool& pool, const MatmulJob* jobs, int n_jobs) {
    static thread_local std::vector<Range> ranges;
    ranges.clear();
    int64_t left = 0;
    for (int j = 0; j < n_jobs; ++j) left += blocks_of(*jobs[j].w);
    const int64_t split = 2 * (int64_t)pool.size();
    for (int j = 0; j < n_jobs; ++j) {
        const int64_t blocks = blocks_of(*jobs[j].w);
        for (int64_t b = 0; b < blocks;) {
            const int64_t take = std::min(blocks - b, std::max<int64_t>(1, (left + split - 1) / split));
            ranges.push_back({j, b, b + take});
            b += take;
            left -= take;
        }
    }
    return ranges;
}

bool is_quantized(gguf::TensorType t) {
    return t != gguf::TensorType::F32 && t != gguf::TensorType::F16 && t != gguf::TensorType::BF16;
}

// Int8 by default: 2-5x the F32 path at every batch size on every type (bench_quant_kernels).
QuantActivations g_quant_activations = QuantActivations::Int8;

// The int8 activations of one call, one set per kind its matrices need (quantized once
// for all the matrices of the call); kinds left null are not needed.
struct Int8Acts {
    const qk::QuantActs* by_kind[2] = {nullptr, nullptr};
};

const qk::TypeInfo* int8_info(const WeightView& w) {
    return g_quant_activations == QuantActivations::Int8 ? qk::type_info(w.type) : nullptr;
}

// Quantizes x for the kinds the jobs' weights need, into the calling thread's buffers.
Int8Acts quantize_for(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n) {
    static thread_local qk::QuantActs buf[2];
    Int8Acts acts;
    for (int j = 0; j < n_jobs; ++j) {
        const qk::TypeInfo* ti = int8_info(*jobs[j].w);
        if (!ti || acts.by_kind[(int)ti->kind]) continue;
        qk::QuantActs& a = buf[(int)ti->kind];
        const int64_t cols = jobs[j].w->cols;
        qk::prepare_acts(ti->kind, n, cols, a);
        if (n == 1) qk::quantize_token(x, 0, a);
        else pool.parallel_for(n, [&](int64_t t) { qk::quantize_token(x + t * cols, t, a); });
        acts.by_kind[(int)ti->kind] = &a;
    }
    return acts;
}

// Rows of blocks [b0, b1) of w, all n tokens, with whichever kernel serves w.
void matmul_blocks(const WeightView& w, const float* x, int64_t n, float* y, int64_t b0, int64_t b1,
                   const Int8Acts& acts) {
    if (const qk::TypeInfo* ti = int8_info(w)) {
        const int64_t unit = rows_per_block(w);
        qk::int8_rows(w, *ti, *acts.by_kind[(int)ti->kind], y, w.rows, b0 * unit, std::min(w.rows, b1 * unit));
        return;
    }
#ifdef HSD_PANEL_F16
    if (w.panels) {
        if (w.type == gguf::TensorType::BF16) matmul_panels<true>(w, x, n, y, b0, b1);
        else matmul_panels<false>(w, x, n, y, b0, b1);
        return;
    }
#endif
    const int64_t unit = rows_per_block(w);  // packed F16 on a build without the panel kernel
    matmul_rows(w, x, n, y, b0 * unit, std::min(w.rows, b1 * unit));
}

}  // namespace

void decode_row(const WeightView& w, int64_t row, int64_t col0, int64_t count, float* dst) {
    const int64_t block = (int64_t)gguf::tensor_block_size(w.type);
    const uint8_t* base = w.data + (size_t)row * w.row_bytes() + gguf::tensor_row_bytes(w.type, (uint64_t)(col0 / block * block));
    quant::dequantize_row(w.type, base, dst, count);
}

void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n, float* y) {
    const MatmulJob job{&w, y};
    matmul_multi(pool, &job, 1, x, n);
}

void matmul_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n) {
#ifdef HSD_HAVE_BLAS
    // Large batches on weights without a packed panel layout (BF16, F32, unpacked F16):
    // decode 64-row panels and let sgemm do the product. Packed F16 is measured faster with
    // our own kernel at every batch size (docs/BENCHMARKS.md), so it never comes here, nor do
    // quantized weights: sgemm's blocking depends on n, which would make a token's result
    // depend on its batch.
    bool all_unpacked = true;
    for (int j = 0; j < n_jobs; ++j)
        all_unpacked = all_unpacked && jobs[j].w->panels == nullptr && !is_quantized(jobs[j].w->type);
    if (g_blas_threshold > 0 && n >= g_blas_threshold && all_unpacked) {
        static const bool once = [] { openblas_set_num_threads(1); return true; }();
        (void)once;
        for (int j = 0; j < n_jobs; ++j) {
            const WeightView& w = *jobs[j].w;
            const int64_t n_panels = (w.rows + kPanelRows - 1) / kPanelRows;
            pool.parallel_for(n_panels, [&](int64_t p) {
                const int64_t r0 = p * kPanelRows;
                matmul_blas_panel(w, x, n, jobs[j].y, r0, std::min(w.rows, r0 + kPanelRows));
            });
        }
        return;
    }
#endif
    const Int8Acts acts = quantize_for(pool, jobs, n_jobs, x, n);
    std::vector<Range>& ranges = guided_ranges(pool, jobs, n_jobs);
    const int64_t n_ranges = (int64_t)ranges.size();
    pool.parallel_for(n_ranges, [&](int64_t t) {
        const Range& r = ranges[(size_t)t];
        matmul_blocks(*jobs[r.job].w, x, n, jobs[r.job].y, r.b0, r.b1, acts);
    });
}

void matmul_swiglu(ThreadPool& pool, const WeightView& gate, const WeightView& up, const float* x, int64_t n,
                   float* g, float* u) {
    const bool fused = gate.rows == up.rows && gate.cols == up.cols && rows_per_block(gate) == rows_per_block(up)
#ifdef HSD_HAVE_BLAS
                       && !(g_blas_threshold > 0 && n >= g_blas_threshold && !gate.panels && !is_quantized(gate.type))
#endif
        ;
    if (!fused) {
        const MatmulJob jobs[2] = {{&gate, g}, {&up, u}};
        matmul_multi(pool, jobs, 2, x, n);
        silu_mul(g, u, n * gate.rows);
        return;
    }
    // Each range computes the same rows of both products, then applies silu(g) * u to them
    // while they are in cache: no serial pass over n x n_ff values afterwards.
    const MatmulJob job{&gate, g};
    const MatmulJob both[2] = {{&gate, g}, {&up, u}};
    const Int8Acts acts = quantize_for(pool, both, 2, x, n);
    std::vector<Range>& ranges = guided_ranges(pool, &job, 1);
    const int64_t unit = rows_per_block(gate);
    pool.parallel_for((int64_t)ranges.size(), [&](int64_t t) {
        const Range& r = ranges[(size_t)t];
        matmul_blocks(gate, x, n, g, r.b0, r.b1, acts);
        matmul_blocks(up, x, n, u, r.b0, r.b1, acts);
        const int64_t r0 = r.b0 * unit, r1 = std::min(gate.rows, r.b1 * unit);
        for (int64_t i = 0; i < n; ++i) silu_mul(g + i * gate.rows + r0, u + i * gate.rows + r0, r1 - r0);
    });
}

bool panels_supported(gguf::TensorType t) {
#ifdef HSD_PANEL_F16
    return t == gguf::TensorType::F16 || t == gguf::TensorType::BF16;
#else
    (void)t;
    return false;
#endif
}

size_t panels_size(const WeightView& w) { return (size_t)((w.rows + kPanel - 1) / kPanel * kPanel * w.cols); }

void pack_panels(const WeightView& w, uint16_t* dst) {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(w.data);
    const int64_t n_panels = (w.rows + kPanel - 1) / kPanel;
    for (int64_t p = 0; p < n_panels; ++p) {
        uint16_t* out = dst + p * w.cols * kPanel;
        for (int64_t j = 0; j < kPanel; ++j) {
            const int64_t r = p * kPanel + j;
            for (int64_t k = 0; k < w.cols; ++k) out[k * kPanel + j] = r < w.rows ? src[r * w.cols + k] : 0;
        }
    }
}

void matmul_reference(const WeightView& w, const float* x, int64_t n, float* y) {
    std::vector<float> row((size_t)w.cols);
    for (int64_t r = 0; r < w.rows; ++r) {
        decode_row(w, r, 0, w.cols, row.data());
        for (int64_t t = 0; t < n; ++t) {
            double s = 0;
            for (int64_t k = 0; k < w.cols; ++k) s += (double)row[(size_t)k] * x[t * w.cols + k];
            y[t * w.rows + r] = (float)s;
        }
    }
}

QuantActivations quant_activations() { return g_quant_activations; }
void set_quant_activations(QuantActivations a) { g_quant_activations = a; }

int64_t matmul_blas_threshold() { return g_blas_threshold; }
void set_matmul_blas_threshold(int64_t n) { g_blas_threshold = n; }

}  // namespace hsd
