// Tests for the quantizers (src/quant/quantize*.cpp):
//  - against llama.cpp: every quantized tensor of the shared hsd-m1 files made by
//    llama-quantize is requantized here from the F16 original (decoded to F32 first, as
//    llama.cpp does) and compared block by block; every block must be identical;
//  - quantize -> dequantize round trips of every type on random data (gaussian, uniform,
//    outliers, zero and constant blocks, tiny and huge magnitudes) and on the hsd-m1
//    weights, within the error each format guarantees.
// Their speed is a benchmark: bench/bench_quantize.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"
#include "quant/quantize.h"

namespace {

using hsd::gguf::File;
using hsd::gguf::TensorInfo;
using hsd::gguf::TensorType;
namespace fs = std::filesystem;

const std::string kModels = std::string(HSD_SHARED_DIR) + "/models";

// Row r of a F16 or F32 tensor, as F32.
std::vector<float> source_row(const TensorInfo& t, uint64_t r) {
    const uint64_t n = t.dims[0];
    std::vector<float> out(n);
    if (t.type() == TensorType::F32) {
        std::memcpy(out.data(), t.data + r * n * 4, n * 4);
    } else {
        EXPECT_EQ(t.type(), TensorType::F16) << t.name;
        const auto* h = reinterpret_cast<const uint16_t*>(t.data) + r * n;
        for (uint64_t i = 0; i < n; ++i) out[i] = hsd::f16_to_f32(h[i]);
    }
    return out;
}

struct Match {
    uint64_t blocks = 0, same = 0;
};

// ---- byte comparison with llama-quantize ---------------------------------------------------

TEST(QuantizeVsLlamaCpp, BlocksMatchLlamaQuantize) {
    const auto orig = File::open(kModels + "/hsd-m1.gguf");
    std::map<std::string, Match> per_type;
    for (const char* name : {"Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"}) {
        const auto q = File::open(kModels + "/quant/hsd-m1-" + std::string(name) + ".gguf");
        for (const TensorInfo& t : q->tensors()) {
            if (t.type() == TensorType::F32 || t.type() == TensorType::F16) continue;
            const TensorInfo& src = orig->tensor(t.name);
            ASSERT_EQ(src.dims, t.dims) << t.name;
            const uint64_t n = t.dims[0];
            const size_t row_bytes = hsd::gguf::tensor_row_bytes(t.type(), n);
            const size_t block_bytes = hsd::gguf::tensor_row_bytes(t.type(), hsd::gguf::tensor_block_size(t.type()));
            std::vector<uint8_t> mine(row_bytes);
            Match& m = per_type[hsd::gguf::tensor_type_name(t.type())];
            for (uint64_t r = 0; r < t.rows(); ++r) {
                const std::vector<float> x = source_row(src, r);
                hsd::quant::quantize_row(t.type(), x.data(), mine.data(), (int64_t)n);
                const uint8_t* theirs = t.data + r * row_bytes;
                for (size_t b = 0; b < row_bytes; b += block_bytes) {
                    ++m.blocks;
                    m.same += std::memcmp(mine.data() + b, theirs + b, block_bytes) == 0;
                }
            }
        }
    }
    // Every type must appear: the five files hold eleven quantized types between them.
    EXPECT_EQ(per_type.size(), 11u);
    for (const auto& [type, m] : per_type) {
        const double frac = (double)m.same / (double)m.blocks;
        std::printf("%-7s %8llu blocks, identical %.6f\n", type.c_str(), (unsigned long long)m.blocks, frac);
        EXPECT_EQ(m.same, m.blocks) << type << ": only " << frac << " of the blocks are llama.cpp's";
    }
}

// ---- round trips ---------------------------------------------------------------------------

const TensorType kQuantTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                  TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                                  TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

std::vector<float> round_trip(TensorType type, const std::vector<float>& x, std::vector<uint8_t>* bytes = nullptr) {
    std::vector<uint8_t> q(hsd::gguf::tensor_row_bytes(type, x.size()));
    hsd::quant::quantize_row(type, x.data(), q.data(), (int64_t)x.size());
    std::vector<float> y(x.size());
    hsd::quant::dequantize_row(type, q.data(), y.data(), (int64_t)x.size());
    if (bytes) *bytes = std::move(q);
    return y;
}

double rel_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
    double e = 0, s = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    return s > 0 ? std::sqrt(e / s) : std::sqrt(e);
}

