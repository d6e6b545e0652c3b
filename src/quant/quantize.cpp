#include "quant/quantize.h"

#include <cstring>
#include <fmt/format.h>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/quantize_impl.h"

namespace hsd::quant {

void quantize_row(gguf::TensorType type, const float* src, void* dst, int64_t n) {
    using T = gguf::TensorType;
    using namespace detail;
    if (n < 0 || (uint64_t)n % gguf::tensor_block_size(type) != 0)
        fail(fmt::format("quantize_row: {} values are not whole {} blocks", n, gguf::tensor_type_name(type)));
    switch (type) {
        case T::F32: std::memcpy(dst, src, (size_t)n * sizeof(float)); return;
        case T::F16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
            return;
        case T::BF16:
            for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
            return;
        case T::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n); return;
        case T::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), n); return;
        case T::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), n); return;
        case T::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), n); return;
        case T::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
        case T::Q2_K: quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), n); return;
        case T::Q3_K: quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), n); return;
        case T::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n); return;
        case T::Q5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), n); return;
        case T::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n); return;
        case T::IQ4_NL: quantize_iq4_nl(src, static_cast<BlockIQ4_NL*>(dst), n); return;
        case T::IQ4_XS: quantize_iq4_xs(src, static_cast<BlockIQ4_XS*>(dst), n); return;
        default: break;
    }
    fail(fmt::format("quantize_row: tensor type {} is not implemented", gguf::tensor_type_name(type)));
}

}  // namespace hsd::quant
