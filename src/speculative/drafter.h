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

// Counters of one level for one generation. "draft" counters describe this level as a
// proposer (verified by the level above); n_forward / seconds describe its own work.
struct LevelStats {
    std::string name;          // model file, "file@k" (early exit after k layers), "ngram(N)"
    int depth = 0;             // layers a model level runs (0 for the n-gram drafter)
    int threshold = 0;         // T_i: tokens returned per call (bottom: tokens drafted per call); 0 for the target
    int64_t n_forward = 0;     // forward passes (batches of new positions run) during generation, prefill excluded
    int64_t draft_n = 0;       // tokens proposed to the level above
    int64_t draft_n_accepted = 0;  // of those, accepted by the level above
    int64_t n_drafts = 0;      // non-empty batches the level above verified
    int64_t n_empty = 0;       // calls that asked for drafts and got none (the n-gram drafter found no match)
    double seconds = 0;        // time in this level's own work (forward passes, sampling, lookup, verification)
    int64_t layer_evals = 0;   // token x layer evaluations this level ran (early exits: only the layers it added)
    // Acceptance of this level's proposals that the level above judged (the accepted prefix
    // and the first rejection), split by how this level got the token (origin 1: produced here,
    // 0: accepted from the level below) and by position in the batch (capped): the planner's
    // i.i.d. model assumes neither matters.
    static constexpr int kPositions = 16;
    int64_t origin_n[2] = {0, 0}, origin_accepted[2] = {0, 0};
    int64_t position_n[kPositions] = {}, position_accepted[kPositions] = {};

    // Adds the counters of another generation of the same level (e.g. summing over prompts);
    // name, depth and threshold come from `o` while this one has none yet.
    LevelStats& operator+=(const LevelStats& o);

    double acceptance_rate() const { return draft_n > 0 ? (double)draft_n_accepted / (double)draft_n : 0.0; }
    // Acceptance of the judged proposals of one origin (1: produced here, 0: accepted from
    // below); -1 when none was judged, which is not the same as none accepted.
    double origin_rate(int origin) const;
    // Tokens the level above emitted per verification of one of our batches: accepted drafts
    // plus its correction or bonus token (vLLM's "mean acceptance length"; 1 = nothing accepted).
    double mean_accepted_length() const {
        return n_drafts > 0 ? 1.0 + (double)draft_n_accepted / (double)n_drafts : 0.0;
    }
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