// Test inputs of 64 super-blocks each; magnitudes of 1 unless scaled.
std::map<std::string, std::vector<float>> test_inputs(float scale = 1) {
    constexpr size_t n = 64 * hsd::quant::kSuperBlock;
    std::mt19937 rng(1234);
    std::normal_distribution<float> gauss(0, 1);
    std::uniform_real_distribution<float> uni(-1, 1);
    std::map<std::string, std::vector<float>> in;
    auto& g = in["gaussian"];
    auto& u = in["uniform"];
    auto& o = in["outliers"];
    auto& s = in["positive_shifted"];
    for (size_t i = 0; i < n; ++i) {
        g.push_back(gauss(rng));
        u.push_back(uni(rng));
        o.push_back(gauss(rng) * (rng() % 61 == 0 ? 40.f : 1.f));  // a few huge values per block
        s.push_back(3 + uni(rng));                                 // all of one sign, off centre
    }
    for (auto& [name, v] : in)
        for (float& f : v) f *= scale;
    return in;
}

std::string fmt_g(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// Largest error a F16 rounding of v can have made: half an ulp (normal or subnormal).
double f16_slop(uint16_t h) {
    const double v = std::fabs((double)hsd::f16_to_f32(h));
    return std::max(v * std::ldexp(1.0, -11), std::ldexp(1.0, -25));
}

// Legacy formats: every value lies within half a step of its block's grid (one step for a
// symmetric type's top level, which the reference clamps), up to the F16 rounding of d and m.
struct LegacyGrid {
    TensorType type;
    size_t block_bytes;
    int offset;  // symmetric: level = round(x / d) + offset; asymmetric (min stored): -1
    int top;     // highest level
};
const LegacyGrid kLegacy[] = {{TensorType::Q4_0, 18, 8, 15},  {TensorType::Q5_0, 22, 16, 31},
                              {TensorType::Q8_0, 34, 0, 127}, {TensorType::Q4_1, 20, -1, 15},
                              {TensorType::Q5_1, 24, -1, 31}};

void check_legacy_bounds(const LegacyGrid& g, const std::vector<float>& x, const std::string& what) {
    std::vector<uint8_t> q;
    const std::vector<float> y = round_trip(g.type, x, &q);
    double worst = 0, worst_clamped = 0;  // error / (half a step)
    for (size_t b = 0; b < x.size() / 32; ++b) {
        uint16_t dh, mh = 0;
        std::memcpy(&dh, q.data() + b * g.block_bytes, 2);
        if (g.offset < 0) std::memcpy(&mh, q.data() + b * g.block_bytes + 2, 2);
        const double d = std::fabs((double)hsd::f16_to_f32(dh));
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const double slack = 1e-5 * amax + 1e-30;
        for (int j = 0; j < 32; ++j) {
            const size_t i = b * 32 + j;
            ASSERT_TRUE(std::isfinite(y[i])) << hsd::gguf::tensor_type_name(g.type) << " " << what;
            const double err = std::fabs((double)x[i] - y[i]);
            double allowed;
            const double t = d > 0 && g.offset >= 0 ? x[i] / (double)hsd::f16_to_f32(dh) + g.offset : 0;
            const bool clamped = t > g.top + 0.49;
            if (g.offset >= 0) {
                allowed = (clamped ? 1.0 : 0.5) * d + (g.top + 1) * f16_slop(dh) + slack;
            } else {
                allowed = 0.5 * d + (g.top + 0.5) * f16_slop(dh) + f16_slop(mh) + slack;
            }
            ASSERT_LE(err, allowed) << hsd::gguf::tensor_type_name(g.type) << " " << what << " value " << i
                                    << " x=" << x[i] << " y=" << y[i] << " d=" << d;
            if (d > 0) (clamped ? worst_clamped : worst) = std::max(clamped ? worst_clamped : worst, err / (0.5 * d));
        }
    }
    std::printf("%-6s %-20s max error %.3f half-steps (clamped top level: %.3f)\n", hsd::gguf::tensor_type_name(g.type),
                what.c_str(), worst, worst_clamped);
}

TEST(QuantizeRoundTrip, LegacyTypesStayWithinHalfAStep) {
    // x100 keeps the outliers (up to ~2e4) and the mins within F16 range.
    for (float scale : {1e-3f, 1.f, 100.f}) {
        for (const auto& [name, x] : test_inputs(scale)) {
            for (const LegacyGrid& g : kLegacy) check_legacy_bounds(g, x, name + " x" + fmt_g(scale));
        }
    }
}

// Relative RMS error bounds for gaussian data and for the hsd-m1 weights: 10% above what
// these quantizers (byte-identical to llama.cpp's) give on gaussian data, so a change that
// loses quality fails; each extra bit about halves the error.
double gaussian_rms_bound(TensorType t) {
    switch (t) {
        case TensorType::Q2_K: return 0.33;
        case TensorType::Q3_K: return 0.168;
        case TensorType::Q4_0: return 0.096;
        case TensorType::Q4_1: return 0.086;
        case TensorType::Q4_K: return 0.079;
        case TensorType::IQ4_NL: return 0.084;
        case TensorType::IQ4_XS: return 0.085;
        case TensorType::Q5_0: return 0.048;
        case TensorType::Q5_1: return 0.041;
        case TensorType::Q5_K: return 0.040;
        case TensorType::Q6_K: return 0.0197;
        case TensorType::Q8_0: return 0.006;
        default: return 0;
    }
}

TEST(QuantizeRoundTrip, RmsErrorPerType) {
    for (float scale : {1e-3f, 1.f, 100.f}) {
        const auto inputs = test_inputs(scale);
        for (TensorType t : kQuantTypes) {
            std::string line;
            for (const auto& [name, x] : inputs) {
                const std::vector<float> y = round_trip(t, x);
                for (float v : y) ASSERT_TRUE(std::isfinite(v)) << hsd::gguf::tensor_type_name(t) << " " << name;
                const double e = rel_rms_error(x, y);
                line += "  " + name + " " + std::to_string(e);
                // At 1e-3 the F16 super-block scales of the K-quants are subnormal: a little worse.
                const double bound = gaussian_rms_bound(t) * (scale < 1 ? 1.25 : 1.0);
                if (name == "gaussian") {
                    EXPECT_LE(e, bound) << hsd::gguf::tensor_type_name(t) << " x" << scale;
                }
                // Uniform data and one-signed data are easier than gaussian; outliers cost
                // the legacy types most (one scale per 32 values).
                if (name == "uniform" || name == "positive_shifted") {
                    EXPECT_LE(e, bound) << hsd::gguf::tensor_type_name(t) << " " << name;
                }
            }
            std::printf("%-6s x%-6g%s\n", hsd::gguf::tensor_type_name(t), scale, line.c_str());
        }
    }
}

TEST(QuantizeRoundTrip, ZeroAndConstantBlocks) {
    const size_t n = 4 * hsd::quant::kSuperBlock;
    std::mt19937 rng(5);
    std::normal_distribution<float> gauss(0, 1);
    for (TensorType t : kQuantTypes) {
        const std::vector<float> zeros(n, 0.f);
        for (float v : round_trip(t, zeros)) ASSERT_EQ(v, 0.f) << hsd::gguf::tensor_type_name(t);
        // Zero groups of 32 among non-zero ones decode to exact zeros in every format (their
        // sub-block scale and min quantize to 0).
        std::vector<float> sparse(n, 0.f);
        for (size_t i = 0; i < n; ++i) sparse[i] = (i / 32) % 3 == 1 ? gauss(rng) : 0.f;
        const std::vector<float> ys = round_trip(t, sparse);
        for (size_t i = 0; i < n; ++i) {
            if (sparse[i] == 0) {
                ASSERT_EQ(ys[i], 0.f) << hsd::gguf::tensor_type_name(t) << " value " << i;
            }
        }
        for (float c : {0.37f, -2.5f, 1e-3f, -300.f}) {
            const std::vector<float> x(n, c);
            const std::vector<float> y = round_trip(t, x);
            double worst = 0;
            for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs((double)y[i] - c) / std::fabs(c));
            std::printf("%-6s constant %-8g max rel error %.5f\n", hsd::gguf::tensor_type_name(t), c, worst);
            // A constant is one grid point away from exact at worst (F16 scale rounding,
            // 6-bit min of the K-quants): within 4% for every format.
            EXPECT_LE(worst, 0.04) << hsd::gguf::tensor_type_name(t) << " constant " << c;
        }
    }
}

