// Unit tests for the compute kernels: half-precision conversions (common/fp16.h), the
// weight decoders and matrix products (kernels/matmul.h), the per-row operations of the
// Llama block (kernels/ops.h) and the thread pool (kernels/thread_pool.h).
//
// Every kernel is compared against an independent, straightforward implementation written
// here (double precision where it matters). No test asserts anything about timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "quant/blocks.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kvcache/kv_cache.h"
#include "kernels/ops.h"
#include "common/simd.h"
#include "kernels/thread_pool.h"

namespace hsd {
namespace {

using gguf::TensorType;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

std::string hex(uint32_t v) {
    std::ostringstream os;
    os << "0x" << std::hex << v;
    return os.str();
}

// ---- independent references for the half formats -------------------------------------------

// Value of a finite binary16 pattern, from the IEEE definition.
double half_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0x1f) v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else if (exp == 0) v = std::ldexp((double)mant, -24);
    else v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
    return sign ? -v : v;
}

// Value of a finite bfloat16 pattern, from its definition (float's exponent, 7-bit mantissa).
double bf16_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 7) & 0xff, mant = h & 0x7f;
    double v;
    if (exp == 0xff) v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else if (exp == 0) v = std::ldexp((double)mant, -133);
    else v = std::ldexp(1.0 + mant / 128.0, exp - 127);
    return sign ? -v : v;
}

// Round-to-nearest-even of a non-NaN float into a format whose positive finite patterns are
// 0..max_finite (monotonic in value), by search. `inf_value` is where the infinity pattern
// sits for rounding purposes (the next power of two past the largest finite value).
uint16_t round_nearest_even(float f, double (*value)(uint16_t), uint16_t max_finite, double inf_value) {
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs((double)f);
    auto val = [&](uint32_t h) { return h > max_finite ? inf_value : value((uint16_t)h); };
    if (std::isinf(a)) return (uint16_t)(sign | (max_finite + 1));
    // Largest pattern whose value is <= a.
    uint32_t lo = 0, hi = (uint32_t)max_finite + 1;  // val(lo) <= a; invariant search
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if (val(mid) <= a) lo = mid;
        else hi = mid;
    }
    if (val(lo) == a) return (uint16_t)(sign | lo);
    const uint32_t up = lo + 1;
    const double dlo = a - val(lo), dup = val(up) - a;
    uint32_t r;
    if (dlo < dup) r = lo;
    else if (dup < dlo) r = up;
    else r = (lo & 1) ? up : lo;
    return (uint16_t)(sign | r);
}

uint16_t ref_f32_to_f16(float f) { return round_nearest_even(f, half_value, 0x7bff, 65536.0); }
uint16_t ref_f32_to_bf16(float f) { return round_nearest_even(f, bf16_value, 0x7f7f, std::ldexp(1.0, 128)); }

bool half_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

// Floats that stress the conversions: random bit patterns, random values over (and beyond)
// the half range including its subnormals, exact ties between neighbours and their float
// neighbours, and special values.
std::vector<float> conversion_samples(bool for_bf16) {
    std::mt19937 rng(for_bf16 ? 1234 : 4321);
    std::vector<float> v;
    auto add_with_neighbours = [&](float f) {
        v.push_back(f);
        v.push_back(std::nextafter(f, std::numeric_limits<float>::infinity()));
        v.push_back(std::nextafter(f, -std::numeric_limits<float>::infinity()));
    };
    const int n = kSanitized ? 50000 : 400000;
    for (int i = 0; i < n; ++i) v.push_back(bits_float((uint32_t)rng()));  // everything, NaNs included
    // Exponents from far below the smallest half subnormal to above the half / bf16 range.
    std::uniform_int_distribution<int> exp_dist(for_bf16 ? 1 : 127 - 30, for_bf16 ? 254 : 127 + 17);
    for (int i = 0; i < n; ++i) {
        const uint32_t e = (uint32_t)exp_dist(rng), m = (uint32_t)rng() & 0x7fffff, s = (uint32_t)rng() & 0x80000000u;
        v.push_back(bits_float(s | (e << 23) | m));
    }
    // Float subnormals (bf16 keeps them; half flushes them to zero).
    for (int i = 0; i < n / 10; ++i) v.push_back(bits_float(((uint32_t)rng() & 0x807fffffu)));
    // Exact midpoints between adjacent representable values (ties), and one float ulp around.
    for (int i = 0; i < n / 4; ++i) {
        if (for_bf16) {
            const uint16_t h = (uint16_t)(rng() % 0x7f7f);  // h and h+1 both finite
            const double mid = (bf16_value(h) + bf16_value((uint16_t)(h + 1))) / 2;
            const float f = (float)mid;
            if ((double)f != mid) continue;  // (exact for every pair; guard anyway)
            add_with_neighbours((rng() & 1) ? -f : f);
        } else {
            const uint16_t h = (uint16_t)(rng() % 0x7bff);
            const double mid = (half_value(h) + half_value((uint16_t)(h + 1))) / 2;
            const float f = (float)mid;
            if ((double)f != mid) continue;
            add_with_neighbours((rng() & 1) ? -f : f);
        }
    }
    const float inf = std::numeric_limits<float>::infinity();
    for (float f : {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.0f, 65520.0f, 65536.0f, 1e5f, 1e30f, FLT_MAX,
                    std::ldexp(1.0f, -14), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25), std::ldexp(1.5f, -25),
                    std::ldexp(1.0f, -26), std::ldexp(3.0f, -25), FLT_MIN, FLT_TRUE_MIN, 3.3895313892515355e38f,
                    3.3961775292304958e38f})
        for (float g : {f, -f}) add_with_neighbours(g);
    for (float f : {inf, -inf, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    bits_float(0x7f800001u), bits_float(0xff800001u), bits_float(0x7fc00001u)})
        v.push_back(f);
    return v;
}

// ---- fp16 / bf16 ----------------------------------------------------------------------------

TEST(Fp16, F16ToF32MatchesDefinitionForAllPatterns) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = f16_to_f32((uint16_t)h);
        const double want = half_value((uint16_t)h);
        if (half_is_nan((uint16_t)h)) {
            ASSERT_TRUE(std::isnan(f)) << hex(h);
            ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << hex(h);
        } else {
            ASSERT_EQ((double)f, want) << hex(h);
            ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << hex(h);  // -0 stays -0
        }
#if defined(__F16C__)
        const float hw = _cvtsh_ss((unsigned short)h);
        if (!std::isnan(hw)) {
            ASSERT_EQ(float_bits(f), float_bits(hw)) << hex(h);
        }
#endif
    }
}

TEST(Fp16, RoundTripAllHalfPatterns) {
    int nans = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t back = f32_to_f16(f16_to_f32((uint16_t)h));
        if (half_is_nan((uint16_t)h)) {
            ++nans;
            ASSERT_TRUE(half_is_nan(back)) << hex(h) << " -> " << hex(back);
            ASSERT_EQ(back & 0x8000, h & 0x8000) << hex(h);
        } else {
            ASSERT_EQ(back, h) << hex(h);
        }
    }
    EXPECT_EQ(nans, 2 * 1023);
}

