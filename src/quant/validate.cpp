#include "quant/validate.h"

#include <cstddef>
#include <cstring>
#include <fmt/format.h>

#include "quant/blocks.h"

namespace hsd::quant {

namespace {

// Where a type's F16 scales lie inside its block.
struct ScaleLayout {
    size_t block_bytes = 0;
    int block_elems = 0;
    int n_fields = 0;
    size_t offset[2] = {0, 0};
    const char* name[2] = {"", ""};
};

template <typename B>
ScaleLayout one(int elems, size_t off) {
    return {sizeof(B), elems, 1, {off, 0}, {"d", ""}};
}
template <typename B>
ScaleLayout two(int elems, size_t off0, size_t off1, const char* second) {
    return {sizeof(B), elems, 2, {off0, off1}, {"d", second}};
}

std::optional<ScaleLayout> layout(gguf::TensorType t) {
    using TT = gguf::TensorType;
    switch (t) {
        case TT::Q4_0: return one<BlockQ4_0>(kBlock, offsetof(BlockQ4_0, d));
        case TT::Q4_1: return two<BlockQ4_1>(kBlock, offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m), "m");
        case TT::Q5_0: return one<BlockQ5_0>(kBlock, offsetof(BlockQ5_0, d));
        case TT::Q5_1: return two<BlockQ5_1>(kBlock, offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m), "m");
        case TT::Q8_0: return one<BlockQ8_0>(kBlock, offsetof(BlockQ8_0, d));
        case TT::IQ4_NL: return one<BlockIQ4_NL>(kBlock, offsetof(BlockIQ4_NL, d));
        case TT::Q2_K: return two<BlockQ2_K>(kSuperBlock, offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin), "dmin");
        case TT::Q3_K: return one<BlockQ3_K>(kSuperBlock, offsetof(BlockQ3_K, d));
        case TT::Q4_K: return two<BlockQ4_K>(kSuperBlock, offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin), "dmin");
        case TT::Q5_K: return two<BlockQ5_K>(kSuperBlock, offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin), "dmin");
        case TT::Q6_K: return one<BlockQ6_K>(kSuperBlock, offsetof(BlockQ6_K, d));
        case TT::IQ4_XS: return one<BlockIQ4_XS>(kSuperBlock, offsetof(BlockIQ4_XS, d));
        default: return std::nullopt;
    }
}

uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// An F16 with all exponent bits set is an infinity (mantissa 0) or a NaN.
bool non_finite(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

}  // namespace

std::optional<std::string> check_row(gguf::TensorType type, const void* data, int64_t n) {
    const std::optional<ScaleLayout> l = layout(type);
    if (!l) return std::nullopt;
    const uint8_t* p = static_cast<const uint8_t*>(data);
    const int64_t n_blocks = n / l->block_elems;
    auto field_bad = [&](int64_t b, int f) {
        return non_finite(load_u16(p + (size_t)b * l->block_bytes + l->offset[f]));
    };
    // Branch-free scan first (the common, clean case), then locate the first bad block.
    unsigned bad = 0;
    for (int64_t b = 0; b < n_blocks; ++b)
        for (int f = 0; f < l->n_fields; ++f) bad |= field_bad(b, f);
    if (!bad) return std::nullopt;
    for (int64_t b = 0; b < n_blocks; ++b)
        for (int f = 0; f < l->n_fields; ++f) {
            if (!field_bad(b, f)) continue;
            const uint16_t h = load_u16(p + (size_t)b * l->block_bytes + l->offset[f]);
            return fmt::format("{} block {} (elements {}..{}): {} is {}", gguf::tensor_type_name(type), b,
                               b * l->block_elems, (b + 1) * l->block_elems - 1, l->name[f],
                               (h & 0x3ff) ? "NaN" : ((h & 0x8000) ? "-Inf" : "+Inf"));
        }
    return std::nullopt;
}

}  // namespace hsd::quant
