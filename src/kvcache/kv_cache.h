#pragma once
// Per-layer key/value cache in F32, laid out for the attention kernel (kernels/attention.h):
//   keys:   per kv head, blocks of kKeyBlock positions, dimension-major inside a block, so the
//           scores of 16 positions accumulate in one register over the head dimension and a
//           block is one contiguous 16 x head_dim stream;
//   values: per kv head, position-major, so the weighted sum streams one contiguous array.
// Each layer keeps its own fill length so that layer ranges can run ahead of one another
// (early-exit drafting fills shallow layers first). Truncation only moves lengths back: rows
// past a layer's length are never read, and are overwritten when new tokens arrive, so a
// truncated cache behaves exactly as if the rejected tokens had never been seen.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/attention.h"  // kKeyBlock: the key layout the attention kernel reads

namespace hsd {

class KVCache {
public:
    KVCache() = default;
    KVCache(int n_layer, int64_t n_ctx, int n_kv_heads, int head_dim);

    int n_layer() const { return (int)len_.size(); }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t kv_dim() const { return (int64_t)n_kv_ * head_dim_; }
    int head_dim() const { return head_dim_; }
    // Positions allocated per head (n_ctx rounded up to kKeyBlock): the layout's stride.
    int64_t capacity() const { return capacity_; }

    // Number of positions held by `layer`.
    int64_t length(int layer) const { return len_[(size_t)layer]; }
    // Length of the full model's cache (the shortest layer).
    int64_t length() const;

    // Writes the key / value row (kv_dim values: head after head) of one position.
    void store(int layer, int64_t pos, const float* k_row, const float* v_row);
    // Element i (= head * head_dim + d) of the key / value at `pos`.
    float k_at(int layer, int64_t pos, int64_t i) const { return k_[(size_t)layer][k_index(pos, i)]; }
    float v_at(int layer, int64_t pos, int64_t i) const { return v_[(size_t)layer][v_index(pos, i)]; }
    const float* keys(int layer) const { return k_[(size_t)layer].data(); }
    const float* values(int layer) const { return v_[(size_t)layer].data(); }

    void set_length(int layer, int64_t len) { len_[(size_t)layer] = len; }

    // Every layer keeps at most `len` positions (rollback after a rejected draft).
    void truncate(int64_t len);
    // Layers [a, b) keep at most `len` positions.
    void truncate_layers(int a, int b, int64_t len);
    void clear() { truncate(0); }

    size_t bytes() const;

private:
    size_t k_index(int64_t pos, int64_t i) const {
        const int64_t h = i / head_dim_, d = i % head_dim_;
        return (size_t)((h * capacity_ + pos / kKeyBlock * kKeyBlock) * head_dim_ + d * kKeyBlock + pos % kKeyBlock);
    }
    size_t v_index(int64_t pos, int64_t i) const {
        const int64_t h = i / head_dim_, d = i % head_dim_;
        return (size_t)((h * capacity_ + pos) * head_dim_ + d);
    }

    int64_t n_ctx_ = 0, capacity_ = 0;
    int n_kv_ = 0, head_dim_ = 0;
    std::vector<std::vector<float>> k_, v_;
    std::vector<int64_t> len_;
};

}  // namespace hsd