TEST(Fp16, F32ToF16RoundsToNearestEven) {
    const std::vector<float> samples = conversion_samples(false);
    int checked_hw = 0;
    for (float f : samples) {
        const uint16_t got = f32_to_f16(f);
        if (std::isnan(f)) {
            ASSERT_TRUE(half_is_nan(got)) << "input " << hex(float_bits(f)) << " -> " << hex(got);
            ASSERT_EQ((got & 0x8000) != 0, std::signbit(f)) << hex(float_bits(f));
            continue;
        }
        const uint16_t want = ref_f32_to_f16(f);
        ASSERT_EQ(got, want) << "input " << f << " (" << hex(float_bits(f)) << ")";
#if defined(__F16C__)
        const uint16_t hw =
            (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), 0);
        ASSERT_EQ(got, hw) << "input " << f << " (" << hex(float_bits(f)) << ") vs F16C";
        ++checked_hw;
#endif
    }
#if defined(__F16C__)
    EXPECT_GT(checked_hw, 100000);
#else
    (void)checked_hw;
#endif
    // A few hand-checked values.
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);           // tie rounds to even = overflow to inf
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24 -> 0
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 ulp -> 2
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even (down)
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
}

TEST(Fp16, RoundTripAllBf16Patterns) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_f32((uint16_t)h);
        if (bf16_is_nan((uint16_t)h)) {
            ASSERT_TRUE(std::isnan(f)) << hex(h);
            const uint16_t back = f32_to_bf16(f);
            ASSERT_TRUE(bf16_is_nan(back)) << hex(h) << " -> " << hex(back);
            ASSERT_EQ(back & 0x8000, h & 0x8000);
        } else {
            ASSERT_EQ((double)f, bf16_value((uint16_t)h)) << hex(h);
            ASSERT_EQ(f32_to_bf16(f), h) << hex(h);
        }
    }
}

TEST(Fp16, F32ToBf16RoundsToNearestEven) {
    const std::vector<float> samples = conversion_samples(true);
    for (float f : samples) {
        const uint16_t got = f32_to_bf16(f);
        if (std::isnan(f)) {
            ASSERT_TRUE(bf16_is_nan(got)) << "input " << hex(float_bits(f)) << " -> " << hex(got);
            ASSERT_EQ((got & 0x8000) != 0, std::signbit(f)) << hex(float_bits(f));
            continue;
        }
        ASSERT_EQ(got, ref_f32_to_bf16(f)) << "input " << f << " (" << hex(float_bits(f)) << ")";
    }
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(bits_float(0x3f808000u)), 0x3f80);  // tie -> even (down)
    EXPECT_EQ(f32_to_bf16(bits_float(0x3f818000u)), 0x3f82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(bits_float(0x3f808001u)), 0x3f81);
    EXPECT_EQ(f32_to_bf16(FLT_MAX), 0x7f80);  // rounds up past the largest bf16: inf
    EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
}

// ---- weights built by hand --------------------------------------------------------------------

struct AlignedFree {
    void operator()(void* p) const { std::free(p); }
};

// A weight matrix of a given type built from random floats, plus (for F16) its panel layout.
struct TestWeights {
    TensorType type = TensorType::F32;
    int64_t rows = 0, cols = 0;
    std::vector<uint8_t> data;
    std::unique_ptr<uint16_t, AlignedFree> panels;
    std::vector<float> decoded;  // rows x cols, decoded with the scalar functions of fp16.h

    WeightView view(bool packed = false) const {
        WeightView w;
        w.data = data.data();
        w.type = type;
        w.rows = rows;
        w.cols = cols;
        if (packed) w.panels = panels.get();
        return w;
    }
};

void quantize_q8_0(const float* x, int64_t n, quant::BlockQ8_0* out) {
    for (int64_t b = 0; b < n / (int64_t)quant::kBlock; ++b) {
        const float* xb = x + b * quant::kBlock;
        float amax = 0;
        for (uint64_t j = 0; j < quant::kBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        out[b].d = f32_to_f16(d);
        for (uint64_t j = 0; j < quant::kBlock; ++j)
            out[b].qs[j] = (int8_t)(d == 0 ? 0 : std::clamp(std::lround(xb[j] / d), -127L, 127L));
    }
}

// Decodes row r of the raw bytes with the scalar conversions, independently of decode_row.
void scalar_decode_row(const TestWeights& tw, int64_t r, std::vector<float>& out) {
    out.resize((size_t)tw.cols);
    const uint8_t* base = tw.data.data() + (size_t)r * gguf::tensor_row_bytes(tw.type, (uint64_t)tw.cols);
    for (int64_t k = 0; k < tw.cols; ++k) {
        switch (tw.type) {
            case TensorType::F32: std::memcpy(&out[(size_t)k], base + 4 * k, 4); break;
            case TensorType::F16: {
                uint16_t h;
                std::memcpy(&h, base + 2 * k, 2);
                out[(size_t)k] = f16_to_f32(h);
                break;
            }
            case TensorType::BF16: {
                uint16_t h;
                std::memcpy(&h, base + 2 * k, 2);
                out[(size_t)k] = bf16_to_f32(h);
                break;
            }
            case TensorType::Q8_0: {
                quant::BlockQ8_0 blk;
                std::memcpy(&blk, base + sizeof(quant::BlockQ8_0) * (size_t)(k / 32), sizeof blk);
                out[(size_t)k] = f16_to_f32(blk.d) * (float)blk.qs[k % 32];
                break;
            }
            default: ADD_FAILURE() << "scalar_decode_row covers F32, F16, BF16 and Q8_0"; return;
        }
    }
}

TestWeights make_weights(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    TestWeights tw;
    tw.type = type;
    tw.rows = rows;
    tw.cols = cols;
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> src((size_t)(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float scale = std::ldexp(1.0f, (int)(r % 5) - 2);  // rows of different magnitudes
        for (int64_t k = 0; k < cols; ++k) src[(size_t)(r * cols + k)] = u(rng) * scale;
    }
    if (rows > 2)  // one all-zero block/row segment (Q8_0 scale 0)
        for (int64_t k = 0; k < std::min<int64_t>(cols, 32); ++k) src[(size_t)(2 * cols + k)] = 0.0f;
    const size_t row_bytes = gguf::tensor_row_bytes(type, (uint64_t)cols);
    tw.data.assign(row_bytes * (size_t)rows, 0);
    for (int64_t r = 0; r < rows; ++r) {
        const float* s = src.data() + r * cols;
        uint8_t* d = tw.data.data() + (size_t)r * row_bytes;
        switch (type) {
            case TensorType::F32: std::memcpy(d, s, (size_t)cols * 4); break;
            case TensorType::F16:
                for (int64_t k = 0; k < cols; ++k) {
                    const uint16_t h = f32_to_f16(s[k]);
                    std::memcpy(d + 2 * k, &h, 2);
                }
                break;
            case TensorType::BF16:
                for (int64_t k = 0; k < cols; ++k) {
                    const uint16_t h = f32_to_bf16(s[k]);
                    std::memcpy(d + 2 * k, &h, 2);
                }
                break;
            case TensorType::Q8_0: {
                std::vector<quant::BlockQ8_0> blocks((size_t)(cols / 32));
                quantize_q8_0(s, cols, blocks.data());
                std::memcpy(d, blocks.data(), row_bytes);
                break;
            }
            default: ADD_FAILURE() << "make_weights covers F32, F16, BF16 and Q8_0"; break;
        }
    }
    if (type == TensorType::F16 || type == TensorType::BF16) {
        const WeightView w = tw.view();
        const size_t n = panels_size(w);
        EXPECT_EQ(n, (size_t)((rows + kPanel - 1) / kPanel * kPanel * cols));
        const size_t bytes = (n * sizeof(uint16_t) + 63) / 64 * 64;
        tw.panels.reset(static_cast<uint16_t*>(std::aligned_alloc(64, bytes)));
        pack_panels(w, tw.panels.get());
    }
    tw.decoded.resize((size_t)(rows * cols));
    std::vector<float> row;
    for (int64_t r = 0; r < rows; ++r) {
        scalar_decode_row(tw, r, row);
        std::copy(row.begin(), row.end(), tw.decoded.begin() + r * cols);
    }
    return tw;
}

const char* type_name(TensorType t) { return gguf::tensor_type_name((uint32_t)t); }

// ---- decode_row ---------------------------------------------------------------------------------

TEST(DecodeRow, MatchesScalarDecodingAtOffsets) {
    std::mt19937 rng(7);
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0}) {
        const int64_t cols = 2080;
        const TestWeights tw = make_weights(type, 3, cols, rng);
        const WeightView w = tw.view();
        EXPECT_EQ(w.row_bytes(), gguf::tensor_row_bytes(type, (uint64_t)cols));
        const bool q8 = type == TensorType::Q8_0;
        const std::vector<int64_t> offsets = q8 ? std::vector<int64_t>{0, 32, 64, 96, 2048}
                                                : std::vector<int64_t>{0, 1, 3, 7, 16, 17, 33, 100, 2047, 2064};
        for (int64_t row = 0; row < 3; ++row)
            for (int64_t col0 : offsets)
                for (int64_t count : {1, 5, 8, 15, 16, 17, 31, 32, 33, 64, 96, 1000, 2048}) {
                    if (q8 && count % 32 != 0) continue;
                    if (col0 + count > cols) continue;
                    std::vector<float> dst((size_t)count + 8, -12345.0f);
                    decode_row(w, row, col0, count, dst.data());
                    for (int64_t i = 0; i < count; ++i)
                        ASSERT_EQ(float_bits(dst[(size_t)i]), float_bits(tw.decoded[(size_t)(row * cols + col0 + i)]))
                            << type_name(type) << " row " << row << " col0 " << col0 << " count " << count << " i " << i;
                    for (size_t i = (size_t)count; i < dst.size(); ++i)
                        ASSERT_EQ(dst[i], -12345.0f) << type_name(type) << ": wrote past count " << count;
                }
    }
}

