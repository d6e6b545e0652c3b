// Tests for the key/value cache (src/kvcache/kv_cache.*): its blocked key layout and
// position-major value layout read back exactly what was stored.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvcache/kv_cache.h"

namespace hsd {
namespace {

TEST(KVCache, LayoutRoundTrips) {
    // store() then k_at / v_at return every element, for block-crossing positions and GQA heads.
    KVCache cache(2, 40, 3, 20);
    EXPECT_EQ(cache.capacity(), 48);
    std::vector<float> k(60), v(60);
    for (int64_t pos = 0; pos < 40; ++pos) {
        for (int i = 0; i < 60; ++i) {
            k[(size_t)i] = (float)(pos * 1000 + i);
            v[(size_t)i] = -(float)(pos * 1000 + i);
        }
        cache.store(1, pos, k.data(), v.data());
    }
    for (int64_t pos = 0; pos < 40; ++pos)
        for (int i = 0; i < 60; ++i) {
            ASSERT_EQ(cache.k_at(1, pos, i), (float)(pos * 1000 + i));
            ASSERT_EQ(cache.v_at(1, pos, i), -(float)(pos * 1000 + i));
            ASSERT_EQ(cache.k_at(0, pos, i), 0.0f);
        }
}

}  // namespace
}  // namespace hsd
