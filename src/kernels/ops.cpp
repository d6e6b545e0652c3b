#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/thread_pool.h"

#include "kernels/simd.h"

namespace hsd {


void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / std::sqrt(ss / (double)d + (double)eps));
    for (int64_t i = 0; i < d; ++i) out[i] = x[i] * scale * w[i];
}

void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base) {
    for (int i = 0; i < rope_dim / 2; ++i) {
        const double theta = (double)pos * std::pow((double)base, -2.0 * i / rope_dim);
        const float c = (float)std::cos(theta), s = (float)std::sin(theta);
        for (int h = 0; h < n_heads; ++h) {
            float* p = x + (int64_t)h * head_dim + 2 * i;
            const float a = p[0], b = p[1];
            p[0] = a * c - b * s;
            p[1] = a * s + b * c;
        }
    }
}

void silu_mul(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void add(float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

void attention(ThreadPool& pool, const float* q, const float* k_t, int64_t k_stride, const float* v_cache, int64_t n,
               int64_t p0, int n_head, int n_kv, int hd, float* out) {
    const int group = n_head / n_kv;
    const int64_t q_stride = (int64_t)n_head * hd;
    const int64_t kv_stride = (int64_t)n_kv * hd;
    const float scale = 1.0f / std::sqrt((float)hd);
    pool.parallel_for(n * n_head, [&](int64_t task) {
        const int64_t t = task / n_head;
        const int h = (int)(task % n_head);
        const int kvh = h / group;
        const int64_t len = p0 + t + 1;  // causal: positions [0, p0 + t]
        static thread_local std::vector<float> scores;
        scores.resize((size_t)len);
        float* s = scores.data();
        const float* qh = q + t * q_stride + (int64_t)h * hd;
        const float* kt = k_t + (int64_t)kvh * hd * k_stride;
        float* o = out + t * q_stride + (int64_t)h * hd;
        const float* vh = v_cache + (int64_t)kvh * hd;
#if defined(__AVX512F__)
        // Scores, 16 positions at a time: sum over dimensions in a register (keys are
        // stored transposed, so each dimension is a contiguous load), no horizontal sums.
        for (int64_t j = 0; j < len; j += 16) {
            const __mmask16 m = len - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (len - j)) - 1);
            __m512 acc = _mm512_setzero_ps();
            for (int d = 0; d < hd; ++d)
                acc = _mm512_fmadd_ps(_mm512_set1_ps(qh[d] * scale), _mm512_maskz_loadu_ps(m, kt + d * k_stride + j), acc);
            _mm512_mask_storeu_ps(s + j, m, acc);
        }
        softmax(s, len);
        // Output: the head's hd values stay in registers (up to 8 x 16) while positions stream by.
        if (hd <= 128) {
            __m512 acc[8];
            const int nv = (hd + 15) / 16;
            for (int i = 0; i < nv; ++i) acc[i] = _mm512_setzero_ps();
            const __mmask16 last = (__mmask16)(hd % 16 == 0 ? 0xffff : (1u << (hd % 16)) - 1);
            for (int64_t j = 0; j < len; ++j) {
                const __m512 p = _mm512_set1_ps(s[j]);
                const float* vj = vh + j * kv_stride;
                for (int i = 0; i < nv; ++i) {
                    const __mmask16 m = i == nv - 1 ? last : (__mmask16)0xffff;
                    acc[i] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m, vj + i * 16), acc[i]);
                }
            }
            for (int i = 0; i < nv; ++i) _mm512_mask_storeu_ps(o + i * 16, i == nv - 1 ? last : (__mmask16)0xffff, acc[i]);
            return;
        }
#else
        std::fill(s, s + len, 0.0f);
        for (int d = 0; d < hd; ++d) {
            const float qd = qh[d] * scale;
            const float* kd = kt + d * k_stride;
            for (int64_t j = 0; j < len; ++j) s[j] += qd * kd[j];
        }
        softmax(s, len);
#endif
        std::fill(o, o + hd, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
            const float* vj = vh + j * kv_stride;
            const float p = s[j];
            for (int d = 0; d < hd; ++d) o[d] += p * vj[d];
        }
    });
}

}  // namespace hsd