TEST(DecodeRow, F16AndBf16EveryBitPattern) {
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = (uint16_t)i;
    for (TensorType type : {TensorType::F16, TensorType::BF16}) {
        WeightView w;
        w.data = reinterpret_cast<const uint8_t*>(all.data());
        w.type = type;
        w.rows = 1;
        w.cols = 65536;
        std::vector<float> dst(65536);
        for (int64_t col0 : {0, 5}) {
            decode_row(w, 0, col0, 65536 - col0, dst.data());
            for (int64_t i = 0; i < 65536 - col0; ++i) {
                const uint16_t h = all[(size_t)(col0 + i)];
                const float want = type == TensorType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
                if (std::isnan(want)) {
                    ASSERT_TRUE(std::isnan(dst[(size_t)i])) << type_name(type) << " " << hex(h);
                } else {
                    ASSERT_EQ(float_bits(dst[(size_t)i]), float_bits(want)) << type_name(type) << " " << hex(h);
                }
            }
        }
    }
}

TEST(DecodeRow, Q8_0KnownBlock) {
    quant::BlockQ8_0 blocks[2];
    blocks[0].d = f32_to_f16(0.5f);
    blocks[1].d = f32_to_f16(-0.25f);
    for (int j = 0; j < 32; ++j) {
        blocks[0].qs[j] = (int8_t)(j - 16);
        blocks[1].qs[j] = (int8_t)(j % 2 ? 127 : -128);
    }
    WeightView w;
    w.data = reinterpret_cast<const uint8_t*>(blocks);
    w.type = TensorType::Q8_0;
    w.rows = 1;
    w.cols = 64;
    float out[64];
    decode_row(w, 0, 0, 64, out);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5f * (float)(j - 16)) << j;
    for (int j = 0; j < 32; ++j) EXPECT_EQ(out[32 + j], -0.25f * (j % 2 ? 127.0f : -128.0f)) << j;
    decode_row(w, 0, 32, 32, out);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], -0.25f * (j % 2 ? 127.0f : -128.0f)) << j;
}

TEST(DecodeRow, Q8_0QuantizationIsClose) {
    // Our test quantizer (the GGUF Q8_0 recipe) must reproduce the inputs to within half a step.
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    std::vector<float> x(256);
    for (float& v : x) v = u(rng);
    std::vector<quant::BlockQ8_0> blocks(8);
    quantize_q8_0(x.data(), 256, blocks.data());
    WeightView w;
    w.data = reinterpret_cast<const uint8_t*>(blocks.data());
    w.type = TensorType::Q8_0;
    w.rows = 1;
    w.cols = 256;
    std::vector<float> y(256);
    decode_row(w, 0, 0, 256, y.data());
    for (int b = 0; b < 8; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[(size_t)(b * 32 + j)]));
        for (int j = 0; j < 32; ++j)
            EXPECT_NEAR(y[(size_t)(b * 32 + j)], x[(size_t)(b * 32 + j)], amax / 127.0f * 0.51f + 1e-3f * amax);
    }
}

// ---- matmul -------------------------------------------------------------------------------------

ThreadPool& pool_of(int n) {
    static ThreadPool p1(1), p2(2), p3(3), p4(4);
    switch (n) {
        case 1: return p1;
        case 2: return p2;
        case 3: return p3;
        default: return p4;
    }
}

// Restores the BLAS threshold even when an assertion returns early.
struct BlasThresholdGuard {
    int64_t saved = matmul_blas_threshold();
    ~BlasThresholdGuard() { set_matmul_blas_threshold(saved); }
};

// Double-precision product of the scalar-decoded weights with x, and for each output the
// magnitude sqrt(sum_k (w_k x_k)^2) that scales the tolerance.
void naive_product(const TestWeights& tw, const std::vector<float>& x, int64_t n, std::vector<double>& y,
                   std::vector<double>& mag) {
    y.assign((size_t)(n * tw.rows), 0.0);
    mag.assign((size_t)(n * tw.rows), 0.0);
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < tw.rows; ++r) {
            double s = 0, m = 0;
            const float* wr = tw.decoded.data() + r * tw.cols;
            const float* xt = x.data() + t * tw.cols;
            for (int64_t k = 0; k < tw.cols; ++k) {
                const double p = (double)wr[k] * (double)xt[k];
                s += p;
                m += p * p;
            }
            y[(size_t)(t * tw.rows + r)] = s;
            mag[(size_t)(t * tw.rows + r)] = std::sqrt(m);
        }
}

