#pragma once
// Runtime state of one model: its KV cache and scratch buffers. The forward pass is split
// into embed -> run_layers(a, b) -> head so that callers can stop at an early exit, keep the
// hidden state, and resume later from layer b without recomputing layers [a, b).
#include <cstdint>
#include <span>
#include <vector>

#include "common/token_id.h"
#include "kernels/ops.h"
#include "kvcache/kv_cache.h"
#include "model/model.h"

namespace hsd {

class ThreadPool;
class Context;

// One sequence's share of a fused pass over several sequences of one model (continuous
// batching): its context (own KV cache and positions) and its rows.
struct LayerSegment {
    Context* ctx;
    float* h;      // [n][n_embd], updated in place
    int64_t n;     // rows, at positions [pos0, pos0 + n)
    int64_t pos0;
};
struct HeadSegment {
    Context* ctx;
    const float* h;  // [n][n_embd]
    int64_t n;
    float* logits;   // [n][n_vocab]
};

class Context {
public:
    // n_ctx = 0 uses the model's training context length.
    Context(const Model& model, ThreadPool& pool, int64_t n_ctx = 0);

    const Model& model() const { return model_; }
    ThreadPool& pool() { return pool_; }
    KVCache& cache() { return cache_; }
    const KVCache& cache() const { return cache_; }
    int64_t n_ctx() const { return cache_.n_ctx(); }
    // Tokens held by every layer of the cache.
    int64_t n_past() const { return cache_.length(); }

    // Full forward of n tokens at positions [n_past, n_past + n). Returns the logits of all
    // n positions (all_logits) or of the last one only; the pointer stays valid until the
    // next call. Throws hsd::Error if the context would overflow or a token id is invalid.
    const float* eval(const TokenId* tokens, int64_t n, bool all_logits);
    const float* eval(const std::vector<TokenId>& tokens, bool all_logits) {
        return eval(tokens.data(), (int64_t)tokens.size(), all_logits);
    }

    // Rolls every layer back to `len` positions (rejected draft tokens).
    void truncate(int64_t len) { cache_.truncate(len); }

    // --- building blocks ---------------------------------------------------------------
    // h[n][n_embd] = embedding rows of the tokens.
    void embed(const TokenId* tokens, int64_t n, float* h) const;
    // Runs layers [a, b) on hidden states h (in place) for tokens at positions
    // [pos0, pos0 + n); each of those layers must hold exactly pos0 positions. On a thread
    // that takes part in a ForwardBatcher (forward_batcher.h) the work joins the batcher's
    // next fused pass, which gives bit-identical results.
    void run_layers(int a, int b, float* h, int64_t n, int64_t pos0);
    // logits[n][n_vocab] = output(output_norm(h)) for n hidden rows (batched likewise).
    void head(const float* h, int64_t n, float* logits);

    // The same for several sequences of one model in one pass: every weight matrix is read
    // once for all their rows; attention, rope and the KV cache stay per sequence. Each row
    // gets exactly the result it gets alone (the matmul kernels are batch-invariant; the
    // caller has checked the segments). Uses the first segment's scratch and thread pool.
    static void run_layers_fused(std::span<const LayerSegment> segments, int a, int b);
    static void head_fused(std::span<const HeadSegment> segments);
    // The checks run_layers makes before computing (throws hsd::Error).
    void check_layers(int a, int b, int64_t n, int64_t pos0) const;

private:
    void ensure_scratch(int64_t n);

    const Model& model_;
    ThreadPool& pool_;
    KVCache cache_;
    RopeTable rope_;
    std::vector<float> hidden_, xn_, q_, k_, v_, att_, tmp_, gate_, up_, logits_, fused_logits_;
};

}  // namespace hsd
