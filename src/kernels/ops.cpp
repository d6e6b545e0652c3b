#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "common/simd.h"
#include "kernels/vec_exp.h"

namespace hsd {

void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out) {
    double ss = 0;
    int64_t i0 = 0;
#if defined(__AVX512F__)
    // Sum of squares in 16 double lanes (a fixed order: the result depends only on x).
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    for (; i0 + 16 <= d; i0 += 16) {
        const __m512 v = _mm512_loadu_ps(x + i0);
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    ss = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
#endif
    for (int64_t i = i0; i < d; ++i) ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / std::sqrt(ss / (double)d + (double)eps));
    for (int64_t i = 0; i < d; ++i) out[i] = x[i] * scale * w[i];
}

namespace {
// Rotates pair i of every head by the angle whose (cos, sin) is cs[2i], cs[2i+1]: the pair is
// (2i, 2i+1) in the Normal layout, (i, i + half) in the Neox one.
inline void rotate_pairs(float* x, int n_heads, int head_dim, int half, RopeLayout layout, const float* cs) {
    const int stride = layout == RopeLayout::Neox ? 1 : 2, other = layout == RopeLayout::Neox ? half : 1;
    for (int i = 0; i < half; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; ++h) {
            float* p = x + (int64_t)h * head_dim + stride * i;
            const float a = p[0], b = p[other];
            p[0] = a * c - b * s;
            p[other] = a * s + b * c;
        }
    }
}

// cos/sin of theta_i (see ops.h), computed in double and rounded once, for i < rope_dim/2.
void rope_angles(int64_t pos, const RopeSpec& r, float* cs) {
    const double p = (double)pos / r.position_scale;
    for (int i = 0; i < r.rope_dim / 2; ++i) {
        double theta = p * std::pow((double)r.base, -2.0 * i / r.rope_dim);
        if (!r.freq_factors.empty()) theta /= (double)r.freq_factors[(size_t)i];
        cs[2 * i] = (float)std::cos(theta);
        cs[2 * i + 1] = (float)std::sin(theta);
    }
}
}  // namespace

void rope(float* x, int n_heads, int head_dim, const RopeSpec& spec, int64_t pos) {
    std::vector<float> cs((size_t)spec.rope_dim);
    rope_angles(pos, spec, cs.data());
    rotate_pairs(x, n_heads, head_dim, spec.rope_dim / 2, spec.layout, cs.data());
}

void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base) {
    rope(x, n_heads, head_dim, RopeSpec{rope_dim, base, RopeLayout::Normal, {}, 1.0}, pos);
}

void RopeTable::apply(float* x, int n_heads, int head_dim, int64_t pos) {
    const size_t row = (size_t)spec_.rope_dim;  // rope_dim/2 pairs of (cos, sin)
    const int64_t have = row ? (int64_t)(cs_.size() / row) : 0;
    if (pos >= have) {
        const int64_t want = std::max<int64_t>(pos + 1, 2 * have);
        cs_.resize((size_t)want * row);
        for (int64_t p = have; p < want; ++p) rope_angles(p, spec_, cs_.data() + (size_t)p * row);
    }
    rotate_pairs(x, n_heads, head_dim, spec_.rope_dim / 2, spec_.layout, cs_.data() + (size_t)pos * row);
}

void exp_approx(const float* x, int64_t n, float* out) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, exp512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, m, exp512(_mm512_maskz_loadu_ps(m, x + i)));
        i = n;
    }
#endif
    for (; i < n; ++i) out[i] = std::exp(x[i]);
}

void silu_mul(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        _mm512_mask_storeu_ps(gate + i, m,
                              _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i)));
        i = n;
    }
#endif
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* x, int64_t n) {
    if (n <= 0) return;
#if defined(__AVX512F__)
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(vmax);
    for (; i < n; ++i) mx = std::max(mx, x[i]);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(x + i, m, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(s0, s1))));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
#else
    float mx = x[0];
    for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
#endif
}

void add(float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

}  // namespace hsd