struct MatmulCase {
    TensorType type;
    bool packed;
    const char* name() const {
        return !packed ? type_name(type) : type == TensorType::BF16 ? "BF16(packed)" : "F16(packed)";
    }
};

const std::vector<MatmulCase>& matmul_cases() {
    static const std::vector<MatmulCase> cases = {{TensorType::F32, false},
                                                  {TensorType::F16, false},
                                                  {TensorType::F16, true},
                                                  {TensorType::BF16, false},
                                                  {TensorType::BF16, true},
                                                  {TensorType::Q8_0, false}};
    return cases;
}

// Checks y[n][rows] (with 16 sentinels after it) against the double reference.
::testing::AssertionResult check_product(const std::vector<float>& y, int64_t n, int64_t rows,
                                         const std::vector<double>& ref, const std::vector<double>& mag, int64_t cols) {
    const double rel = 1e-5 * std::sqrt((double)cols);
    for (int64_t i = 0; i < n * rows; ++i) {
        const double got = y[(size_t)i], want = ref[(size_t)i];
        const double tol = rel * mag[(size_t)i] + 1e-30;
        if (!(std::fabs(got - want) <= tol))
            return ::testing::AssertionFailure() << "token " << i / rows << " row " << i % rows << ": got " << got
                                                 << " want " << want << " (tol " << tol << ")";
    }
    for (size_t i = (size_t)(n * rows); i < y.size(); ++i)
        if (float_bits(y[i]) != float_bits(-777.0f)) return ::testing::AssertionFailure() << "wrote past y[n][rows]";
    return ::testing::AssertionSuccess();
}

// This suite checks the F32-activation kernels (Q8_0 weights decoded to F32); the int8
// activation path of quantized weights has its own tests (test_quant_kernels).
struct F32ActivationsGuard {
    QuantActivations saved = quant_activations();
    F32ActivationsGuard() { set_quant_activations(QuantActivations::F32); }
    ~F32ActivationsGuard() { set_quant_activations(saved); }
};

TEST(Matmul, MatchesReferenceAllTypesShapesBatchesAndPools) {
    BlasThresholdGuard guard;
    F32ActivationsGuard f32_activations;
    const int64_t default_threshold = guard.saved;
    // (The full grid runs in a few seconds even under AddressSanitizer.)
    const std::vector<int64_t> rows_list = {1, 3, 4, 5, 17, 64, 130};
    const std::vector<int64_t> cols_list = {32, 64, 96, 448, 2080, 40};  // 2080 > the 2048-column chunk
    const std::vector<int64_t> n_list = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64};
    const std::vector<int> pools = {1, 2, 3};
    const int64_t max_n = *std::max_element(n_list.begin(), n_list.end());
    std::vector<int64_t> thresholds = {default_threshold};
#ifdef HSD_HAVE_BLAS
    thresholds.push_back(1);  // every batch through the BLAS path
#endif
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    int products = 0;
    for (const MatmulCase& mc : matmul_cases())
        for (int64_t rows : rows_list)
            for (int64_t cols : cols_list) {
                if (mc.type == TensorType::Q8_0 && cols % 32 != 0) continue;
                SCOPED_TRACE(::testing::Message() << mc.name() << " rows " << rows << " cols " << cols);
                const TestWeights tw = make_weights(mc.type, rows, cols, rng);
                const WeightView w = tw.view(mc.packed);
                std::vector<float> x((size_t)(max_n * cols));
                for (int64_t t = 0; t < max_n; ++t)
                    for (int64_t k = 0; k < cols; ++k) x[(size_t)(t * cols + k)] = u(rng) * (float)(1 + t % 3);
                std::vector<double> ref, mag;
                naive_product(tw, x, max_n, ref, mag);

                // matmul_reference itself agrees with the independent double product.
                std::vector<float> yref((size_t)(max_n * rows + 16), -777.0f);
                matmul_reference(w, x.data(), max_n, yref.data());
                ASSERT_TRUE(check_product(yref, max_n, rows, ref, mag, 1)) << "matmul_reference";

                for (int threads : pools) {
                    ThreadPool& pool = pool_of(threads);
                    for (int64_t threshold : thresholds) {
                        set_matmul_blas_threshold(threshold);
                        SCOPED_TRACE(::testing::Message() << threads << " threads, BLAS threshold " << threshold);
                        // One token at a time.
                        std::vector<float> single((size_t)(max_n * rows));
                        for (int64_t t = 0; t < max_n; ++t) {
                            std::vector<float> y1((size_t)rows + 16, -777.0f);
                            std::fill(y1.begin(), y1.begin() + rows, std::numeric_limits<float>::quiet_NaN());
                            matmul(pool, w, x.data() + t * cols, 1, y1.data());
                            std::vector<double> r1(ref.begin() + t * rows, ref.begin() + (t + 1) * rows);
                            std::vector<double> m1(mag.begin() + t * rows, mag.begin() + (t + 1) * rows);
                            ASSERT_TRUE(check_product(y1, 1, rows, r1, m1, cols)) << "single token " << t;
                            std::copy(y1.begin(), y1.begin() + rows, single.begin() + t * rows);
                        }
                        for (int64_t n : n_list) {
                            // y starts as NaN: every output must be written, not accumulated into.
                            std::vector<float> y((size_t)(n * rows + 16), -777.0f);
                            std::fill(y.begin(), y.begin() + n * rows, std::numeric_limits<float>::quiet_NaN());
                            matmul(pool, w, x.data(), n, y.data());
                            ++products;
                            ASSERT_TRUE(check_product(y, n, rows, ref, mag, cols)) << "n " << n;
                            // Each token's row of a batch equals that token computed alone.
                            for (int64_t i = 0; i < n * rows; ++i) {
                                const float a = y[(size_t)i], b = single[(size_t)i];
                                ASSERT_LE(std::fabs((double)a - b), 1e-5 * (std::fabs((double)b) + mag[(size_t)i]))
                                    << "n " << n << " token " << i / rows << " row " << i % rows << ": batch " << a
                                    << " single " << b;
                                // The panel kernel documents bit-identical results for any n.
                                if (mc.packed) {
                                    ASSERT_EQ(float_bits(a), float_bits(b))
                                        << mc.name() << ", n " << n << " token " << i / rows << " row " << i % rows;
                                }
                            }
                        }
                    }
                }
            }
    EXPECT_GT(products, 100);
}

TEST(Matmul, BlasThresholdRoundTrips) {
    BlasThresholdGuard guard;
    set_matmul_blas_threshold(5);
    EXPECT_EQ(matmul_blas_threshold(), 5);
    set_matmul_blas_threshold(0);
    EXPECT_EQ(matmul_blas_threshold(), 0);
}

