#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "common/simd.h"
#include "kernels/thread_pool.h"

namespace hsd {

namespace {

constexpr int kRowsPerTask = 8;

#if defined(__AVX512F__)
// Scores of NR query rows (pre-scaled, qs[r * hd + d]) against positions [0, len) of one
// head: s[r * lds + j]. Keys come in blocks of 16 positions x hd dimensions.
template <int NR>
void scores(const float* qs, int hd, const float* k, int64_t len, float* s, int64_t lds) {
    for (int64_t j = 0; j < len; j += kKeyBlock) {
        const float* kb = k + j * hd;
        __m512 acc[NR];
        for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
        for (int d = 0; d < hd; ++d) {
            const __m512 kv = _mm512_loadu_ps(kb + d * kKeyBlock);
            for (int r = 0; r < NR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qs[r * hd + d]), kv, acc[r]);
        }
        for (int r = 0; r < NR; ++r) _mm512_storeu_ps(s + r * lds + j, acc[r]);
    }
}

// out[r] = sum_j p[r * ldp + j] * v[j] for NR rows, the head's NV x 16 outputs in registers.
template <int NV, int NR>
void weighted_sum(const float* p, int64_t ldp, const float* v, int hd, int64_t len, float* const* out) {
    __m512 acc[NR][NV];
    for (int r = 0; r < NR; ++r)
        for (int i = 0; i < NV; ++i) acc[r][i] = _mm512_setzero_ps();
    const __mmask16 last = (__mmask16)(hd % 16 == 0 ? 0xffff : (1u << (hd % 16)) - 1);
    for (int64_t j = 0; j < len; ++j) {
        const float* vj = v + j * hd;
        __m512 vv[NV];
        for (int i = 0; i < NV; ++i) vv[i] = _mm512_maskz_loadu_ps(i == NV - 1 ? last : (__mmask16)0xffff, vj + i * 16);
        for (int r = 0; r < NR; ++r) {
            const __m512 pr = _mm512_set1_ps(p[r * ldp + j]);
            for (int i = 0; i < NV; ++i) acc[r][i] = _mm512_fmadd_ps(pr, vv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < NR; ++r)
        for (int i = 0; i < NV; ++i)
            _mm512_mask_storeu_ps(out[r] + i * 16, i == NV - 1 ? last : (__mmask16)0xffff, acc[r][i]);
}

template <int NV>
void weighted_sum_rows(int nr, const float* p, int64_t ldp, const float* v, int hd, int64_t len, float* const* out) {
    constexpr int RB = NV >= 8 ? 2 : NV >= 4 ? 4 : 8;  // rows per pass: <= 16 accumulators
    for (int r0 = 0; r0 < nr; r0 += RB) {
        const float* pp = p + r0 * ldp;
        switch (std::min(RB, nr - r0)) {
            case 8: if constexpr (RB >= 8) weighted_sum<NV, 8>(pp, ldp, v, hd, len, out + r0); break;
            case 7: if constexpr (RB >= 7) weighted_sum<NV, 7>(pp, ldp, v, hd, len, out + r0); break;
            case 6: if constexpr (RB >= 6) weighted_sum<NV, 6>(pp, ldp, v, hd, len, out + r0); break;
            case 5: if constexpr (RB >= 5) weighted_sum<NV, 5>(pp, ldp, v, hd, len, out + r0); break;
            case 4: if constexpr (RB >= 4) weighted_sum<NV, 4>(pp, ldp, v, hd, len, out + r0); break;
            case 3: if constexpr (RB >= 3) weighted_sum<NV, 3>(pp, ldp, v, hd, len, out + r0); break;
            case 2: weighted_sum<NV, 2>(pp, ldp, v, hd, len, out + r0); break;
            default: weighted_sum<NV, 1>(pp, ldp, v, hd, len, out + r0); break;
        }
    }
}
#endif

// Portable versions, same summation order.
#if !defined(__AVX512F__)
void scores_generic(int nr, const float* qs, int hd, const float* k, int64_t len, float* s, int64_t lds) {
    for (int64_t j = 0; j < len; j += kKeyBlock) {
        const float* kb = k + j * hd;
        for (int r = 0; r < nr; ++r) {
            float acc[kKeyBlock] = {};
            for (int d = 0; d < hd; ++d)
                for (int64_t l = 0; l < kKeyBlock; ++l) acc[l] = std::fma(qs[r * hd + d], kb[d * kKeyBlock + l], acc[l]);
            std::copy(acc, acc + kKeyBlock, s + r * lds + j);
        }
    }
}
#endif

void weighted_sum_generic(int nr, const float* p, int64_t ldp, const float* v, int hd, int64_t len, float* const* out) {
    for (int r = 0; r < nr; ++r) {
        std::fill(out[r], out[r] + hd, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
            const float pj = p[r * ldp + j];
            for (int d = 0; d < hd; ++d) out[r][d] = std::fma(pj, v[j * hd + d], out[r][d]);
        }
    }
}

// One task: kv head `kvh`, query rows [r0, r0 + kRowsPerTask) of one sequence.
void attend_block(const AttentionSeq& a, int n_head, int n_kv, int hd, int64_t blocks, int64_t task) {
    const int group = n_head / n_kv;
    const int64_t q_stride = (int64_t)n_head * hd;
    const float scale = 1.0f / std::sqrt((float)hd);
    const int64_t rows = a.n * group;  // query rows per kv head: (token, head of the group), token-major
    const int64_t p0 = a.p0;
    const float* q = a.q;
    float* out = a.out;
    const int kvh = (int)(task / blocks);
    const int64_t r0 = task % blocks * kRowsPerTask;
    const int nr = (int)std::min<int64_t>(kRowsPerTask, rows - r0);
    const int64_t max_len = p0 + (r0 + nr - 1) / group + 1;
    const int64_t ld = (max_len + kKeyBlock - 1) / kKeyBlock * kKeyBlock;

    static thread_local std::vector<float> qs, s;
    qs.resize((size_t)(kRowsPerTask * hd));
    s.resize((size_t)(kRowsPerTask * ld));
    float* o[kRowsPerTask];
    int64_t len[kRowsPerTask];
    for (int r = 0; r < nr; ++r) {
        const int64_t t = (r0 + r) / group;
        const int h = kvh * group + (int)((r0 + r) % group);
        const float* qh = q + t * q_stride + (int64_t)h * hd;
        for (int d = 0; d < hd; ++d) qs[(size_t)(r * hd + d)] = qh[d] * scale;
        o[r] = out + t * q_stride + (int64_t)h * hd;
        len[r] = p0 + t + 1;
    }
    const float* k = a.keys + (int64_t)kvh * a.capacity * hd;
    const float* v = a.values + (int64_t)kvh * a.capacity * hd;
#if defined(__AVX512F__)
    switch (nr) {
        case 8: scores<8>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 7: scores<7>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 6: scores<6>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 5: scores<5>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 4: scores<4>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 3: scores<3>(qs.data(), hd, k, max_len, s.data(), ld); break;
        case 2: scores<2>(qs.data(), hd, k, max_len, s.data(), ld); break;
        default: scores<1>(qs.data(), hd, k, max_len, s.data(), ld); break;
    }
#else
    scores_generic(nr, qs.data(), hd, k, max_len, s.data(), ld);
#endif
    // Softmax over each row's own causal length; later positions of the block get weight
    // 0 (adding 0 * v leaves every sum unchanged, so rows match single-query results).
    for (int r = 0; r < nr; ++r) {
        float* sr = s.data() + r * ld;
        softmax(sr, len[r]);
        std::fill(sr + len[r], sr + max_len, 0.0f);
    }
#if defined(__AVX512F__)
    switch ((hd + 15) / 16) {
        case 1: weighted_sum_rows<1>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 2: weighted_sum_rows<2>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 3: weighted_sum_rows<3>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 4: weighted_sum_rows<4>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 5: weighted_sum_rows<5>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 6: weighted_sum_rows<6>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 7: weighted_sum_rows<7>(nr, s.data(), ld, v, hd, max_len, o); return;
        case 8: weighted_sum_rows<8>(nr, s.data(), ld, v, hd, max_len, o); return;
        default: break;  // heads wider than 128: portable loop
    }
#endif
    weighted_sum_generic(nr, s.data(), ld, v, hd, max_len, o);
}

int64_t blocks_of(const AttentionSeq& a, int n_head, int n_kv) {
    return (a.n * (n_head / n_kv) + kRowsPerTask - 1) / kRowsPerTask;
}

}  // namespace

void attention_multi(ThreadPool& pool, std::span<const AttentionSeq> seqs, int n_head, int n_kv, int hd) {
    // Tasks of every sequence in one parallel region: (sequence, kv head, row block).
    std::vector<int64_t> first(seqs.size() + 1, 0);
    for (size_t i = 0; i < seqs.size(); ++i) first[i + 1] = first[i] + n_kv * blocks_of(seqs[i], n_head, n_kv);
    pool.parallel_for(first.back(), [&](int64_t task) {
        const size_t i = (size_t)(std::upper_bound(first.begin(), first.end(), task) - first.begin()) - 1;
        attend_block(seqs[i], n_head, n_kv, hd, blocks_of(seqs[i], n_head, n_kv), task - first[i]);
    });
}

void attention(ThreadPool& pool, const float* q, const float* keys, const float* values, int64_t capacity, int64_t n,
               int64_t p0, int n_head, int n_kv, int hd, float* out) {
    const AttentionSeq one{q, keys, values, capacity, n, p0, out};
    attention_multi(pool, {&one, 1}, n_head, n_kv, hd);
}

}  // namespace hsd
