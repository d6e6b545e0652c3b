#pragma once
// Element-wise and per-row operations of the Llama block. Plain loops that the compiler
// vectorizes at -O3 -march=native; none of them is on the memory-bound critical path.
#include <cstdint>

namespace hsd {

class ThreadPool;

// out = x / rms(x) * w, over one row of d values (out may alias x).
void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out);

// Rotary embedding, llama.cpp "llama" (normal) layout: adjacent pairs (2i, 2i+1) of each
// head rotate by pos * base^(-2i/rope_dim), for 2i < rope_dim.
void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base);

// gate = silu(gate) * up.
void silu_mul(float* gate, const float* up, int64_t n);

// In-place numerically stable softmax.
void softmax(float* x, int64_t n);

// a += b.
void add(float* a, const float* b, int64_t n);

// Causal grouped-query attention for n query rows at positions p0..p0+n-1.
// q: [n][n_head*hd]; k_t: keys transposed, element (kv_head*hd + d, pos) at
// [(kv_head*hd + d) * k_stride + pos]; v_cache: [>= p0+n][n_kv*hd]. Both already hold the
// new rows. out: [n][n_head*hd].
void attention(ThreadPool& pool, const float* q, const float* k_t, int64_t k_stride, const float* v_cache, int64_t n,
               int64_t p0, int n_head, int n_kv, int hd, float* out);

}  // namespace hsd