TEST(Matmul, PackedF16PanelLayout) {
    std::mt19937 rng(9);
    for (int64_t rows : {1, 31, 32, 33, 70}) {
        const TestWeights tw = make_weights(TensorType::F16, rows, 40, rng);
        const uint16_t* src = reinterpret_cast<const uint16_t*>(tw.data.data());
        const int64_t n_panels = (rows + kPanel - 1) / kPanel;
        for (int64_t p = 0; p < n_panels; ++p)
            for (int64_t k = 0; k < 40; ++k)
                for (int64_t j = 0; j < kPanel; ++j) {
                    const int64_t r = p * kPanel + j;
                    const uint16_t want = r < rows ? src[r * 40 + k] : 0;
                    ASSERT_EQ(tw.panels.get()[p * 40 * kPanel + k * kPanel + j], want)
                        << "rows " << rows << " panel " << p << " col " << k << " lane " << j;
                }
    }
}

TEST(Matmul, MultiMatchesSeparateProducts) {
    BlasThresholdGuard guard;
    F32ActivationsGuard f32_activations;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int64_t cols = 448;
    std::vector<TestWeights> ws;
    ws.push_back(make_weights(TensorType::F32, 64, cols, rng));
    ws.push_back(make_weights(TensorType::F16, 17, cols, rng));
    ws.push_back(make_weights(TensorType::BF16, 130, cols, rng));
    ws.push_back(make_weights(TensorType::Q8_0, 5, cols, rng));
    ws.push_back(make_weights(TensorType::F16, 33, cols, rng));  // used packed below
    std::vector<int64_t> thresholds = {guard.saved};
#ifdef HSD_HAVE_BLAS
    thresholds.push_back(1);
#endif
    for (bool with_packed : {false, true})
        for (int threads : {1, 2, 3})
            for (int64_t threshold : thresholds)
                for (int64_t n : {1, 5, 64}) {
                    set_matmul_blas_threshold(threshold);
                    SCOPED_TRACE(::testing::Message() << "packed " << with_packed << " threads " << threads << " n " << n
                                                      << " threshold " << threshold);
                    std::vector<float> x((size_t)(n * cols));
                    for (float& v : x) v = u(rng);
                    std::vector<WeightView> views;
                    for (size_t j = 0; j < ws.size(); ++j) views.push_back(ws[j].view(with_packed && j == 4));
                    std::vector<std::vector<float>> ys(ws.size());
                    std::vector<MatmulJob> jobs;
                    for (size_t j = 0; j < ws.size(); ++j) {
                        ys[j].assign((size_t)(n * ws[j].rows + 16), -777.0f);
                        std::fill(ys[j].begin(), ys[j].begin() + n * ws[j].rows, std::numeric_limits<float>::quiet_NaN());
                        jobs.push_back({&views[j], ys[j].data()});
                    }
                    matmul_multi(pool_of(threads), jobs.data(), (int)jobs.size(), x.data(), n);
                    for (size_t j = 0; j < ws.size(); ++j) {
                        std::vector<double> ref, mag;
                        naive_product(ws[j], x, n, ref, mag);
                        ASSERT_TRUE(check_product(ys[j], n, ws[j].rows, ref, mag, cols)) << "job " << j;
                    }
                }
}

// ---- ops ----------------------------------------------------------------------------------------

TEST(Ops, RmsnormMatchesDoubleFormula) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t d : {1, 7, 56, 4096})
        for (float eps : {1e-5f, 1e-6f})
            for (float scale : {1e-3f, 1.0f, 300.0f}) {
                std::vector<float> x((size_t)d), w((size_t)d), out((size_t)d);
                for (float& v : x) v = nd(rng) * scale;
                for (float& v : w) v = 1.0f + 0.5f * nd(rng);
                double ss = 0;
                for (float v : x) ss += (double)v * v;
                const double inv = 1.0 / std::sqrt(ss / (double)d + (double)eps);
                rmsnorm(x.data(), w.data(), d, eps, out.data());
                for (int64_t i = 0; i < d; ++i) {
                    const double want = (double)x[(size_t)i] * inv * w[(size_t)i];
                    ASSERT_NEAR(out[(size_t)i], want, 1e-6 * std::fabs(want) + 1e-30)
                        << "d " << d << " eps " << eps << " scale " << scale << " i " << i;
                }
                // In place gives the same bits.
                std::vector<float> y = x;
                rmsnorm(y.data(), w.data(), d, eps, y.data());
                for (int64_t i = 0; i < d; ++i) ASSERT_EQ(float_bits(y[(size_t)i]), float_bits(out[(size_t)i]));
            }
    // All zeros: eps keeps the result finite (zero).
    std::vector<float> z(16, 0.0f), w(16, 1.0f), out(16, 1.0f);
    rmsnorm(z.data(), w.data(), 16, 1e-5f, out.data());
    for (float v : out) EXPECT_EQ(v, 0.0f);
}

// Direct rotation: pair (2i, 2i+1) as a complex number times e^{j * pos * base^(-2i/rope_dim)}.
void rope_reference(const std::vector<float>& x, int n_heads, int head_dim, int rope_dim, int64_t pos, double base,
                    std::vector<double>& out) {
    out.assign(x.begin(), x.end());
    for (int h = 0; h < n_heads; ++h)
        for (int i = 0; 2 * i < rope_dim; ++i) {
            const double freq = std::pow(base, -2.0 * i / rope_dim);
            const std::complex<double> z(x[(size_t)(h * head_dim + 2 * i)], x[(size_t)(h * head_dim + 2 * i + 1)]);
            const std::complex<double> r = z * std::polar(1.0, (double)pos * freq);
            out[(size_t)(h * head_dim + 2 * i)] = r.real();
            out[(size_t)(h * head_dim + 2 * i + 1)] = r.imag();
        }
}

TEST(Ops, RopeMatchesComplexRotation) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    struct Cfg {
        int n_heads, head_dim, rope_dim;
        float base;
    };
    for (const Cfg& c : {Cfg{3, 56, 56, 10000.0f}, Cfg{3, 56, 32, 10000.0f}, Cfg{2, 64, 64, 500000.0f},
                         Cfg{4, 128, 128, 10000.0f}, Cfg{2, 80, 40, 1000000.0f}})
        for (int64_t pos : {0, 1, 2, 7, 100, 4095, 32767, 1 << 20}) {
            std::vector<float> x((size_t)(c.n_heads * c.head_dim));
            for (float& v : x) v = u(rng);
            std::vector<double> want;
            rope_reference(x, c.n_heads, c.head_dim, c.rope_dim, pos, c.base, want);
            std::vector<float> y = x;
            rope(y.data(), c.n_heads, c.head_dim, c.rope_dim, pos, c.base);
            for (int h = 0; h < c.n_heads; ++h)
                for (int d = 0; d < c.head_dim; ++d) {
                    const size_t i = (size_t)(h * c.head_dim + d);
                    if (d >= c.rope_dim || pos == 0) {
                        // Untouched beyond rope_dim; identity at position 0.
                        ASSERT_EQ(float_bits(y[i]), float_bits(x[i]))
                            << "head_dim " << c.head_dim << " rope_dim " << c.rope_dim << " pos " << pos << " h " << h
                            << " d " << d;
                    } else {
                        ASSERT_NEAR(y[i], want[i], 2e-6 * 4)
                            << "head_dim " << c.head_dim << " rope_dim " << c.rope_dim << " pos " << pos << " h " << h
                            << " d " << d;
                    }
                }
            // A rotation keeps each pair's length.
            for (int h = 0; h < c.n_heads; ++h)
                for (int i = 0; 2 * i < c.rope_dim; ++i) {
                    const size_t a = (size_t)(h * c.head_dim + 2 * i);
                    ASSERT_NEAR(std::hypot(y[a], y[a + 1]), std::hypot(x[a], x[a + 1]), 1e-5);
                }
        }
}

