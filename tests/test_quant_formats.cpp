// The GGML block formats, decoded by quant::dequantize_row (and its scalar reference path):
// - hand-built blocks: every weight equals, to the bit, the value the format definition gives,
//   computed here element by element from the layout description (independently of
//   quant/dequantize.cpp, which decodes block by block), over chosen edge cases and random bits;
// - the llama.cpp-quantized hsd-m1 files: every quantized tensor decodes to within the error
//   its bit width allows of the original F16 weights (a wrong bit position fails by ~100%);
// - quant::check_row finds non-finite block scales and names the block.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"
#include "quant/validate.h"
#include "test_support.h"

using namespace hsd;
using gguf::TensorType;
using TT = gguf::TensorType;

namespace {

// ---- the format definitions, written independently of the decoder -------------------------

// IEEE binary16 -> float by its definition (finite values only in these tests).
float half_value(uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double mag = e == 0 ? std::ldexp((double)m, -24) : std::ldexp((double)(1024 + m), e - 25);
    return (float)((h & 0x8000) ? -mag : mag);
}

const int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

uint16_t u16_at(const uint8_t* b, size_t off) { return (uint16_t)(b[off] | b[off + 1] << 8); }

// Nibble `hi` (0 low, 1 high) of byte k.
int nib(const uint8_t* qs, int k, int hi) { return (qs[k] >> (4 * hi)) & 15; }

// Expected weight i of one block (raw bytes b). Byte offsets follow the GGML structs.
float expect_weight(TT t, const uint8_t* b, int i) {
    switch (t) {
        case TT::Q4_0: {  // d; qs[16]: weight i in nibble i/16 of byte i%16
            const float d = half_value(u16_at(b, 0));
            return (float)(nib(b + 2, i % 16, i / 16) - 8) * d;
        }
        case TT::Q4_1: {  // d, m; qs[16]
            const float d = half_value(u16_at(b, 0)), m = half_value(u16_at(b, 2));
            const float p = (float)nib(b + 4, i % 16, i / 16) * d;
            return p + m;
        }
        case TT::Q5_0: {  // d; qh (32 bits, bit i = fifth bit of weight i); qs[16]
            const float d = half_value(u16_at(b, 0));
            const int q = nib(b + 6, i % 16, i / 16) + 16 * ((b[2 + i / 8] >> (i % 8)) & 1);
            return (float)(q - 16) * d;
        }
        case TT::Q5_1: {  // d, m; qh; qs[16]
            const float d = half_value(u16_at(b, 0)), m = half_value(u16_at(b, 2));
            const int q = nib(b + 8, i % 16, i / 16) + 16 * ((b[4 + i / 8] >> (i % 8)) & 1);
            const float p = (float)q * d;
            return p + m;
        }
        case TT::Q8_0: return (float)(int8_t)b[2 + i] * half_value(u16_at(b, 0));
        case TT::IQ4_NL: return half_value(u16_at(b, 0)) * (float)kLevels[nib(b + 2, i % 16, i / 16)];
        case TT::Q2_K: {  // scales[16] (lo: scale, hi: min); qs[64]; d; dmin
            const float d = half_value(u16_at(b, 80)), dmin = half_value(u16_at(b, 82));
            const int sc = b[i / 16];
            const int q = (b[16 + 32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
            const float p = dl * (float)q;
            return p - ml;
        }
        case TT::Q3_K: {  // hmask[32]; qs[64]; scales[12]; d
            const float d = half_value(u16_at(b, 108));
            // The 16 six-bit scales as four little-endian words, rearranged as GGML does.
            uint32_t w[3];
            std::memcpy(w, b + 96, 12);
            const uint32_t k2 = 0x0f0f0f0f, k1 = 0x03030303;
            const uint32_t a[4] = {(w[0] & k2) | ((w[2] & k1) << 4), (w[1] & k2) | (((w[2] >> 2) & k1) << 4),
                                   ((w[0] >> 4) & k2) | (((w[2] >> 4) & k1) << 4),
                                   ((w[1] >> 4) & k2) | (((w[2] >> 6) & k1) << 4)};
            const int s = (int)((a[(i / 16) / 4] >> (8 * ((i / 16) % 4))) & 0xff) - 32;  // scale i/16
            const int lo = (b[32 + 32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            const int high = (b[i % 32] >> (i / 32)) & 1;
            return (d * (float)s) * (float)(lo - (high ? 0 : 4));
        }
        case TT::Q4_K:
        case TT::Q5_K: {  // d; dmin; scales[12]; (Q5_K: qh[32]); qs[128]
            const float d = half_value(u16_at(b, 0)), dmin = half_value(u16_at(b, 2));
            const uint8_t* s = b + 4;
            const int j = i / 32;  // sub-block
            const int sc = j < 4 ? (s[j] & 63) : ((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
            const int mn = j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
            const uint8_t* qs = b + (t == TT::Q4_K ? 16 : 48);
            int q = nib(qs, 32 * (i / 64) + i % 32, j % 2);
            if (t == TT::Q5_K) q += 16 * ((b[16 + i % 32] >> j) & 1);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            const float p = d1 * (float)q;
            return p - m1;
        }
        case TT::Q6_K: {  // ql[128]; qh[64]; scales[16] (int8); d
            const float d = half_value(u16_at(b, 208));
            const int h = i / 128, quarter = (i % 128) / 32, l = i % 32;
            const int lo = nib(b, 64 * h + 32 * (quarter % 2) + l, quarter / 2);
            const int hi = (b[128 + 32 * h + l] >> (2 * quarter)) & 3;
            return (d * (float)(int8_t)b[192 + i / 16]) * (float)((lo | hi << 4) - 32);
        }
        case TT::IQ4_XS: {  // d; scales_h (16 bits); scales_l[4]; qs[128]
            const float d = half_value(u16_at(b, 0));
            const int ib = i / 32, j = i % 32;
            const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((u16_at(b, 2) >> (2 * ib)) & 3) << 4);
            return (d * (float)(ls - 32)) * (float)kLevels[nib(b + 8 + 16 * ib, j % 16, j / 16)];
        }
        default: ADD_FAILURE() << "no definition for this type"; return 0;
    }
}

struct Format {
    TT type;
    int elems;             // per block
    size_t bytes;          // per block
    std::vector<size_t> f16_fields;  // byte offsets of the F16 scales
};

const std::vector<Format>& formats() {
    static const std::vector<Format> f = {
        {TT::Q4_0, 32, 18, {0}},    {TT::Q4_1, 32, 20, {0, 2}},   {TT::Q5_0, 32, 22, {0}},
        {TT::Q5_1, 32, 24, {0, 2}}, {TT::Q8_0, 32, 34, {0}},      {TT::IQ4_NL, 32, 18, {0}},
        {TT::Q2_K, 256, 84, {80, 82}}, {TT::Q3_K, 256, 110, {108}}, {TT::Q4_K, 256, 144, {0, 2}},
        {TT::Q5_K, 256, 176, {0, 2}},  {TT::Q6_K, 256, 210, {208}}, {TT::IQ4_XS, 256, 136, {0}},
    };
    return f;
}

struct Rng {
    uint64_t s;
    uint32_t next() {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return (uint32_t)(s >> 33);
    }
};

void put_f16(uint8_t* b, size_t off, uint16_t h) {
    b[off] = (uint8_t)(h & 0xff);
    b[off + 1] = (uint8_t)(h >> 8);
}

// A finite F16: any sign, exponent 0..30 (zero and subnormals included).
uint16_t random_f16(Rng& r) {
    uint16_t h = (uint16_t)r.next();
    if (((h >> 10) & 31) == 31) h = (uint16_t)(h & ~0x4000);
    return h;
}

// Blocks of a row: edge cases first, then random bits.
std::vector<uint8_t> make_row(const Format& f, int n_blocks, uint64_t seed) {
    std::vector<uint8_t> row((size_t)n_blocks * f.bytes);
    Rng r{seed};
    for (int b = 0; b < n_blocks; ++b) {
        uint8_t* p = row.data() + (size_t)b * f.bytes;
        for (size_t k = 0; k < f.bytes; ++k) {
            switch (b) {
                case 0: p[k] = 0xff; break;                        // every high bit / nibble 15 / scale 63
                case 1: p[k] = 0x00; break;                        // every bit clear
                case 2: p[k] = (uint8_t)((k % 16) | (15 - k % 16) << 4); break;  // every nibble value
                case 3: p[k] = (uint8_t)(k * 37 + 11); break;
                default: p[k] = (uint8_t)r.next(); break;
            }
        }
        // Scales: 1.0 and 0.5 (exact), negative, zero, random finite.
        for (size_t i = 0; i < f.f16_fields.size(); ++i) {
            uint16_t h;
            switch (b) {
                case 0: h = i ? 0x3800 : 0x3c00; break;  // 0.5, 1.0
                case 1: h = 0xbc00; break;               // -1.0
                case 2: h = i ? 0x0000 : 0x2e66; break;  // zero min, 0.1
                case 3: h = 0x8000; break;               // -0.0
                default: h = random_f16(r); break;
            }
            put_f16(p, f.f16_fields[i], h);
        }
    }
    return row;
}

uint32_t bits(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
}

TEST(QuantFormats, EveryWeightMatchesTheDefinitionBitForBit) {
    for (const Format& f : formats()) {
        for (int n_blocks : {1, 5, 24}) {
            const std::vector<uint8_t> row = make_row(f, n_blocks, 1234 + (uint64_t)n_blocks);
            const int64_t n = (int64_t)n_blocks * f.elems;
            std::vector<float> got((size_t)n), ref((size_t)n);
            quant::dequantize_row(f.type, row.data(), got.data(), n);
            quant::dequantize_row_scalar(f.type, row.data(), ref.data(), n);
            int bad = 0;
            for (int64_t i = 0; i < n && bad < 5; ++i) {
                const int blk = (int)(i / f.elems), j = (int)(i % f.elems);
                const float want = expect_weight(f.type, row.data() + (size_t)blk * f.bytes, j);
                if (bits(got[(size_t)i]) != bits(want) || bits(ref[(size_t)i]) != bits(want)) {
                    ++bad;
                    ADD_FAILURE() << gguf::tensor_type_name(f.type) << " block " << blk << " of " << n_blocks
                                  << " weight " << j << ": want " << want << " got " << got[(size_t)i]
                                  << " (scalar path " << ref[(size_t)i] << ")";
                }
            }
        }
    }
}

// A block decodes the same alone as inside a row (no state carried between blocks), and the
// last block of a row is written exactly up to n.
TEST(QuantFormats, BlocksAreIndependentAndRowEndIsExact) {
    for (const Format& f : formats()) {
        const int nb = 7;
        const std::vector<uint8_t> row = make_row(f, nb, 99);
        std::vector<float> full((size_t)(nb * f.elems + 1), -777.0f);
        quant::dequantize_row(f.type, row.data(), full.data(), nb * f.elems);
        EXPECT_EQ(full.back(), -777.0f) << gguf::tensor_type_name(f.type) << " wrote past the row";
        for (int b = 0; b < nb; ++b) {
            std::vector<float> one((size_t)f.elems);
            quant::dequantize_row(f.type, row.data() + (size_t)b * f.bytes, one.data(), f.elems);
            EXPECT_EQ(0, std::memcmp(one.data(), full.data() + (size_t)b * f.elems, one.size() * 4))
                << gguf::tensor_type_name(f.type) << " block " << b;
        }
    }
}

// A few fully hand-computed values, so the definitions above are themselves pinned down.
TEST(QuantFormats, HandComputedValues) {
    {  // Q4_0: d = 2, byte 0 = 0xF3: weight 0 = (3 - 8) * 2, weight 16 = (15 - 8) * 2
        quant::BlockQ4_0 b{};
        b.d = 0x4000;
        b.qs[0] = 0xf3;
        float y[32];
        quant::dequantize_row(TT::Q4_0, &b, y, 32);
        EXPECT_EQ(y[0], -10.0f);
        EXPECT_EQ(y[16], 14.0f);
        EXPECT_EQ(y[1], -16.0f);
    }
    {  // Q5_0: bit 16 of qh sets weight 16's fifth bit: (0 | 16) - 16 = 0; weight 0: 0 - 16
        quant::BlockQ5_0 b{};
        b.d = 0x3c00;
        b.qh[2] = 1;
        float y[32];
        quant::dequantize_row(TT::Q5_0, &b, y, 32);
        EXPECT_EQ(y[0], -16.0f);
        EXPECT_EQ(y[16], 0.0f);
        EXPECT_EQ(y[17], -16.0f);
    }
    {  // Q4_K: sub-block 5 scale = (scales[9] & 15) | (scales[1] >> 6) << 4 = 3 | 2 << 4 = 35,
       // min = (scales[9] >> 4) | (scales[5] >> 6) << 4 = 1 | 1 << 4 = 17; d = 1, dmin = 0.5.
        quant::BlockQ4_K b{};
        b.d = 0x3c00;
        b.dmin = 0x3800;
        b.scales[9] = 0x13;
        b.scales[1] = 0x80;
        b.scales[5] = 0x40;
        b.qs[64] = 0x70;  // sub-block 5 = high nibbles of bytes 64..95: weight 160 has q = 7
        float y[256];
        quant::dequantize_row(TT::Q4_K, &b, y, 256);
        EXPECT_EQ(y[160], 35.0f * 7 - 8.5f);
        EXPECT_EQ(y[161], -8.5f);
        EXPECT_EQ(y[128], 0.0f);  // sub-block 4: scale and min 0
    }
    {  // Q6_K: weight 200 = half 1, quarter 2, l = 8: ql[64 + 8] high nibble, qh[32 + 8] bits 4-5
        quant::BlockQ6_K b{};
        b.d = 0x3c00;
        b.ql[72] = 0x50;
        b.qh[40] = 0x30;
        b.scales[12] = -3;
        float y[256];
        quant::dequantize_row(TT::Q6_K, &b, y, 256);
        EXPECT_EQ(y[200], -3.0f * ((5 | 3 << 4) - 32));
        EXPECT_EQ(y[0], 0.0f);  // scale 0
    }
    {  // IQ4_XS: sub-block 3 scale = (scales_l[1] >> 4) | ((scales_h >> 6) & 3) << 4 = 34, minus 32
        quant::BlockIQ4_XS b{};
        b.d = 0x3c00;
        b.scales_l[1] = 0x20;
        b.scales_h = 2 << 6;
        b.qs[48] = 0x0f;  // weight 96: level 15 = 113
        float y[256];
        quant::dequantize_row(TT::IQ4_XS, &b, y, 256);
        EXPECT_EQ(y[96], 2.0f * 113);
        EXPECT_EQ(y[112], 2.0f * -127);
        EXPECT_EQ(y[0], -32.0f * -127);  // sub-block 0: scale 0 - 32, nibble 0
    }
}

// ---- check_row ------------------------------------------------------------------------------

TEST(QuantValidate, CleanRowsPass) {
    for (const Format& f : formats()) {
        const std::vector<uint8_t> row = make_row(f, 9, 5);
        EXPECT_EQ(quant::check_row(f.type, row.data(), 9 * f.elems), std::nullopt) << gguf::tensor_type_name(f.type);
    }
    const float x[4] = {NAN, 1, 2, 3};  // float types have no scales to check
    EXPECT_EQ(quant::check_row(TT::F32, x, 4), std::nullopt);
}

TEST(QuantValidate, NonFiniteScaleIsNamedByBlock) {
    for (const Format& f : formats()) {
        for (size_t field = 0; field < f.f16_fields.size(); ++field) {
            for (int blk : {0, 3, 8}) {
                std::vector<uint8_t> row = make_row(f, 9, 5);
                const bool inf = blk == 3;
                put_f16(row.data() + (size_t)blk * f.bytes, f.f16_fields[field], inf ? 0xfc00 : 0x7e01);
                const auto msg = quant::check_row(f.type, row.data(), 9 * f.elems);
                const std::string what =
                    fmt::format("{} field {} block {}", gguf::tensor_type_name(f.type), field, blk);
                ASSERT_TRUE(msg.has_value()) << what;
                EXPECT_NE(msg->find(fmt::format("block {} ", blk)), std::string::npos) << what << ": " << *msg;
                EXPECT_NE(msg->find(inf ? "-Inf" : "NaN"), std::string::npos) << what << ": " << *msg;
                const bool has_m = f.type == TT::Q4_1 || f.type == TT::Q5_1;
                const char* name = field == 0 ? "d is" : (has_m ? "m is" : "dmin is");
                EXPECT_NE(msg->find(name), std::string::npos) << what << ": " << *msg;
            }
        }
    }
}

// ---- the llama.cpp-quantized files against the F16 original ---------------------------------

// Relative RMS error bounds per type, from the bits per weight: each bit halves a uniform
// quantizer's error (~0.29 step, the step ~ 2^-b of the block's range), so the bounds double
// from Q8_0 (~0.5% measured) to Q2_K (~30%), with ~1.4x headroom over the worst tensors seen
// (the test prints them). A misplaced bit or scale gives an error near 100%.
double rms_bound(TT t) {
    switch (t) {
        case TT::Q8_0: return 0.01;
        case TT::Q6_K: return 0.03;
        case TT::Q5_0: case TT::Q5_1: case TT::Q5_K: return 0.06;
        case TT::Q4_0: case TT::Q4_K: case TT::IQ4_NL: case TT::IQ4_XS: return 0.12;
        case TT::Q3_K: return 0.22;
        case TT::Q2_K: return 0.42;
        default: return 0;
    }
}

std::vector<float> decode_tensor(const gguf::TensorInfo& t) {
    std::vector<float> out(t.n_elements);
    const int64_t cols = (int64_t)t.dims[0];
    const size_t rb = gguf::tensor_row_bytes(t.type(), (uint64_t)cols);
    for (uint64_t r = 0; r < t.rows(); ++r)
        quant::dequantize_row(t.type(), t.data + r * rb, out.data() + r * cols, cols);
    return out;
}

TEST(QuantFiles, DequantizedTensorsAreCloseToTheF16Original) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const auto orig = gguf::File::open(test::shared_path("models/hsd-m1.gguf"));
    std::map<std::string, double> worst;  // type -> largest relative RMS error seen
    for (const char* q : {"Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"}) {
        const auto file = gguf::File::open(test::shared_path(fmt::format("models/quant/hsd-m1-{}.gguf", q)));
        int n_quant = 0;
        for (const gguf::TensorInfo& t : file->tensors()) {
            const TT type = t.type();
            if (type == TT::F32 || type == TT::F16 || type == TT::BF16) continue;
            ++n_quant;
            const gguf::TensorInfo& o = orig->tensor(t.name);
            ASSERT_EQ(o.dims, t.dims) << t.name;
            EXPECT_EQ(quant::check_row(type, t.data, (int64_t)t.n_elements), std::nullopt) << q << " " << t.name;
            const std::vector<float> a = decode_tensor(t), b = decode_tensor(o);
            double err = 0, ref = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                ASSERT_TRUE(std::isfinite(a[i])) << q << " " << t.name << " element " << i;
                err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
                ref += (double)b[i] * b[i];
            }
            const double rel = std::sqrt(err / ref);
            const std::string name = gguf::tensor_type_name(type);
            worst[name] = std::max(worst[name], rel);
            EXPECT_LT(rel, rms_bound(type)) << q << " " << t.name << " (" << name << ")";
        }
        EXPECT_GT(n_quant, 20) << q;
    }
    for (const auto& [type, rel] : worst) std::printf("  %-7s worst relative RMS error %.4f\n", type.c_str(), rel);
    EXPECT_EQ(worst.size(), 11u);  // all of Q2_K..Q6_K, Q4_0, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS
}

}  // namespace
