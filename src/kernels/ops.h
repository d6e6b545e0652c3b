#pragma once
// Element-wise and per-row operations of the Llama block. Exponentials are vectorized
// (exp_approx: within 2 ulp of expf, see test_kernels) because silu and softmax evaluate one
// per feed-forward unit and one per attended position: with libm's scalar expf they cost
// more than a fifth of a batched forward.
#include <cstdint>
#include <utility>
#include <vector>

namespace hsd {

class ThreadPool;

// out = x / rms(x) * w, over one row of d values (out may alias x).
void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out);

// Rotary embedding. Frequency i (i < rope_dim/2) turns by
//   theta_i = pos / position_scale * base^(-2i/rope_dim) / freq_factors[i]
// and rotates one pair of each head's dimensions: (2i, 2i+1) in the Normal layout (llama.cpp
// "llama"), (i, i + rope_dim/2) in the Neox layout (Qwen2; halves, not neighbours).
// freq_factors: Llama 3.1-style per-frequency scaling (rope_freqs.weight); empty means all 1.
// position_scale: linear rope scaling (rope.scaling.type = linear, rope.scaling.factor).
enum class RopeLayout { Normal, Neox };

struct RopeSpec {
    int rope_dim = 0;
    float base = 10000.0f;
    RopeLayout layout = RopeLayout::Normal;
    std::vector<float> freq_factors;  // empty or rope_dim/2 values
    double position_scale = 1.0;
};

// Direct rotation of n_heads heads of head_dim values at position pos.
void rope(float* x, int n_heads, int head_dim, const RopeSpec& spec, int64_t pos);
// Normal layout, no scaling.
void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base);

// The same rotation with cos/sin taken from a table: one row of rope_dim/2 (cos, sin) pairs
// per position, computed once instead of per layer and token (bit-identical to rope()).
class RopeTable {
public:
    explicit RopeTable(RopeSpec spec) : spec_(std::move(spec)) {}
    RopeTable(int rope_dim, float base) : RopeTable(RopeSpec{rope_dim, base, RopeLayout::Normal, {}, 1.0}) {}
    // Rotates x (n_heads heads of head_dim) for position pos; extends the table as needed.
    void apply(float* x, int n_heads, int head_dim, int64_t pos);
    const RopeSpec& spec() const { return spec_; }

private:
    RopeSpec spec_;
    std::vector<float> cs_;  // [pos][rope_dim/2][2] = cos, sin
};

// exp(x) for n values (out may alias x), vectorized; within 2 ulp of std::exp for
// x in [-87, 88], 0 below (never a denormal surprise), +inf above.
void exp_approx(const float* x, int64_t n, float* out);

// gate = silu(gate) * up.
void silu_mul(float* gate, const float* up, int64_t n);

// In-place numerically stable softmax.
void softmax(float* x, int64_t n);

// a += b.
void add(float* a, const float* b, int64_t n);

}  // namespace hsd
