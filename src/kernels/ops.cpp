#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/thread_pool.h"

#include "kernels/simd.h"

namespace hsd {

namespace {
// Dot product of two short rows (a head's query and key). Vectorized explicitly because
// the compiler may not reorder a float reduction on its own.
inline float dot(const float* a, const float* b, int n) {
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
#else
    float s = 0;
    for (int i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
#endif
}
}  // namespace

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

void attention(ThreadPool& pool, const float* q, const float* k_cache, const float* v_cache, int64_t n, int64_t p0,
               int n_head, int n_kv, int hd, float* out) {
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
        const float* qh = q + t * q_stride + (int64_t)h * hd;
        for (int64_t j = 0; j < len; ++j) {
            const float* kj = k_cache + j * kv_stride + (int64_t)kvh * hd;
            scores[(size_t)j] = dot(qh, kj, hd) * scale;
        }
        softmax(scores.data(), len);
        float* o = out + t * q_stride + (int64_t)h * hd;
        std::fill(o, o + hd, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
            const float* vj = v_cache + j * kv_stride + (int64_t)kvh * hd;
            const float p = scores[(size_t)j];
            for (int d = 0; d < hd; ++d) o[d] += p * vj[d];
        }
    });
}

}  // namespace hsd
