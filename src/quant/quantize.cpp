#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/blocks.h"

namespace hsd::quant {

namespace {

void quantize_q8_0(const float* x, BlockQ8_0* out, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b) {
        const float* xb = x + b * kBlock;
        float amax = 0;
        for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16(d);
        for (int j = 0; j < kBlock; ++j) out[b].qs[j] = (int8_t)std::lround(xb[j] * id);
    }
}

}  // namespace

void quantize_row(gguf::TensorType type, const float* src, void* dst, int64_t n) {
    switch (type) {
        case gguf::TensorType::F32: std::memcpy(dst, src, (size_t)n * sizeof(float)); return;
        case gguf::TensorType::F16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
            return;
        case gguf::TensorType::BF16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
            return;
        case gguf::TensorType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
        default: break;
    }
    fail(fmt::format("quantize_row: tensor type {} is not implemented", gguf::tensor_type_name(type)));
}

}  // namespace hsd::quant
