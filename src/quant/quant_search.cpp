#include "quant/quant_search.h"

#include <algorithm>
#include <cmath>

namespace hsd::quant::detail {

namespace {

// The value of largest magnitude, with its sign (the first one on ties).
float signed_absmax(int n, const float* x, float* amax_out) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    *amax_out = amax;
    return max;
}

int clamp_level(int l, int nmax) { return std::max(-nmax, std::min(nmax - 1, l)); }

}  // namespace

float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.f;
    }
    // Candidate 0 is -nmax / max, then -(nmax + 0.1 * is) / max for is = -9..9 but 0. They are
    // independent, so they are summed side by side (each in the reference's order) and then
    // compared in the reference's order.
    constexpr int kC = 19;
    float iscale[kC], sumlx[kC] = {}, suml2[kC] = {};
    iscale[0] = -(float)nmax / max;
    for (int c = 1; c < kC; ++c) {
        const int is = c <= 9 ? c - 10 : c - 9;
        iscale[c] = -((float)nmax + 0.1f * (float)is) / max;
    }
    for (int i = 0; i < n; ++i) {
        const float xi = x[i], w = xi * xi;
        for (int c = 0; c < kC; ++c) {
            const float l = (float)clamp_level(nearest_int(iscale[c] * xi), nmax);
            sumlx[c] += w * xi * l;
            suml2[c] += w * l * l;
        }
    }
    int winner = 0;
    float scale = suml2[0] != 0 ? sumlx[0] / suml2[0] : 0.0f;
    float best = scale * sumlx[0];
    for (int c = 1; c < kC; ++c) {
        if (suml2[c] > 0 && sumlx[c] * sumlx[c] > best * suml2[c]) {
            scale = sumlx[c] / suml2[c];
            best = scale * sumlx[c];
            winner = c;
        }
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clamp_level(nearest_int(iscale[winner] * x[i]), nmax));
    return scale;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.f;
    }
    const float iscale = -(float)nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_level(nearest_int(iscale * x[i]), nmax);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            const int new_l = clamp_level(nearest_int(x[i] * sl2 / slx), nmax);
            if (new_l == L[i]) continue;
            slx += w * x[i] * (float)new_l;
            sl2 += w * (float)new_l * (float)new_l;
            // Keep the move if it raises sumlx^2 / suml2, the fit's explained energy.
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                ++n_changed;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

namespace {

// make_qkx2_quants tries its candidate scales in order, and each accepted candidate moves the
// min that the next ones are computed from. Here kLanes candidates are evaluated side by side
// with the current min (each lane summing over the values in the sequential order, so its
// result is bit-identical to the one-at-a-time search); the first accepted one ends the pass
// and the candidates after it are evaluated again with the new min. A few passes do it.
constexpr int kLanes = 16;

struct Candidates {
    float isc[kLanes], D[kLanes], sc[kLanes], mn[kLanes], err[kLanes];
};

void evaluate(int n, int nmax, const float* x, const float* w, float min, float max, float sum_w, float sum_x,
              float rmin, float rdelta, int first, bool use_mad, Candidates* k) {
    auto level = [nmax](float iscale, float v) { return (float)std::clamp(nearest_int(iscale * v), 0, nmax); };
    float sum_l[kLanes] = {}, sum_l2[kLanes] = {}, sum_xl[kLanes] = {};
    for (int c = 0; c < kLanes; ++c) k->isc[c] = (rmin + rdelta * (float)(first + c) + (float)nmax) / (max - min);
    for (int i = 0; i < n; ++i) {
        const float xm = x[i] - min, wi = w[i], xi = x[i];
        for (int c = 0; c < kLanes; ++c) {
            const float fl = level(k->isc[c], xm);
            sum_l[c] += wi * fl;
            sum_l2[c] += wi * fl * fl;
            sum_xl[c] += wi * fl * xi;
        }
    }
    // Least-squares scale and min of each candidate's levels; a positive min is refitted as 0.
    for (int c = 0; c < kLanes; ++c) {
        k->D[c] = sum_w * sum_l2[c] - sum_l[c] * sum_l[c];
        k->sc[c] = (sum_w * sum_xl[c] - sum_x * sum_l[c]) / k->D[c];
        k->mn[c] = (sum_l2[c] * sum_x - sum_l[c] * sum_xl[c]) / k->D[c];
        if (k->mn[c] > 0) {
            k->mn[c] = 0;
            k->sc[c] = sum_xl[c] / sum_l2[c];
        }
        k->err[c] = 0;
    }
    for (int i = 0; i < n; ++i) {
        const float xm = x[i] - min, wi = w[i], xi = x[i];
        for (int c = 0; c < kLanes; ++c) {
            float diff = k->sc[c] * level(k->isc[c], xm) + k->mn[c] - xi;
            diff = use_mad ? std::fabs(diff) : diff * diff;
            k->err[c] += wi * diff;
        }
    }
}

}  // namespace

float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, float rmin,
                       float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t{0});
        *the_min = -min;
        return 0.f;
    }
    auto set_levels = [&](float iscale) {
        for (int i = 0; i < n; ++i) L[i] = (uint8_t)std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
    };
    const float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    set_levels(iscale);
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    Candidates k;
    for (int first = 0; first <= nstep;) {
        evaluate(n, nmax, x, w, min, max, sum_w, sum_x, rmin, rdelta, first, use_mad, &k);
        const int last = std::min(kLanes - 1, nstep - first);
        int c = 0;
        while (c <= last && !(k.D[c] > 0 && k.err[c] < best_error)) ++c;
        if (c > last) {
            first += kLanes;
            continue;
        }
        set_levels(k.isc[c]);  // with the min this candidate was evaluated with
        best_error = k.err[c];
        scale = k.sc[c];
        min = k.mn[c];
        first += c + 1;
    }
    *the_min = -min;
    return scale;
}

}  // namespace hsd::quant::detail
