// The 32-value block formats, as llama.cpp's reference quantizers make them: the symmetric
// types map the value of largest magnitude to the most negative level (so its sign is kept
// and the level range is used fully), the asymmetric ones spread [min, max] over the levels.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "common/fp16.h"
#include "quant/quantize_impl.h"

namespace hsd::quant::detail {

namespace {

// The value of largest magnitude, with its sign (the first one on ties).
float signed_absmax(const float* x) {
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
        if (amax < std::fabs(x[j])) { amax = std::fabs(x[j]); max = x[j]; }
    }
    return max;
}

void min_max(const float* x, float* mn, float* mx) {
    *mn = FLT_MAX;
    *mx = -FLT_MAX;
    for (int j = 0; j < kBlock; ++j) {
        *mn = std::min(*mn, x[j]);
        *mx = std::max(*mx, x[j]);
    }
}

// Levels are found by truncating q + offset + 0.5 (x * id is never below -offset here),
// which rounds half up, as the reference does. Out-of-range or NaN values (from non-finite
// weights) give 0 instead of an undefined conversion.
int trunc_level(float v) { return v > -1 && v < 128 ? (int)v : 0; }

void set_qh(uint8_t* qh, uint32_t bits) { std::memcpy(qh, &bits, sizeof bits); }

}  // namespace

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        const float d = signed_absmax(x) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < kBlock / 2; ++j) {
            const int q0 = std::min(15, trunc_level(x[j] * id + 8.5f));
            const int q1 = std::min(15, trunc_level(x[j + kBlock / 2] * id + 8.5f));
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        float mn, mx;
        min_max(x, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        y[b].m = f32_to_f16(mn);
        for (int j = 0; j < kBlock / 2; ++j) {
            const int q0 = std::min(15, trunc_level((x[j] - mn) * id + 0.5f));
            const int q1 = std::min(15, trunc_level((x[j + kBlock / 2] - mn) * id + 0.5f));
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        const float d = signed_absmax(x) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kBlock / 2; ++j) {
            const int q0 = std::min(31, trunc_level(x[j] * id + 16.5f));
            const int q1 = std::min(31, trunc_level(x[j + kBlock / 2] * id + 16.5f));
            y[b].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + kBlock / 2);
        }
        set_qh(y[b].qh, qh);
    }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        float mn, mx;
        min_max(x, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        y[b].m = f32_to_f16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < kBlock / 2; ++j) {
            // (x - min) * id stays within [0, 31] up to rounding, so no clamp is needed.
            const int q0 = trunc_level((x[j] - mn) * id + 0.5f);
            const int q1 = trunc_level((x[j + kBlock / 2] - mn) * id + 0.5f);
            y[b].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + kBlock / 2);
        }
        set_qh(y[b].qh, qh);
    }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        float amax = 0;
        for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < kBlock; ++j) {
            const float q = std::round(x[j] * id);  // ties away from 0
            y[b].qs[j] = (int8_t)(q >= -128 && q <= 127 ? q : 0);
        }
    }
}

}  // namespace hsd::quant::detail
