#include "kernels/quant_act.h"

#include <algorithm>
#include <cmath>

#include "common/simd.h"

namespace hsd::qk {

void prepare_acts(Kind kind, int64_t n, int64_t cols, QuantActs& a) {
    a.kind = kind;
    a.n = n;
    a.cols = cols;
    a.kpad = (cols + kUnit - 1) / kUnit * kUnit;
    a.n_scales = a.kpad / 32;  // both kinds: one scale per 32 values (see quant_act.h)
    a.q.resize((size_t)(n * a.kpad));
    a.d.resize((size_t)(n * a.n_scales));
    a.bsums.resize((size_t)(n * a.kpad / 16));
}

namespace {

#if defined(__AVX512F__) && defined(__AVX512BW__)
// The same quantization 16 values at a time (a decode step quantizes each matrix input on
// one thread while the others wait). cvtps rounds to nearest even, as nearbyint does.
void quantize_block(const float* x, int64_t cnt, int64_t blk, int8_t* q, float* d) {
    __m512 m = _mm512_setzero_ps();
    for (int64_t j = 0; j < cnt; j += 16) {
        const __mmask16 k = (__mmask16)(cnt - j >= 16 ? 0xffff : (1u << (cnt - j)) - 1);
        m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + j)));
    }
    const float amax = _mm512_reduce_max_ps(m);
    const __m512 id = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    *d = amax / 127.0f;
    for (int64_t j = 0; j < blk; j += 16) {
        const int64_t left = std::max<int64_t>(0, cnt - j);
        const __mmask16 k = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), id));
        _mm_storeu_si128((__m128i*)(q + j), _mm512_cvtsepi32_epi8(v));
    }
}
#else
void quantize_block(const float* x, int64_t cnt, int64_t blk, int8_t* q, float* d) {
    float amax = 0;
    for (int64_t j = 0; j < cnt; ++j) amax = std::max(amax, std::fabs(x[j]));
    // Round to nearest even of x * 127 / amax: |q| <= 127, so q never is -128 (AVX2's
    // sign trick and maddubs rely on it).
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    *d = amax / 127.0f;
    for (int64_t j = 0; j < cnt; ++j) q[j] = (int8_t)std::nearbyint(x[j] * id);
    std::fill(q + cnt, q + blk, (int8_t)0);
}
#endif

}  // namespace

void quantize_token(const float* x, int64_t t, QuantActs& a) {
    const int64_t blk = a.kpad / a.n_scales;
    int8_t* q = a.q.data() + t * a.kpad;
    float* d = a.d.data() + t * a.n_scales;
    for (int64_t b = 0; b < a.n_scales; ++b) {
        const int64_t c0 = b * blk, cnt = std::clamp<int64_t>(a.cols - c0, 0, blk);
        quantize_block(x + c0, cnt, blk, q + c0, d + b);
    }
    int16_t* s = a.bsums.data() + t * (a.kpad / 16);
    for (int64_t g = 0; g < a.kpad / 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += q[g * 16 + j];
        s[g] = (int16_t)sum;
    }
    if (kLegacyTransposed)
        for (int64_t u = 0; u < a.kpad / kUnit; ++u) {
            uint8_t* unit = reinterpret_cast<uint8_t*>(q + u * kUnit);
            a.kind == Kind::Legacy ? transpose_unit(unit) : transpose16_unit(unit);
        }
}

}  // namespace hsd::qk