TEST(Ops, RopeComposesPositions) {
    // Rotating by p then by q equals rotating by p + q (within float rounding).
    std::mt19937 rng(18);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> x(2 * 56);
    for (float& v : x) v = u(rng);
    std::vector<float> a = x, b = x;
    rope(a.data(), 2, 56, 56, 3, 10000.0f);
    rope(a.data(), 2, 56, 56, 4, 10000.0f);
    rope(b.data(), 2, 56, 56, 7, 10000.0f);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;
}

TEST(Ops, SoftmaxSumsToOneAndMatchesReference) {
    std::mt19937 rng(23);
    for (int64_t n : {1, 2, 5, 100, 32000})
        for (float scale : {0.1f, 5.0f, 50.0f}) {
            std::normal_distribution<float> nd(0.0f, scale);
            std::vector<float> x((size_t)n);
            for (float& v : x) v = nd(rng);
            const double mx = *std::max_element(x.begin(), x.end());
            double z = 0;
            for (float v : x) z += std::exp((double)v - mx);
            std::vector<float> y = x;
            softmax(y.data(), n);
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) {
                const double want = std::exp((double)x[(size_t)i] - mx) / z;
                ASSERT_NEAR(y[(size_t)i], want, 1e-5 * want + 1e-30) << "n " << n << " scale " << scale << " i " << i;
                ASSERT_GE(y[(size_t)i], 0.0f);
                sum += y[(size_t)i];
            }
            EXPECT_NEAR(sum, 1.0, 1e-5) << "n " << n;
        }
}

TEST(Ops, SoftmaxStableForLargeInputs) {
    for (float base : {1e4f, -1e4f, 8e4f}) {
        std::vector<float> x = {base, base - 1.0f, base - 2.0f, base, base - 100.0f};
        softmax(x.data(), (int64_t)x.size());
        const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), e100 = std::exp(-100.0);
        const double z = 2 + e1 + e2 + e100;
        const double want[] = {1 / z, e1 / z, e2 / z, 1 / z, e100 / z};
        double sum = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            ASSERT_TRUE(std::isfinite(x[i])) << base << " " << i;
            EXPECT_NEAR(x[i], want[i], 1e-6 * want[i] + 1e-40) << base << " " << i;
            sum += x[i];
        }
        EXPECT_NEAR(sum, 1.0, 1e-6);
    }
    // Widely spread: the small ones underflow to 0, nothing becomes NaN.
    std::vector<float> x = {1e4f, -1e4f, 0.0f, 1e4f};
    softmax(x.data(), 4);
    EXPECT_FLOAT_EQ(x[0], 0.5f);
    EXPECT_EQ(x[1], 0.0f);
    EXPECT_EQ(x[2], 0.0f);
    EXPECT_FLOAT_EQ(x[3], 0.5f);
    // Equal inputs: uniform.
    std::vector<float> eq(10, 1e4f);
    softmax(eq.data(), 10);
    for (float v : eq) EXPECT_FLOAT_EQ(v, 0.1f);
}

TEST(Ops, SiluMulMatchesReference) {
    std::mt19937 rng(29);
    std::uniform_real_distribution<float> u(-20.0f, 20.0f);
    const int64_t n = 1000;
    std::vector<float> g((size_t)n), up((size_t)n);
    for (float& v : g) v = u(rng);
    for (float& v : up) v = u(rng) / 10;
    g[0] = 0.0f;
    g[1] = -1000.0f;  // silu -> 0 (exp overflows in float; result must stay finite)
    g[2] = 1000.0f;   // silu -> x
    g[3] = -80.0f;
    std::vector<float> out = g;
    silu_mul(out.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        const double x = g[(size_t)i];
        const double want = x / (1.0 + std::exp(-x)) * up[(size_t)i];
        ASSERT_TRUE(std::isfinite(out[(size_t)i])) << "g " << x;
        ASSERT_NEAR(out[(size_t)i], want, 2e-6 * std::fabs(want) + 1e-30) << "i " << i << " g " << x;
    }
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_NEAR(out[2], 1000.0f * up[2], 1e-3);
}

TEST(Ops, AddAddsElementwise) {
    std::vector<float> a = {1, 2, 3, -4, 0.5f}, b = {10, -2, 0.25f, 4, 1e-8f};
    const std::vector<float> a0 = a;
    add(a.data(), b.data(), 5);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], a0[i] + b[i]);
}

// ---- attention -----------------------------------------------------------------------------------

struct AttnCase {
    int n_head, n_kv, hd;
    int64_t n, p0;
};

struct AttnData {
    KVCache cache;  // one layer
    std::vector<float> q;
    std::vector<float> k, v;  // [pos][n_kv * hd], the same values in plain layout for the reference
};

// Random q/k/v for positions [0, p0+n); every other position of the cache holds NaN so any
// read of it poisons the output.
AttnData make_attention_data(const AttnCase& c, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.5f, 1.5f);
    const int64_t len = c.p0 + c.n;
    const int64_t kvd = (int64_t)c.n_kv * c.hd;
    AttnData a;
    a.cache = KVCache(1, len + 21, c.n_kv, c.hd);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    a.q.resize((size_t)(c.n * c.n_head * c.hd));
    for (float& x : a.q) x = u(rng);
    a.k.resize((size_t)(len * kvd));
    a.v.resize((size_t)(len * kvd));
    for (float& x : a.k) x = u(rng);
    for (float& x : a.v) x = u(rng);
    const std::vector<float> nan_row((size_t)kvd, nan);
    for (int64_t pos = 0; pos < a.cache.capacity(); ++pos)
        if (pos < len)
            a.cache.store(0, pos, a.k.data() + pos * kvd, a.v.data() + pos * kvd);
        else
            a.cache.store(0, pos, nan_row.data(), nan_row.data());
    return a;
}

void run_attention(ThreadPool& pool, const AttnCase& c, const AttnData& a, const float* q, int64_t n, int64_t p0,
                   float* out) {
    attention(pool, q, a.cache.keys(0), a.cache.values(0), a.cache.capacity(), n, p0, c.n_head, c.n_kv, c.hd, out);
}

