#pragma once
// Element-wise and per-row operations of the Llama block. Exponentials are vectorized
// (exp_approx: within 2 ulp of expf, see test_kernels) because silu and softmax evaluate one
// per feed-forward unit and one per attended position: with libm's scalar expf they cost
// more than a fifth of a batched forward.
#include <cstdint>
#include <vector>

namespace hsd {

class ThreadPool;

// out = x / rms(x) * w, over one row of d values (out may alias x).
void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out);

// Rotary embedding, llama.cpp "llama" (normal) layout: adjacent pairs (2i, 2i+1) of each
// head rotate by pos * base^(-2i/rope_dim), for 2i < rope_dim.
void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base);

// The same rotation with cos/sin taken from a table (RopeTable): one row of rope_dim/2
// (cos, sin) pairs per position, computed once instead of per layer and token.
class RopeTable {
public:
    RopeTable(int rope_dim, float base) : rope_dim_(rope_dim), base_(base) {}
    // Rotates x (n_heads heads of head_dim) for position pos; extends the table as needed.
    void apply(float* x, int n_heads, int head_dim, int64_t pos);

private:
    int rope_dim_;
    float base_;
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
