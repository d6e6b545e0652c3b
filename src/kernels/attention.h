#pragma once
// Causal grouped-query attention over the key/value layout that kvcache/kv_cache.h stores.
#include <cstdint>
#include <span>

namespace hsd {

// Keys are stored in blocks of kKeyBlock positions per kv head, dimension-major inside a
// block, so the scores of 16 positions accumulate in one AVX-512 register. The kernel
// defines the layout it reads; the cache (a later folder) follows it.
constexpr int64_t kKeyBlock = 16;

class ThreadPool;

// n query rows at positions p0..p0+n-1; query t attends to positions [0, p0 + t].
// q: [n][n_head * hd]. keys / values: one layer of a KVCache (KVCache::keys / values) with
// `capacity` positions per kv head, already holding the n new rows. out: [n][n_head * hd].
//
// Work is split by kv head and blocks of up to 8 query rows sharing it (the tokens of a batch
// and the heads of a group), so each block streams its head's keys and values once. Every
// output is computed in the same order whatever the batch holds (scores: over dimensions;
// weighted sum: over positions), so a batch gives bit-identical rows to single queries.
void attention(ThreadPool& pool, const float* q, const float* keys, const float* values, int64_t capacity, int64_t n,
               int64_t p0, int n_head, int n_kv, int hd, float* out);

// Several sequences (each with its own cache) in one parallel region, as a fused pass over
// sequences needs: each row gets exactly what attention() gives it alone.
struct AttentionSeq {
    const float* q;
    const float* keys;
    const float* values;
    int64_t capacity, n, p0;
    float* out;
};
void attention_multi(ThreadPool& pool, std::span<const AttentionSeq> seqs, int n_head, int n_kv, int hd);

}  // namespace hsd