void attention_reference(const AttnCase& c, const AttnData& a, std::vector<double>& out) {
    out.assign((size_t)(c.n * c.n_head * c.hd), 0.0);
    const int group = c.n_head / c.n_kv;
    const int64_t kvd = (int64_t)c.n_kv * c.hd;
    for (int64_t t = 0; t < c.n; ++t)
        for (int h = 0; h < c.n_head; ++h) {
            const int kvh = h / group;
            const int64_t len = c.p0 + t + 1;
            std::vector<double> s((size_t)len);
            double mx = -1e300;
            for (int64_t j = 0; j < len; ++j) {
                double dot = 0;
                for (int d = 0; d < c.hd; ++d)
                    dot += (double)a.q[(size_t)((t * c.n_head + h) * c.hd + d)] * a.k[(size_t)(j * kvd + kvh * c.hd + d)];
                s[(size_t)j] = dot / std::sqrt((double)c.hd);
                mx = std::max(mx, s[(size_t)j]);
            }
            double z = 0;
            for (double& v : s) z += (v = std::exp(v - mx));
            for (int64_t j = 0; j < len; ++j)
                for (int d = 0; d < c.hd; ++d)
                    out[(size_t)((t * c.n_head + h) * c.hd + d)] +=
                        s[(size_t)j] / z * a.v[(size_t)(j * kvd + kvh * c.hd + d)];
        }
}

TEST(Ops, AttentionMatchesNaiveGqaCausal) {
    std::mt19937 rng(31);
    const std::vector<AttnCase> cases = {
        {8, 2, 56, 5, 7},    // the GQA batch of the brief: query t sees positions 0..7+t
        {8, 2, 56, 1, 0},    // first token
        {8, 8, 64, 3, 20},   // plain multi-head
        {4, 1, 128, 4, 30},  // multi-query, widest register path
        {4, 2, 160, 2, 17},  // head dim beyond the register path
        {2, 1, 56, 1, 100},  // long decode step
        {6, 3, 16, 17, 0},   // prefill from 0
        {8, 8, 56, 8, 256},  // hsd-target's verification shape
        {4, 4, 32, 11, 40},  // 2-vector heads, more rows than one task holds
        {3, 1, 8, 9, 3},     // head narrower than a vector, 27 rows over one kv head
    };
    for (const AttnCase& c : cases)
        for (int threads : {1, 3}) {
            SCOPED_TRACE(::testing::Message() << "n_head " << c.n_head << " n_kv " << c.n_kv << " hd " << c.hd << " n "
                                              << c.n << " p0 " << c.p0 << " threads " << threads);
            const AttnData a = make_attention_data(c, rng);
            std::vector<double> want;
            attention_reference(c, a, want);
            std::vector<float> out(want.size(), std::numeric_limits<float>::quiet_NaN());
            run_attention(pool_of(threads), c, a, a.q.data(), c.n, c.p0, out.data());
            for (size_t i = 0; i < want.size(); ++i)
                ASSERT_NEAR(out[i], want[i], 1e-5 + 1e-5 * std::fabs(want[i]))
                    << "token " << i / (size_t)(c.n_head * c.hd) << " head " << (i / (size_t)c.hd) % (size_t)c.n_head
                    << " d " << i % (size_t)c.hd;
            // Query t of the batch equals, bit for bit, a single query at position p0 + t over
            // the same cache (verifying drafts must reproduce single-token decoding exactly).
            for (int64_t t = 0; t < c.n; ++t) {
                std::vector<float> one((size_t)(c.n_head * c.hd));
                run_attention(pool_of(threads), c, a, a.q.data() + t * c.n_head * c.hd, 1, c.p0 + t, one.data());
                for (size_t i = 0; i < one.size(); ++i)
                    ASSERT_EQ(one[i], out[(size_t)t * one.size() + i]) << "token " << t << " i " << i;
            }
        }
}

TEST(Ops, AttentionIsCausal) {
    // Changing the keys/values of later positions must not change earlier queries' output.
    std::mt19937 rng(37);
    const AttnCase c{8, 2, 56, 5, 7};
    AttnData a = make_attention_data(c, rng);
    std::vector<float> out1((size_t)(c.n * c.n_head * c.hd)), out2(out1.size());
    run_attention(pool_of(2), c, a, a.q.data(), c.n, c.p0, out1.data());
    const int64_t last = c.p0 + c.n - 1;  // seen only by the last query
    const std::vector<float> k50((size_t)(c.n_kv * c.hd), 50.0f), v1000((size_t)(c.n_kv * c.hd), 1000.0f);
    a.cache.store(0, last, k50.data(), v1000.data());
    run_attention(pool_of(2), c, a, a.q.data(), c.n, c.p0, out2.data());
    const size_t per_token = (size_t)(c.n_head * c.hd);
    for (size_t i = 0; i < (size_t)(c.n - 1) * per_token; ++i) ASSERT_EQ(float_bits(out1[i]), float_bits(out2[i])) << i;
    bool changed = false;
    for (size_t i = (size_t)(c.n - 1) * per_token; i < out1.size(); ++i) changed = changed || out1[i] != out2[i];
    EXPECT_TRUE(changed) << "the last query must see the last position";
}

TEST(Ops, VectorExpWithinTwoUlpOfLibm) {
    std::vector<float> x;
    for (float v = -87.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
    for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.5f, -0.5f, 88.5f}) x.push_back(v);
    std::vector<float> y(x.size());
    exp_approx(x.data(), (int64_t)x.size(), y.data());
    int64_t worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const float want = std::exp(x[i]);
        const int64_t ulp = std::llabs((int64_t)float_bits(y[i]) - (int64_t)float_bits(want));
        worst = std::max(worst, ulp);
        ASSERT_LE(ulp, 2) << "exp(" << x[i] << ") = " << y[i] << ", libm " << want;
    }
    // Beyond the float range: 0 and +inf like libm; NaN stays NaN.
    const float edge[4] = {-150.0f, 200.0f, std::numeric_limits<float>::quiet_NaN(), -1e30f};
    float out[4];
    exp_approx(edge, 4, out);
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(out[2]));
    EXPECT_EQ(out[3], 0.0f);
}

TEST(Ops, RopeTableEqualsDirectRope) {
    RopeTable table(56, 10000.0f);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-2, 2);
    for (int64_t pos : {0, 1, 17, 300, 1023, 5}) {
        std::vector<float> a(8 * 56);
        for (float& x : a) x = u(rng);
        std::vector<float> b = a;
        rope(a.data(), 8, 56, 56, pos, 10000.0f);
        table.apply(b.data(), 8, 56, pos);
        for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(float_bits(a[i]), float_bits(b[i])) << "pos " << pos;
    }
}

// ---- ThreadPool ----------------------------------------------------------------------------------

// A little work before a task reports, so a caller that returned before its workers
// finished would observe the missing reports.
uint64_t busy_work(int64_t seed, int iters) {
    volatile uint64_t acc = (uint64_t)seed;
    for (int i = 0; i < iters; ++i) acc = acc * 6364136223846793005ULL + 1442695040888963407ULL;
    return acc;
}

TEST(ThreadPool, SizeAndDefault) {
    EXPECT_EQ(pool_of(1).size(), 1);
    EXPECT_EQ(pool_of(3).size(), 3);
    ThreadPool zero(0);
    EXPECT_EQ(zero.size(), 1);
    EXPECT_GE(ThreadPool::default_threads(), 1);
}