TEST(QuantizeRoundTrip, HsdM1Weights) {
    const auto orig = File::open(kModels + "/hsd-m1.gguf");
    for (TensorType t : kQuantTypes) {
        double e2 = 0, s2 = 0;
        for (const TensorInfo& src : orig->tensors()) {
            if (src.dims.size() != 2 || src.dims[0] % hsd::quant::kSuperBlock != 0) continue;
            for (uint64_t r = 0; r < src.rows(); r += 7) {  // every 7th row keeps this quick
                const std::vector<float> x = source_row(src, r);
                const std::vector<float> y = round_trip(t, x);
                for (size_t i = 0; i < x.size(); ++i) {
                    e2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                    s2 += (double)x[i] * x[i];
                }
            }
        }
        const double e = std::sqrt(e2 / s2);
        std::printf("%-6s hsd-m1 weights relative RMS error %.5f\n", hsd::gguf::tensor_type_name(t), e);
        EXPECT_LE(e, gaussian_rms_bound(t)) << hsd::gguf::tensor_type_name(t);
    }
}

TEST(QuantizeRoundTrip, BlocksAreIndependent) {
    // What a threaded caller relies on: quantizing a row in pieces gives the same bytes.
    const std::vector<float> x = test_inputs()["outliers"];
    for (TensorType t : kQuantTypes) {
        std::vector<uint8_t> whole(hsd::gguf::tensor_row_bytes(t, x.size()));
        hsd::quant::quantize_row(t, x.data(), whole.data(), (int64_t)x.size());
        const size_t piece = 3 * hsd::quant::kSuperBlock;
        for (size_t at = 0; at < x.size(); at += piece) {
            const size_t len = std::min(piece, x.size() - at);
            std::vector<uint8_t> part(hsd::gguf::tensor_row_bytes(t, len));
            hsd::quant::quantize_row(t, x.data() + at, part.data(), (int64_t)len);
            ASSERT_EQ(0, std::memcmp(part.data(), whole.data() + hsd::gguf::tensor_row_bytes(t, at), part.size()))
                << hsd::gguf::tensor_type_name(t) << " at " << at;
        }
    }
    // Non-finite weights spoil only their own blocks (and, run under UBSan, convert nothing
    // out of range).
    for (TensorType t : kQuantTypes) {
        std::vector<float> bad = x;
        bad[5] = std::nanf("");
        bad[300] = INFINITY;
        std::vector<uint8_t> qa(hsd::gguf::tensor_row_bytes(t, x.size())), qb(qa.size());
        hsd::quant::quantize_row(t, x.data(), qa.data(), (int64_t)x.size());
        hsd::quant::quantize_row(t, bad.data(), qb.data(), (int64_t)x.size());
        const size_t skip = hsd::gguf::tensor_row_bytes(t, 2 * hsd::quant::kSuperBlock);
        EXPECT_EQ(0, std::memcmp(qa.data() + skip, qb.data() + skip, qa.size() - skip)) << hsd::gguf::tensor_type_name(t);
    }
    std::vector<uint8_t> out(64);
    EXPECT_THROW(hsd::quant::quantize_row(TensorType::Q4_K, x.data(), out.data(), 32), hsd::Error);
    EXPECT_THROW(hsd::quant::quantize_row(TensorType::Q8_K, x.data(), out.data(), 256), hsd::Error);
}

}  // namespace
