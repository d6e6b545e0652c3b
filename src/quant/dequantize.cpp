#include "quant/dequantize.h"

#include <cstring>
#include <fmt/format.h>

#include "common/error.h"
#include "common/fp16.h"
#include "kernels/simd.h"
#include "quant/blocks.h"

namespace hsd::quant {

namespace {

// ---- decoding one row segment to F32 -------------------------------------------------------

void decode_f16(const uint16_t* src, int64_t n, float* dst) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src + i))));
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + i))));
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void decode_bf16(const uint16_t* src, int64_t n, float* dst) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void decode_q8_0(const BlockQ8_0* blocks, int64_t n, float* dst) {
    for (int64_t b = 0; b < n / (int64_t)kBlock; ++b) {
        const float d = f16_to_f32(blocks[b].d);
        const int8_t* q = blocks[b].qs;
        float* o = dst + b * kBlock;
#if defined(__AVX512F__)
        const __m512 vd = _mm512_set1_ps(d);
        for (int j = 0; j < 32; j += 16) {
            const __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(q + j)));
            _mm512_storeu_ps(o + j, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vd));
        }
#elif defined(__AVX2__)
        const __m256 vd = _mm256_set1_ps(d);
        for (int j = 0; j < 32; j += 8) {
            const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + j)));
            _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vd));
        }
#else
        for (int j = 0; j < 32; ++j) o[j] = d * (float)q[j];
#endif
    }
}

}  // namespace

void dequantize_row(gguf::TensorType type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case gguf::TensorType::F32: std::memcpy(dst, src, (size_t)n * sizeof(float)); return;
        case gguf::TensorType::F16: decode_f16(static_cast<const uint16_t*>(src), n, dst); return;
        case gguf::TensorType::BF16: decode_bf16(static_cast<const uint16_t*>(src), n, dst); return;
        case gguf::TensorType::Q8_0: decode_q8_0(static_cast<const BlockQ8_0*>(src), n, dst); return;
        default: break;
    }
    fail(fmt::format("dequantize_row: tensor type {} is not implemented", gguf::tensor_type_name(type)));
}

}  // namespace hsd::quant
