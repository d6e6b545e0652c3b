// Tests of the int8-activation kernels (kernels/quant_*.h behind matmul's
// QuantActivations::Int8) for every quantized type:
//  - accuracy: tight against a double product of the dequantized weights (quant/dequantize.h,
//    the reference decoder) and the dequantized int8 activations; loose against the F32
//    activations, within the bound that int8 rounding (half a step per value) implies;
//  - batch invariance: each token's output is bit-identical whatever batch (n = 1 .. 17,
//    its position in it) and thread count it is computed with, on row counts that are not a
//    multiple of the row blocking and column counts that are odd multiples of the block size;
//  - matmul_multi / matmul_swiglu agree bit for bit with separate products;
//  - matrices repacked at load (kernels/quant_pack.h): bit-identical for any batch, position
//    and thread count, and within float rounding of the unpacking kernel (the same integer
//    products, summed in another order).
// No test asserts anything about timing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quant_act.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_pack.h"
#include "kernels/thread_pool.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"

namespace hsd {
namespace {

using gguf::TensorType;

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,   TensorType::Q5_1,
                             TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K,   TensorType::Q4_K,
                             TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

struct ModeGuard {
    QuantActivations saved = quant_activations();
    explicit ModeGuard(QuantActivations a) { set_quant_activations(a); }
    ~ModeGuard() { set_quant_activations(saved); }
};

ThreadPool& pool_of(int threads) {
    static std::unique_ptr<ThreadPool> pools[4];
    if (!pools[threads]) pools[threads] = std::make_unique<ThreadPool>(threads);
    return *pools[threads];
}

// Byte offsets of the F16 scale fields of one block of each type.
std::vector<size_t> scale_fields(TensorType t) {
    using namespace quant;
    switch (t) {
        case TensorType::Q4_0: return {offsetof(BlockQ4_0, d)};
        case TensorType::Q4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
        case TensorType::Q5_0: return {offsetof(BlockQ5_0, d)};
        case TensorType::Q5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
        case TensorType::Q8_0: return {offsetof(BlockQ8_0, d)};
        case TensorType::IQ4_NL: return {offsetof(BlockIQ4_NL, d)};
        case TensorType::Q2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
        case TensorType::Q3_K: return {offsetof(BlockQ3_K, d)};
        case TensorType::Q4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
        case TensorType::Q5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
        case TensorType::Q6_K: return {offsetof(BlockQ6_K, d)};
        case TensorType::IQ4_XS: return {offsetof(BlockIQ4_XS, d)};
        default: return {};
    }
}

// Random blocks: every code, scale and min bit pattern is legal except the F16 fields,
// which get finite values of a few magnitudes (signed: GGML files have negative scales).
std::vector<uint8_t> random_weights(TensorType t, int64_t rows, int64_t cols, std::mt19937& rng) {
    const size_t rb = gguf::tensor_row_bytes(t, (uint64_t)cols), bs = gguf::tensor_row_bytes(t, gguf::tensor_block_size(t));
    std::vector<uint8_t> data(rb * (size_t)rows);
    for (uint8_t& b : data) b = (uint8_t)rng();
    std::uniform_real_distribution<float> mag(0.25f, 2.0f);
    for (size_t off = 0; off < data.size(); off += bs)
        for (size_t f : scale_fields(t)) {
            const float v = mag(rng) * 0.01f * ((rng() & 1) ? 1.0f : -1.0f);
            const uint16_t h = f32_to_f16(v);
            std::memcpy(data.data() + off + f, &h, 2);
        }
    return data;
}

std::vector<float> random_acts(int64_t n, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x((size_t)(n * cols));
    for (int64_t t = 0; t < n; ++t)
        for (int64_t k = 0; k < cols; ++k) {
            float v = g(rng) * (float)(1 + t % 3);
            if (k % 97 == 5) v *= 20;  // outliers, as in real activations
            x[(size_t)(t * cols + k)] = v;
        }
    return x;
}

struct Case {
    TensorType type;
    int64_t rows, cols;
    std::vector<uint8_t> data;
    WeightView w;
};

Case make_case(TensorType t, int64_t rows, int64_t cols, std::mt19937& rng) {
    Case c{t, rows, cols, random_weights(t, rows, cols, rng), {}};
    c.w.data = c.data.data();
    c.w.type = t;
    c.w.rows = rows;
    c.w.cols = cols;
    return c;
}

// Odd multiples of the block size (legacy: also not multiples of 256).
int64_t odd_cols(TensorType t) { return gguf::tensor_block_size(t) == 256 ? 256 * 5 : 32 * 37; }

std::vector<float> dequantized(const WeightView& w) {
    std::vector<float> out((size_t)(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) decode_row(w, r, 0, w.cols, out.data() + r * w.cols);
    return out;
}

TEST(QuantKernels, TypeInfoCoversEveryQuantizedType) {
    for (TensorType t : kTypes) EXPECT_NE(qk::type_info(t), nullptr) << gguf::tensor_type_name(t);
    EXPECT_EQ(qk::type_info(TensorType::F32), nullptr);
    EXPECT_EQ(qk::type_info(TensorType::F16), nullptr);
    EXPECT_EQ(qk::type_info(TensorType::BF16), nullptr);
    std::printf("int8 kernel ISA: %s\n", qk::int8_isa());
}

TEST(QuantKernels, ActivationQuantization) {
    std::mt19937 rng(1);
    const int64_t cols = 32 * 37;
    const std::vector<float> x = random_acts(2, cols, rng);
    for (qk::Kind kind : {qk::Kind::Legacy, qk::Kind::K}) {
        qk::QuantActs a;
        qk::prepare_acts(kind, 2, cols, a);
        for (int64_t t = 0; t < 2; ++t) qk::quantize_token(x.data() + t * cols, t, a);
        const int64_t blk = 32;
        ASSERT_EQ(a.kpad, 256 * 5);
        for (int64_t t = 0; t < 2; ++t) {
            for (int64_t k = 0; k < a.kpad; ++k) {
                const int q = a.value(t, k);
                ASSERT_GE(q, -127);
                if (k >= cols) {
                    ASSERT_EQ(q, 0);
                    continue;
                }
                const float d = a.dt(t)[k / blk];
                ASSERT_LE(std::fabs(q * d - x[(size_t)(t * cols + k)]), 0.5001f * d) << k;
            }
            for (int64_t g = 0; g < a.kpad / 16; ++g) {
                int s = 0;
                for (int j = 0; j < 16; ++j) s += a.value(t, g * 16 + j);
                ASSERT_EQ(a.st(t)[g], s);
            }
        }
    }
}

// Int8 products against (1) the double product of the dequantized weights and the
// dequantized int8 activations and (2) the F32 activations.
TEST(QuantKernels, Int8MatchesReferences) {
    ModeGuard mode(QuantActivations::Int8);
    std::mt19937 rng(7);
    for (TensorType t : kTypes) {
        for (int64_t cols : {odd_cols(t), (int64_t)gguf::tensor_block_size(t), (int64_t)2048}) {
            SCOPED_TRACE(::testing::Message() << gguf::tensor_type_name(t) << " cols " << cols);
            const int64_t rows = 13, n = 3;
            const Case c = make_case(t, rows, cols, rng);
            const std::vector<float> W = dequantized(c.w);
            const std::vector<float> x = random_acts(n, cols, rng);
            std::vector<float> y((size_t)(n * rows));
            matmul(pool_of(2), c.w, x.data(), n, y.data());

            const qk::TypeInfo& ti = *qk::type_info(t);
            qk::QuantActs a;
            qk::prepare_acts(ti.kind, n, cols, a);
            const int64_t blk = 32;
            for (int64_t i = 0; i < n; ++i) {
                qk::quantize_token(x.data() + i * cols, i, a);
                for (int64_t r = 0; r < rows; ++r) {
                    double exact = 0, mag = 0, f32 = 0, step = 0;
                    for (int64_t k = 0; k < cols; ++k) {
                        const double wk = W[(size_t)(r * cols + k)], d = a.dt(i)[k / blk];
                        const double xq = a.value(i, k) * d;
                        exact += wk * xq;
                        mag += std::fabs(wk * xq);
                        f32 += wk * x[(size_t)(i * cols + k)];
                        step += std::fabs(wk) * d * 0.5;
                    }
                    const double got = y[(size_t)(i * rows + r)];
                    // Integers are exact; what is left is F32 rounding of a few products per block.
                    ASSERT_NEAR(got, exact, 2e-5 * mag + 1e-30) << "token " << i << " row " << r;
                    // Each activation moved by at most half its quantization step.
                    ASSERT_NEAR(got, f32, 1.001 * step + 2e-5 * mag) << "token " << i << " row " << r;
                }
            }
        }
    }
}

// The F32 path (decoded weights, F32 activations) stays available for every type.
TEST(QuantKernels, F32PathMatchesReference) {
    ModeGuard mode(QuantActivations::F32);
    std::mt19937 rng(8);
    for (TensorType t : kTypes) {
        SCOPED_TRACE(gguf::tensor_type_name(t));
        const Case c = make_case(t, 9, odd_cols(t), rng);
        const std::vector<float> x = random_acts(5, c.cols, rng);
        std::vector<float> y((size_t)(5 * c.rows)), ref((size_t)(5 * c.rows));
        matmul(pool_of(2), c.w, x.data(), 5, y.data());
        matmul_reference(c.w, x.data(), 5, ref.data());
        const std::vector<float> W = dequantized(c.w);
        for (int64_t i = 0; i < 5; ++i)
            for (int64_t r = 0; r < c.rows; ++r) {
                double mag = 0;
                for (int64_t k = 0; k < c.cols; ++k)
                    mag += std::fabs((double)W[(size_t)(r * c.cols + k)] * x[(size_t)(i * c.cols + k)]);
                ASSERT_NEAR(y[(size_t)(i * c.rows + r)], ref[(size_t)(i * c.rows + r)], 1e-5 * mag);
            }
    }
}

// Bit-identical outputs for a token whatever its batch, position and thread count, in both
// activation modes.
TEST(QuantKernels, BatchInvariance) {
    std::mt19937 rng(9);
    constexpr int64_t kTokens = 17;
    for (QuantActivations mode : {QuantActivations::Int8, QuantActivations::F32}) {
        ModeGuard guard(mode);
        for (TensorType t : kTypes) {
            SCOPED_TRACE(::testing::Message() << gguf::tensor_type_name(t)
                                              << (mode == QuantActivations::Int8 ? " int8" : " f32"));
            const Case c = make_case(t, 4 * 5 + 3, odd_cols(t), rng);
            const std::vector<float> x = random_acts(kTokens, c.cols, rng);
            std::vector<float> solo((size_t)(kTokens * c.rows));
            for (int64_t i = 0; i < kTokens; ++i)
                matmul(pool_of(1), c.w, x.data() + i * c.cols, 1, solo.data() + i * c.rows);
            for (int threads : {1, 2, 3}) {
                for (int64_t n = 1; n <= kTokens; ++n) {
                    // Batch of n tokens starting at a different token each time, wrapping around.
                    const int64_t first = (n * 5) % kTokens;
                    std::vector<float> xb((size_t)(n * c.cols)), y((size_t)(n * c.rows));
                    for (int64_t i = 0; i < n; ++i)
                        std::memcpy(xb.data() + i * c.cols, x.data() + ((first + i) % kTokens) * c.cols,
                                    sizeof(float) * (size_t)c.cols);
                    matmul(pool_of(threads), c.w, xb.data(), n, y.data());
                    for (int64_t i = 0; i < n; ++i)
                        ASSERT_EQ(0, std::memcmp(y.data() + i * c.rows, solo.data() + ((first + i) % kTokens) * c.rows,
                                                 sizeof(float) * (size_t)c.rows))
                            << threads << " threads, n " << n << ", position " << i;
                }
            }
        }
    }
}

// Prefill-sized batches (past the BLAS threshold, several passes of 16 tokens) stay
// bit-identical to single tokens: quantized weights never take the BLAS path.
TEST(QuantKernels, LargeBatchesStayInvariant) {
    std::mt19937 rng(12);
    const int64_t n = 64;
    for (QuantActivations mode : {QuantActivations::Int8, QuantActivations::F32}) {
        ModeGuard guard(mode);
        for (TensorType t : {TensorType::Q8_0, TensorType::Q4_K}) {
            const Case c = make_case(t, 19, 512, rng);
            const std::vector<float> x = random_acts(n, c.cols, rng);
            std::vector<float> y((size_t)(n * c.rows)), one((size_t)c.rows);
            matmul(pool_of(2), c.w, x.data(), n, y.data());
            for (int64_t i = 0; i < n; ++i) {
                matmul(pool_of(1), c.w, x.data() + i * c.cols, 1, one.data());
                ASSERT_EQ(0, std::memcmp(one.data(), y.data() + i * c.rows, sizeof(float) * (size_t)c.rows))
                    << gguf::tensor_type_name(t) << " token " << i;
            }
        }
    }
}

TEST(QuantKernels, MultiAndSwigluMatchSeparateProducts) {
    ModeGuard mode(QuantActivations::Int8);
    std::mt19937 rng(10);
    const int64_t cols = 512, n = 5;
    // A mix like a Q4_K_M file: K-quants with a legacy type in the same call.
    Case a = make_case(TensorType::Q4_K, 37, cols, rng), b = make_case(TensorType::Q6_K, 21, cols, rng),
         c = make_case(TensorType::Q8_0, 10, cols, rng);
    const std::vector<float> x = random_acts(n, cols, rng);
    std::vector<float> ya((size_t)(n * 37)), yb((size_t)(n * 21)), yc((size_t)(n * 10));
    const MatmulJob jobs[3] = {{&a.w, ya.data()}, {&b.w, yb.data()}, {&c.w, yc.data()}};
    matmul_multi(pool_of(2), jobs, 3, x.data(), n);
    for (const auto& [w, y] : {std::pair{&a.w, &ya}, std::pair{&b.w, &yb}, std::pair{&c.w, &yc}}) {
        std::vector<float> sep(y->size());
        matmul(pool_of(3), *w, x.data(), n, sep.data());
        ASSERT_EQ(0, std::memcmp(sep.data(), y->data(), sizeof(float) * sep.size()));
    }
    Case up = make_case(TensorType::Q4_K, 37, cols, rng);
    std::vector<float> g((size_t)(n * 37)), u((size_t)(n * 37)), gs((size_t)(n * 37)), us((size_t)(n * 37));
    matmul_swiglu(pool_of(2), a.w, up.w, x.data(), n, g.data(), u.data());
    matmul(pool_of(1), a.w, x.data(), n, gs.data());
    matmul(pool_of(1), up.w, x.data(), n, us.data());
    silu_mul(gs.data(), us.data(), n * 37);
    ASSERT_EQ(0, std::memcmp(gs.data(), g.data(), sizeof(float) * gs.size()));
    ASSERT_EQ(0, std::memcmp(us.data(), u.data(), sizeof(float) * us.size()));
}

// A packed copy of a case's matrix (kernels/quant_pack.h), as Model::load makes it.
// Its `data` points at zeros: a kernel that read the original instead of the packed copy
// would give other results.
struct PackedCopy {
    std::vector<uint8_t> bytes, zeros;
    WeightView w;
    explicit PackedCopy(const WeightView& src) : zeros(src.bytes(), 0), w(src) {
        bytes.resize(qk::packed_size(src));
        const int64_t blocks = qk::packed_row_blocks(src);
        // In two halves, as threads may pack row blocks independently.
        qk::pack_matrix(src, bytes.data(), 0, blocks / 2);
        qk::pack_matrix(src, bytes.data(), blocks / 2, blocks);
        w.packed = bytes.data();
        w.data = zeros.data();
    }
};

TEST(QuantKernels, PackedLayoutIsBatchInvariantAndAgreesWithTheUnpackingKernel) {
    ModeGuard mode(QuantActivations::Int8);
    int packed_types = 0;
    std::mt19937 rng(21);
    constexpr int64_t kTokens = 17;
    for (TensorType t : kTypes) {
        if (!qk::packing_supported(t)) continue;
        ++packed_types;
        const bool k_quant = gguf::tensor_block_size(t) == 256;
        // Row counts below, at and past the 16-row block; legacy columns with a partial last
        // unit (448 = 1.75 units, the short rows of hsd-target-xl) and an odd block count.
        std::vector<int64_t> col_set = k_quant ? std::vector<int64_t>{256, 256 * 5} : std::vector<int64_t>{448, odd_cols(t)};
        for (int64_t cols : col_set)
            for (int64_t rows : {int64_t{5}, int64_t{16}, int64_t{16 * 2 + 7}}) {
                SCOPED_TRACE(::testing::Message() << gguf::tensor_type_name(t) << " " << rows << " x " << cols);
                const Case c = make_case(t, rows, cols, rng);
                const PackedCopy p(c.w);
                const std::vector<float> x = random_acts(kTokens, cols, rng);
                // Every token alone, single-threaded: the results all batches must reproduce.
                std::vector<float> solo((size_t)(kTokens * rows)), unpacked((size_t)(kTokens * rows));
                for (int64_t i = 0; i < kTokens; ++i)
                    matmul(pool_of(1), p.w, x.data() + i * cols, 1, solo.data() + i * rows);
                matmul(pool_of(1), c.w, x.data(), kTokens, unpacked.data());
                // The same integer products as the unpacking kernel, summed in another order:
                // within a few float roundings of sum |w| |x| (a few dozen block terms).
                const std::vector<float> wd = dequantized(c.w);
                for (size_t i = 0; i < solo.size(); ++i) {
                    const size_t tok = i / (size_t)rows, row = i % (size_t)rows;
                    double mag = 0;
                    for (int64_t k = 0; k < cols; ++k)
                        mag += std::fabs((double)wd[row * (size_t)cols + (size_t)k] * x[tok * (size_t)cols + (size_t)k]);
                    ASSERT_NEAR(solo[i], unpacked[i], 4e-6 * mag) << "token " << tok << " row " << row;
                }
                for (int threads : {1, 2, 3})
                    for (int64_t n : {2, 3, 8, 9, 16, 17}) {
                        const int64_t first = (n * 5) % kTokens;
                        std::vector<float> xb((size_t)(n * cols)), y((size_t)(n * rows), -1.0f);
                        for (int64_t i = 0; i < n; ++i)
                            std::memcpy(xb.data() + i * cols, x.data() + ((first + i) % kTokens) * cols,
                                        sizeof(float) * (size_t)cols);
                        matmul(pool_of(threads), p.w, xb.data(), n, y.data());
                        for (int64_t i = 0; i < n; ++i)
                            ASSERT_EQ(0, std::memcmp(y.data() + i * rows, solo.data() + ((first + i) % kTokens) * rows,
                                                     sizeof(float) * (size_t)rows))
                                << threads << " threads, n " << n << ", position " << i;
                    }
            }
    }
    // The fused SwiGLU region over packed gate / up (the FFN of a Q4_K_M file) equals separate
    // products.
    if (qk::packing_supported(TensorType::Q4_K)) {
        const int64_t cols = 512, rows = 37, n = 5;
        Case gate = make_case(TensorType::Q4_K, rows, cols, rng), up = make_case(TensorType::Q4_K, rows, cols, rng);
        const PackedCopy pg(gate.w), pu(up.w);
        const std::vector<float> x = random_acts(n, cols, rng);
        std::vector<float> g((size_t)(n * rows)), u((size_t)(n * rows)), gs((size_t)(n * rows)), us((size_t)(n * rows));
        matmul_swiglu(pool_of(3), pg.w, pu.w, x.data(), n, g.data(), u.data());
        matmul(pool_of(1), pg.w, x.data(), n, gs.data());
        matmul(pool_of(1), pu.w, x.data(), n, us.data());
        silu_mul(gs.data(), us.data(), n * rows);
        ASSERT_EQ(0, std::memcmp(gs.data(), g.data(), sizeof(float) * g.size()));
        ASSERT_EQ(0, std::memcmp(us.data(), u.data(), sizeof(float) * u.size()));
    }
    if (packed_types == 0) GTEST_SKIP() << "this build (" << qk::int8_isa() << ") has no packed layout";
    // Every type with an integer kernel is packed but the 2- and 3-bit K-quants.
    EXPECT_EQ(packed_types, 10);
}

}  // namespace
}  // namespace hsd
