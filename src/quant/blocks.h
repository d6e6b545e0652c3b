#pragma once
// The GGML block layouts of the quantized tensor types, as they lie in a GGUF file (and as
// llama.cpp, gguf-py and every other GGUF reader expect them). Each block holds kBlock
// (32) or kSuperBlock (256) consecutive weights of one row; F16 fields are IEEE half bits.
//
// Value of weight j of a block (d, m, dmin: F16 scales; q: the stored integer):
//   Q4_0  d * (q - 8)          q = qs[j%16] >> 4*(j/16) & 15
//   Q4_1  d * q + m
//   Q5_0  d * (q - 16)         q = nibble as Q4_0 | bit j of qh (little-endian uint32) << 4
//   Q5_1  d * q + m
//   Q8_0  d * qs[j]
//   IQ4_NL d * kIq4nlValues[nibble]
//   Q2_K  16 sub-blocks of 16: d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q 2 bits
//   Q3_K  16 sub-blocks of 16: d * (s6[i] - 32) * (q - 4 * !hmask bit), q 2 bits, s6 6-bit scales
//   Q4_K  8 sub-blocks of 32: d * sc[i] * q - dmin * mn[i], 6-bit sc/mn packed in scales[12]
//   Q5_K  as Q4_K with a fifth bit from qh
//   Q6_K  16 sub-blocks of 16: d * scales[i] * (q - 32), q = 4 bits of ql | 2 bits of qh
//   IQ4_XS 8 sub-blocks of 32: d * (s6[i] - 32) * kIq4nlValues[nibble]
// The exact bit positions are in quant/dequantize.cpp, the one place that decodes them.
#include <cstdint>

namespace hsd::quant {

constexpr int kBlock = 32;        // legacy types and IQ4_NL
constexpr int kSuperBlock = 256;  // K-quants and IQ4_XS
constexpr int kScaleBytesK = 12;  // Q3_K, Q4_K, Q5_K packed 6-bit scales

struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kBlock / 2];
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[kBlock / 2];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kBlock / 2];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[kBlock / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kBlock];
};
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[kBlock / 2];
};
struct BlockQ2_K {
    uint8_t scales[kSuperBlock / 16];  // low 4 bits scale, high 4 bits min
    uint8_t qs[kSuperBlock / 4];
    uint16_t d, dmin;
};
struct BlockQ3_K {
    uint8_t hmask[kSuperBlock / 8];
    uint8_t qs[kSuperBlock / 4];
    uint8_t scales[kScaleBytesK];
    uint16_t d;
};
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];
    uint8_t qs[kSuperBlock / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];
    uint8_t qh[kSuperBlock / 8];
    uint8_t qs[kSuperBlock / 2];
};
struct BlockQ6_K {
    uint8_t ql[kSuperBlock / 2];
    uint8_t qh[kSuperBlock / 4];
    int8_t scales[kSuperBlock / 16];
    uint16_t d;
};
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[kSuperBlock / 64];
    uint8_t qs[kSuperBlock / 2];
};
// Activations quantized for the K-quant dot products (never stored in files by hsd): F32
// scale, 256 int8 values, and the sums of each 16 of them (for the min / offset terms).
struct BlockQ8_K {
    float d;
    int8_t qs[kSuperBlock];
    int16_t bsums[kSuperBlock / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockIQ4_XS) == 136 &&
              sizeof(BlockQ8_K) == 292);

// The 16 non-uniform levels of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace hsd::quant
