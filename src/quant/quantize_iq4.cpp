// IQ4_NL and IQ4_XS as llama-quantize makes them without an importance matrix: llama.cpp has
// no separate reference path for these, its one quantizer weights each value by x^2 when no
// imatrix is given and tries 15 scales around max / -127 per 32 values.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/fp16.h"
#include "quant/quant_search.h"
#include "quant/quantize_impl.h"

namespace hsd::quant::detail {

namespace {

constexpr int kTries = 7;  // candidate inverse scales (itry - 127) / max, itry in -7..7
constexpr int kCandidates = 2 * kTries + 2;  // and the plain max / -127 first

// Level j is nearest to x once 2x reaches kIq4nlValues[j - 1] + kIq4nlValues[j] (ties go
// up): both sides are exact in float, so counting the midpoints passed decides exactly as
// llama.cpp's binary search does, without branches.
struct Midpoints {
    float twice[16];  // twice[j]: the sum of levels j - 1 and j (j >= 1)
    float step[16];   // step[j]: level j minus level j - 1
    constexpr Midpoints() : twice(), step() {
        for (int j = 1; j < 16; ++j) {
            twice[j] = (float)(kIq4nlValues[j - 1] + kIq4nlValues[j]);
            step[j] = (float)(kIq4nlValues[j] - kIq4nlValues[j - 1]);
        }
    }
};
constexpr Midpoints kMid;

int nearest_level(float x) {
    const float x2 = x + x;
    int idx = 0;
    for (int j = 1; j < 16; ++j) idx += x2 >= kMid.twice[j];
    return idx;
}

// The grid value nearest to x, as a float.
float nearest_value(float x) {
    const float x2 = x + x;
    float q = (float)kIq4nlValues[0];
    for (int j = 1; j < 16; ++j) q += x2 >= kMid.twice[j] ? kMid.step[j] : 0.f;
    return q;
}

// The x^2-weighted best scale for 32 values on the grid. The candidates are independent, so
// they are evaluated side by side (each summing in the reference's order), then compared in
// the reference's order.
float search_scale(const float* x) {
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
        if (std::fabs(x[j]) > amax) { amax = std::fabs(x[j]); max = x[j]; }
    }
    if (amax < kGroupMaxEps) return 0;
    float id[kCandidates], sumqx[kCandidates] = {}, sumq2[kCandidates] = {};
    id[0] = 1 / (-max / (float)kIq4nlValues[0]);
    for (int t = -kTries; t <= kTries; ++t) id[t + kTries + 1] = (float)(t + kIq4nlValues[0]) / max;
    for (int j = 0; j < kBlock; ++j) {
        const float xj = x[j], w = xj * xj;
        for (int c = 0; c < kCandidates; ++c) {
            const float q = nearest_value(id[c] * xj);
            sumqx[c] += w * q * xj;
            sumq2[c] += w * q * q;
        }
    }
    float d = sumq2[0] > 0 ? sumqx[0] / sumq2[0] : 0.f;
    float best = d * sumqx[0];
    for (int c = 1; c < kCandidates; ++c) {
        if (sumq2[c] > 0 && sumqx[c] * sumqx[c] > best * sumq2[c]) {
            d = sumqx[c] / sumq2[c];
            best = d * sumqx[c];
        }
    }
    return d;
}

// Values 0..15 in the low nibbles, 16..31 in the high ones.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kBlock / 2; ++j) qs[j] = (uint8_t)(L[j] | L[j + kBlock / 2] << 4);
}

}  // namespace

void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        uint8_t L[kBlock];
        const float d = search_scale(x);
        y[b].d = f32_to_f16(d);
        // Requantized with the unrounded scale, as the reference does.
        const float id = d != 0 ? 1 / d : 0;
        for (int j = 0; j < kBlock; ++j) L[j] = (uint8_t)nearest_level(id * x[j]);
        pack_nibbles(L, y[b].qs);
    }
}

void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n) {
    constexpr int kSub = kSuperBlock / kBlock;
    for (int64_t b = 0; b < n / kSuperBlock; ++b, x += kSuperBlock) {
        uint8_t L[kSuperBlock];
        float scales[kSub];
        float max_scale = 0, amax_scale = 0;
        for (int ib = 0; ib < kSub; ++ib) {
            scales[ib] = search_scale(x + kBlock * ib);
            if (std::fabs(scales[ib]) > amax_scale) { amax_scale = std::fabs(scales[ib]); max_scale = scales[ib]; }
        }
        // 6-bit signed sub-block scales against d = -max / 32 (so the largest maps to -32);
        // the values are requantized with d * l unrounded to F16, as the reference does.
        const float d = -max_scale / 32;
        y[b].d = f32_to_f16(d);
        const float id = d != 0 ? 1 / d : 0.f;
        y[b].scales_h = 0;
        std::memset(y[b].scales_l, 0, sizeof y[b].scales_l);
        for (int ib = 0; ib < kSub; ++ib) {
            int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
            const float dl = d * (float)l;
            const float idl = dl != 0 ? 1 / dl : 0.f;
            const float* xb = x + kBlock * ib;
            uint8_t* Lb = L + kBlock * ib;
            for (int j = 0; j < kBlock; ++j) Lb[j] = (uint8_t)nearest_level(idl * xb[j]);
            l += 32;
            y[b].scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4 * (ib % 2));
            y[b].scales_h |= (uint16_t)((l >> 4) << 2 * ib);
            pack_nibbles(Lb, y[b].qs + 16 * ib);
        }
    }
}

}  // namespace hsd::quant::detail
