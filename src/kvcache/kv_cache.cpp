#include "kvcache/kv_cache.h"

#include <algorithm>

namespace hsd {

KVCache::KVCache(int n_layer, int64_t n_ctx, int n_kv_heads, int head_dim)
    : n_ctx_(n_ctx),
      capacity_((n_ctx + kKeyBlock - 1) / kKeyBlock * kKeyBlock),
      n_kv_(n_kv_heads),
      head_dim_(head_dim),
      k_((size_t)n_layer, std::vector<float>((size_t)(capacity_ * n_kv_heads * head_dim))),
      v_((size_t)n_layer, std::vector<float>((size_t)(capacity_ * n_kv_heads * head_dim))),
      len_((size_t)n_layer, 0) {}

int64_t KVCache::length() const {
    if (len_.empty()) return 0;
    return *std::min_element(len_.begin(), len_.end());
}

void KVCache::store(int layer, int64_t pos, const float* k_row, const float* v_row) {
    float* k = k_[(size_t)layer].data();
    float* v = v_[(size_t)layer].data();
    for (int h = 0; h < n_kv_; ++h) {
        float* kb = k + (h * capacity_ + pos / kKeyBlock * kKeyBlock) * head_dim_ + pos % kKeyBlock;
        const float* kr = k_row + (int64_t)h * head_dim_;
        for (int d = 0; d < head_dim_; ++d) kb[d * kKeyBlock] = kr[d];
        std::copy(v_row + (int64_t)h * head_dim_, v_row + (int64_t)(h + 1) * head_dim_,
                  v + (h * capacity_ + pos) * head_dim_);
    }
}

void KVCache::truncate(int64_t len) { truncate_layers(0, n_layer(), len); }

void KVCache::truncate_layers(int a, int b, int64_t len) {
    for (int l = a; l < b; ++l) len_[(size_t)l] = std::min(len_[(size_t)l], std::max<int64_t>(0, len));
}

size_t KVCache::bytes() const { return 2 * len_.size() * (size_t)(capacity_ * kv_dim()) * sizeof(float); }

}  // namespace hsd
