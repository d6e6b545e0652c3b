#pragma once
// The level interface of the speculative executor. A level proposes tokens to the level above
// it and records, for every proposed position, the FULL next-token distribution it sampled
// from (q one level up). Model levels (model_drafter.h) also verify the batch of the level
// below; the n-gram drafter (ngram_drafter.h) only proposes, so it can only be the bottom level.
#include <cstdint>
#include <string>
#include <vector>

#include "common/token_id.h"
#include "sampling/sampler.h"
#include "speculative/level_stats.h"

namespace hsd {

// Tokens plus one probability row of n_vocab floats per token. Greedy decoding needs no
// distributions (every one would be one-hot on the argmax), so greedy batches carry tokens
// only: copying 8192-float rows per token cost as much as an hsd-m0 forward.
struct DraftBatch {
    int n_vocab = 0;
    std::vector<TokenId> tokens;
    std::vector<float> probs;  // tokens.size() rows of n_vocab
    // 1 if the returning level produced the token itself (a bottom draft, or a replacement /
    // bonus token of its verification), 0 if it accepted it from the level below.
    std::vector<uint8_t> own;

    size_t size() const { return tokens.size(); }
    bool empty() const { return tokens.empty(); }
    const float* dist(size_t t) const { return probs.data() + t * (size_t)n_vocab; }
    void clear() {
        tokens.clear();
        probs.clear();
        own.clear();
    }
    // Appends a token and its distribution (n_vocab floats).
    void push(TokenId tok, const float* dist, bool produced_here = true);
    // Appends a token with a one-hot distribution on it.
    void push_one_hot(TokenId tok);
    // Appends a token without a distribution (greedy batches).
    void push_token(TokenId tok, bool produced_here = true);
};

class Drafter {
public:
    virtual ~Drafter() = default;

    // Forgets everything and processes the prompt (model levels: one prefill batch).
    virtual void prefill(const std::vector<TokenId>& prompt) = 0;
    // Proposes up to n tokens continuing seq (n >= 1), each with the distribution it was
    // drawn from, into out (cleared first). May return fewer (the n-gram drafter may return none).
    virtual void draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) = 0;
    // The sequence was cut back to `len` tokens: forget what was processed past it.
    virtual void rollback(int64_t len) = 0;
    // Tokens of the sequence this level has processed (its KV cache length; 0 for n-gram).
    virtual int64_t n_processed() const = 0;

    LevelStats& stats() { return stats_; }
    const LevelStats& stats() const { return stats_; }

protected:
    LevelStats stats_;
};

}  // namespace hsd
