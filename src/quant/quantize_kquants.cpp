// The K-quants as llama.cpp's reference quantizers (no importance matrix) make them: each
// sub-block gets a searched scale (and min), the sub-block scales are quantized to 4/6/8 bits
// against one F16 super-block scale, and the values are then requantized with the scales
// as they will be decoded, so that rounding of the scales is compensated where it can be.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/fp16.h"
#include "quant/quant_search.h"
#include "quant/quantize_impl.h"

namespace hsd::quant::detail {

namespace {

constexpr int kQK = kSuperBlock;

// Two bits each of L[j + l], L[j + l + 32], L[j + l + 64], L[j + l + 96] per byte, for both
// 128-value halves: the layout of the 2-bit planes of Q2_K and Q3_K.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQK; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

// The 6-bit scale and min of sub-block j of Q4_K / Q5_K (12 bytes hold 8 of each).
void set_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
    if (j < 4) {
        s[j] = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

void get_scale_min_k4(int j, const uint8_t* s, uint8_t* ls, uint8_t* lm) {
    if (j < 4) {
        *ls = s[j] & 63;
        *lm = s[j + 4] & 63;
    } else {
        *ls = (uint8_t)((s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4);
        *lm = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

// Scales and mins of the 8 sub-blocks of 32 of a Q4_K / Q5_K super-block, quantized to
// 6 bits against d and dmin (written to d_out, dmin_out, packed); then the 256 levels
// (0..nmax, into L) requantized with the scales as they decode.
void quantize_k4_scales(const float* x, int nmax, float rmin, int nstep, uint16_t* d_out, uint16_t* dmin_out,
                        uint8_t* packed, uint8_t* L) {
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        // Weight by magnitude plus the sub-block's RMS: large values matter more, small ones still count.
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    std::memset(packed, 0, kScaleBytesK);
    for (int j = 0; j < 8; ++j) {
        const uint8_t ls = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        const uint8_t lm = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_min * mins[j]));
        set_scale_min_k4(j, ls, lm, packed);
    }
    *d_out = f32_to_f16(max_scale / 63.f);
    *dmin_out = f32_to_f16(max_min / 63.f);
    const float d = f16_to_f32(*d_out), dmin = f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, packed, &sc, &m);
        const float ds = d * (float)sc;
        if (ds == 0) continue;  // keep the search's levels
        const float dm = dmin * (float)m;
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] = (uint8_t)std::clamp(nearest_int((x[32 * j + i] + dm) / ds), 0, nmax);
    }
}

}  // namespace

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n) {
    constexpr float q4scale = 15.f;
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        uint8_t L[kQK];
        float weights[16], mins[16], scales[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; ++j) y[b].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[b].d = f32_to_f16(max_scale / q4scale);
        } else {
            std::memset(y[b].scales, 0, sizeof y[b].scales);
            y[b].d = f32_to_f16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < 16; ++j) y[b].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[b].dmin = f32_to_f16(max_min / q4scale);
        } else {
            y[b].dmin = f32_to_f16(0.f);
        }
        const float d = f16_to_f32(y[b].d), dmin = f16_to_f32(y[b].dmin);
        for (int j = 0; j < 16; ++j) {
            const float ds = d * (float)(y[b].scales[j] & 0xF);
            if (ds == 0) continue;
            const float dm = dmin * (float)(y[b].scales[j] >> 4);
            for (int i = 0; i < 16; ++i) L[16 * j + i] = (uint8_t)std::clamp(nearest_int((x[16 * j + i] + dm) / ds), 0, 3);
        }
        pack_2bit(L, y[b].qs);
    }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        int8_t L[kQK];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) { amax = std::fabs(scales[j]); max_scale = scales[j]; }
        }
        // 6-bit signed sub-block scales: low 4 bits in scales[0..7] (two per byte), the high
        // 2 bits in scales[8..11] (four per byte).
        uint8_t* s = y[b].scales;
        std::memset(s, 0, kScaleBytesK);
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                const int l = std::clamp((int)(int8_t)nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) s[j] = (uint8_t)(l & 0xF);
                else s[j - 8] |= (uint8_t)((l & 0xF) << 4);
                s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[b].d = f32_to_f16(1 / iscale);
        } else {
            y[b].d = f32_to_f16(0.f);
        }
        const float d = f16_to_f32(y[b].d);
        for (int j = 0; j < 16; ++j) {
            const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            const int sc = (lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
            const float ds = d * (float)sc;
            if (ds == 0) continue;
            for (int i = 0; i < 16; ++i) L[16 * j + i] = (int8_t)(std::clamp(nearest_int(x[16 * j + i] / ds), -4, 3) + 4);
        }
        // The third bit of value j goes to bit j / 32 of hmask[j % 32].
        std::memset(y[b].hmask, 0, sizeof y[b].hmask);
        uint8_t L2[kQK];
        for (int j = 0; j < kQK; ++j) {
            int l = L[j];
            if (l > 3) {
                y[b].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                l -= 4;
            }
            L2[j] = (uint8_t)l;
        }
        pack_2bit(L2, y[b].qs);
    }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        uint8_t L[kQK];
        quantize_k4_scales(x, 15, -1.f, 20, &y[b].d, &y[b].dmin, y[b].scales, L);
        // 64 values per 32 bytes: the first 32 in the low nibbles, the next 32 in the high ones.
        for (int j = 0; j < kQK; j += 64)
            for (int l = 0; l < 32; ++l) y[b].qs[j / 2 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
    }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        uint8_t L[kQK];
        quantize_k4_scales(x, 31, -0.5f, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
        // As Q4_K, with the fifth bits of each 64-value group in two bit planes of qh.
        std::memset(y[b].qh, 0, sizeof y[b].qh);
        for (int g = 0; g < 4; ++g) {
            const uint8_t* Lg = L + 64 * g;
            for (int j = 0; j < 32; ++j) {
                const int l1 = Lg[j], l2 = Lg[j + 32];
                y[b].qh[j] |= (uint8_t)((l1 >> 4) << (2 * g) | (l2 >> 4) << (2 * g + 1));
                y[b].qs[32 * g + j] = (uint8_t)((l1 & 15) | (l2 & 15) << 4);
            }
        }
    }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        int8_t L[kQK];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > max_abs_scale) { max_abs_scale = std::fabs(scales[j]); max_scale = scales[j]; }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[b].d = f32_to_f16(1 / iscale);
        for (int j = 0; j < 16; ++j) y[b].scales[j] = (int8_t)std::min(127, nearest_int(iscale * scales[j]));
        const float d = f16_to_f32(y[b].d);
        for (int j = 0; j < 16; ++j) {
            const float ds = d * (float)y[b].scales[j];
            if (ds == 0) continue;
            for (int i = 0; i < 16; ++i) L[16 * j + i] = (int8_t)(std::clamp(nearest_int(x[16 * j + i] / ds), -32, 31) + 32);
        }
        // Per 128 values: low nibbles of 0..31 | 64..95 and 32..63 | 96..127 in ql, the high
        // 2 bits of all four quarters in qh.
        uint8_t* ql = y[b].ql;
        uint8_t* qh = y[b].qh;
        for (int j = 0; j < kQK; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
                ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
                qh[l] = (uint8_t)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
        }
    }
}

}  // namespace hsd::quant::detail
