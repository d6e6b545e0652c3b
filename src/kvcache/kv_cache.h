#pragma once
// Per-layer key/value cache in F32. Keys are stored transposed per kv head ([dim][position],
// so attention scores are contiguous multiply-adds over positions, no horizontal sums);
// values are stored by position ([position][kv_dim]). Each layer keeps its own fill length so that layer
// ranges can run ahead of one another (early-exit drafting fills shallow layers first).
// Truncation only moves lengths back: rows past a layer's length are never read, and are
// overwritten when new tokens arrive, so a truncated cache behaves exactly as if the
// rejected tokens had never been seen.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hsd {

class KVCache {
public:
    KVCache() = default;
    KVCache(int n_layer, int64_t n_ctx, int64_t kv_dim);

    int n_layer() const { return (int)len_.size(); }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t kv_dim() const { return kv_dim_; }

    // Number of positions held by `layer`.
    int64_t length(int layer) const { return len_[(size_t)layer]; }
    // Length of the full model's cache (the shortest layer).
    int64_t length() const;

    // Writes the key row (kv_dim values, heads of head_dim each) of one position.
    void store_k(int layer, int64_t pos, const float* row, int head_dim);
    // Element i (= head * head_dim + d) of the key at `pos`.
    float k_at(int layer, int64_t pos, int64_t i) const {
        return k_[(size_t)layer][(size_t)(i * n_ctx_ + pos)];
    }
    // Keys of one layer, transposed: element (i, pos) at [i * n_ctx() + pos].
    const float* k_transposed(int layer) const { return k_[(size_t)layer].data(); }
    float* v(int layer, int64_t pos) { return &v_[(size_t)layer][(size_t)(pos * kv_dim_)]; }
    const float* v(int layer, int64_t pos) const { return &v_[(size_t)layer][(size_t)(pos * kv_dim_)]; }

    void set_length(int layer, int64_t len) { len_[(size_t)layer] = len; }

    // Every layer keeps at most `len` positions (rollback after a rejected draft).
    void truncate(int64_t len);
    // Layers [a, b) keep at most `len` positions.
    void truncate_layers(int a, int b, int64_t len);
    void clear() { truncate(0); }

    size_t bytes() const;

private:
    int64_t n_ctx_ = 0;
    int64_t kv_dim_ = 0;
    std::vector<std::vector<float>> k_, v_;
    std::vector<int64_t> len_;
};

}  // namespace hsd
