#include "kvcache/kv_cache.h"

#include <algorithm>

namespace hsd {

KVCache::KVCache(int n_layer, int64_t n_ctx, int64_t kv_dim)
    : n_ctx_(n_ctx),
      kv_dim_(kv_dim),
      k_((size_t)n_layer, std::vector<float>((size_t)(n_ctx * kv_dim))),
      v_((size_t)n_layer, std::vector<float>((size_t)(n_ctx * kv_dim))),
      len_((size_t)n_layer, 0) {}

int64_t KVCache::length() const {
    if (len_.empty()) return 0;
    return *std::min_element(len_.begin(), len_.end());
}

void KVCache::store_k(int layer, int64_t pos, const float* row, int /*head_dim*/) {
    float* k = k_[(size_t)layer].data();
    for (int64_t i = 0; i < kv_dim_; ++i) k[i * n_ctx_ + pos] = row[i];
}

void KVCache::truncate(int64_t len) { truncate_layers(0, n_layer(), len); }

void KVCache::truncate_layers(int a, int b, int64_t len) {
    for (int l = a; l < b; ++l) len_[(size_t)l] = std::min(len_[(size_t)l], std::max<int64_t>(0, len));
}

size_t KVCache::bytes() const { return 2 * len_.size() * (size_t)(n_ctx_ * kv_dim_) * sizeof(float); }

}  // namespace hsd