TEST(ThreadPool, ParallelForRunsEachTaskExactlyOnce) {
    for (int threads = 1; threads <= 4; ++threads) {
        ThreadPool& pool = pool_of(threads);
        for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 31, 64, 1000, 65537}) {
            std::vector<std::atomic<int>> count((size_t)n);
            for (auto& c : count) c.store(0);
            std::vector<int64_t> plain((size_t)n, -1);  // non-atomic writes, read after return
            pool.parallel_for(n, [&](int64_t t) {
                if (n <= 64) (void)busy_work(t, 3000);
                plain[(size_t)t] = t * 3;
                count[(size_t)t].fetch_add(1, std::memory_order_relaxed);
            });
            for (int64_t t = 0; t < n; ++t) {
                ASSERT_EQ(count[(size_t)t].load(), 1) << threads << " threads, n " << n << ", task " << t;
                ASSERT_EQ(plain[(size_t)t], t * 3) << threads << " threads, n " << n << ", task " << t;
            }
        }
    }
}

TEST(ThreadPool, CallerWaitsForWorkersTasks) {
    // Tasks run by a worker pause before reporting, tasks run by the caller report at once:
    // whenever a worker takes part, the caller finishes its share first and parallel_for
    // must still wait for the workers' tasks. (The pause only makes an early return
    // visible; nothing depends on how long anything takes. A worker that starts late may
    // legitimately leave every task to the caller, so no task waits for another thread.)
    const int reps = kSanitized ? 20 : 60;
    int64_t worker_tasks = 0;
    for (int threads = 2; threads <= 4; ++threads) {
        ThreadPool& pool = pool_of(threads);
        for (int rep = 0; rep < reps; ++rep) {
            const int64_t n = 4 * threads;
            std::vector<std::atomic<int>> done((size_t)n);
            for (auto& d : done) d.store(0);
            std::atomic<int64_t> on_workers{0};
            const std::thread::id caller = std::this_thread::get_id();
            pool.parallel_for(n, [&](int64_t t) {
                (void)busy_work(t, 2000);  // give spinning workers time to claim tasks
                if (std::this_thread::get_id() != caller) {
                    on_workers.fetch_add(1);
                    std::this_thread::sleep_for(std::chrono::microseconds(500));
                }
                done[(size_t)t].fetch_add(1);
            });
            for (int64_t t = 0; t < n; ++t)
                ASSERT_EQ(done[(size_t)t].load(), 1) << threads << " threads, rep " << rep << ", task " << t;
            worker_tasks += on_workers.load();
        }
    }
    // Informational: how many tasks the workers took (the check above is only meaningful
    // when some did; with spinning workers that is essentially always).
    RecordProperty("worker_tasks", std::to_string(worker_tasks));
}

TEST(ThreadPool, ParallelForBeyondOneWorkWord) {
    // More tasks than one region's 20-bit counter holds: split into slices, still once each.
    const int64_t n = (int64_t)((1 << 20) - 1) + 1000;
    std::vector<std::atomic<uint8_t>> count((size_t)n);
    for (auto& c : count) c.store(0);
    pool_of(3).parallel_for(n, [&](int64_t t) { count[(size_t)t].fetch_add(1, std::memory_order_relaxed); });
    int64_t bad = 0;
    for (int64_t t = 0; t < n; ++t) bad += count[(size_t)t].load() != 1;
    EXPECT_EQ(bad, 0);
}

TEST(ThreadPool, BackToBackDispatches) {
    const int dispatches = kSanitized ? 3000 : 10000;
    for (int threads : {2, 3, 4}) {
        ThreadPool& pool = pool_of(threads);
        std::vector<std::atomic<int>> count(32);
        int64_t total = 0;
        std::atomic<int64_t> ran{0};
        for (int i = 0; i < dispatches; ++i) {
            const int64_t n = 1 + (i * 7) % 23;  // 1..23 tasks
            for (auto& c : count) c.store(0, std::memory_order_relaxed);
            pool.parallel_for(n, [&](int64_t t) {
                (void)busy_work(t, 200);
                count[(size_t)t].fetch_add(1, std::memory_order_relaxed);
                ran.fetch_add(1, std::memory_order_relaxed);
            });
            total += n;
            // Every task of this region has finished before parallel_for returned.
            for (int64_t t = 0; t < n; ++t)
                ASSERT_EQ(count[(size_t)t].load(), 1) << threads << " threads, dispatch " << i << ", task " << t;
            for (int64_t t = n; t < 32; ++t) ASSERT_EQ(count[(size_t)t].load(), 0) << "task beyond n ran";
        }
        EXPECT_EQ(ran.load(), total) << threads << " threads";
    }
}

TEST(ThreadPool, ParallelRangeCoversEachIndexOnce) {
    for (int threads = 1; threads <= 4; ++threads) {
        ThreadPool& pool = pool_of(threads);
        for (int64_t n : {0, 1, 2, 5, 9, 10, 100, 1000, 12345})
            for (int64_t grain : {0, 1, 3, 4, 7, 64, 100000}) {
                std::vector<std::atomic<int>> count((size_t)n);
                for (auto& c : count) c.store(0);
                std::atomic<int64_t> chunks{0}, bad_chunks{0};
                pool.parallel_range(n, grain, [&](int64_t b, int64_t e) {
                    chunks.fetch_add(1);
                    if (!(0 <= b && b < e && e <= n)) {
                        bad_chunks.fetch_add(1);
                        return;
                    }
                    for (int64_t i = b; i < e; ++i) count[(size_t)i].fetch_add(1);
                });
                SCOPED_TRACE(::testing::Message() << threads << " threads, n " << n << ", grain " << grain);
                ASSERT_EQ(bad_chunks.load(), 0);
                for (int64_t i = 0; i < n; ++i) ASSERT_EQ(count[(size_t)i].load(), 1) << "index " << i;
                if (n == 0) {
                    EXPECT_EQ(chunks.load(), 0);
                } else {
                    // No finer split than the grain allows, and bounded by the pool size.
                    const int64_t g = std::max<int64_t>(1, grain);
                    EXPECT_LE(chunks.load(), (n + g - 1) / g);
                    EXPECT_LE(chunks.load(), (int64_t)threads * 4);
                    EXPECT_GE(chunks.load(), 1);
                }
            }
    }
}

TEST(ThreadPool, ConstructAndDestroyWithoutWork) {
    // A pool destroyed before its workers ever ran must shut down (a worker that starts
    // after the destructor's wake-up must still notice the stop flag). A regression shows
    // up as a hang here, which the ctest TIMEOUT turns into a failure.
    const int rounds = kSanitized ? 50 : 300;
    for (int i = 0; i < rounds; ++i) {
        ThreadPool pool(1 + i % 4);
        if (i % 3 == 0) {
            std::atomic<int> c{0};
            pool.parallel_for(5, [&](int64_t) { c.fetch_add(1); });
            ASSERT_EQ(c.load(), 5);
        }
    }
}

}  // namespace
}  // namespace hsd
