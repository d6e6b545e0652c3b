#pragma once
// Scale searches shared by the quantizers (internal to src/quant). They follow llama.cpp's
// reference quantizers step by step — same candidate scales, same float operations in the
// same order — because llama-quantize's files are the yardstick: a different order of float
// additions picks a different scale now and then, and the bytes would no longer match.
// The quantizer files are compiled with -ffp-contract=off for that reason: with FMA fusing
// only 71% (Q5_K) to 99% of hsd-m1's blocks came out as llama.cpp's, without it all do.
#include <cstdint>
#include <cstring>

namespace hsd::quant::detail {

// Below this amplitude a group counts as all zero.
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, by the float-add trick: adding 1.5 * 2^23 leaves the
// integer in the low mantissa bits. Valid for |v| < 2^22 (every use scales to a few hundred).
inline int nearest_int(float v) {
    const float t = v + 12582912.f;
    int32_t i;
    std::memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

// Symmetric scale for n values on the levels -nmax..nmax-1, weighted by x^2, trying 19
// candidate scales around nmax/max. L gets level + nmax. Returns the scale (0 for a zero group).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L);

// As make_qx_quants (weights x^2), refined instead by moving single values to the level
// that best improves the weighted fit, up to 5 passes. L gets level + nmax.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

// Scale and min (value = scale * L - min, L in 0..nmax) for n values with weights w: tries
// nstep + 1 (at most 24) scales (nmax + rmin + rdelta * is) / range, each with its
// least-squares scale and min, keeping the one of smallest weighted error (absolute if
// use_mad, else squared). Returns the scale; *the_min gets the (non-negative) min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, float rmin,
                       float rdelta, int nstep, bool use_mad);

}  // namespace hsd::quant::detail
