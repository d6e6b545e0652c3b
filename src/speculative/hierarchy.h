#pragma once
// Hierarchical speculative decoding (HSD): levels M_0 < M_1 < ... < M_{K-1} below the target
// M_K. M_0 drafts T_0 tokens; each level 0 < i < K keeps asking the level below for a batch,
// verifies it in one forward pass and accumulates the verified tokens until it holds >= T_i
// (whole batches, overshoot kept), then returns them, with its own full distribution at each
// returned position, to the level above. The target verifies exactly one batch per step and
// commits the result. K = 1 is classic speculative decoding with draft length T_0.
// Lossless for any K and T, greedy (token for token) or sampled (in distribution).
// See docs/SPECULATIVE.md.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "speculative/drafter.h"
#include "speculative/level.h"
#include "speculative/model_drafter.h"
#include "speculative/verify.h"

namespace hsd {

class ThreadPool;
class ModelCache;

// Throws hsd::Error naming both files and the first differing token id and pieces unless the
// two models have the same vocabulary (size, and every piece's text and type).
void check_same_vocabulary(const Model& a, const Model& b);
// The rule between a draft model and the level above it: the draft's vocabulary equals the
// above's or is a prefix of it (same text and type at every shared id; the larger model only
// adds ids, as Qwen2.5 7B's padded vocabulary extends 0.5B's). Throws naming both files and
// the first differing id otherwise, e.g. when the draft is the larger one.
void check_draft_vocabulary(const Model& draft, const Model& above);

// A draft token whose verdict by the target is known once its position is committed: the
// token level `level` (an index of the pool) chose at `pos` from a prefix the target kept.
struct ShadowSample {
    int level = 0;
    bool agreed = false;
};

class Hierarchy {
public:
    // levels: smallest first, the target excluded (at least one), model levels resolved
    // (resolve_models). Every model Context gets n_ctx positions (0 = the target's training
    // context). Vocabularies of adjacent models are checked (check_draft_vocabulary: a draft's
    // may be a prefix of the one above; every level then works in the target's id range,
    // see ModelDrafter's row_vocab); the n-gram drafter may only be
    // the bottom level. `rule` exists for tests (a deliberately broken verifier).
    //
    // pool = true: `levels` are candidates (cheapest first, as the planner orders them) and any
    // increasing subset of them may be made the active chain by set_chain(), mid-generation
    // too; every pair's vocabularies are checked. All of them are active at first. With
    // lazy_models, a model candidate not loaded yet (model == nullptr) is loaded through it when
    // it first joins (vocabulary checked against the target then: a caller that wants the error
    // up front checks it before, as Session does from the file's metadata).
    Hierarchy(const Model& target, const std::vector<LevelSpec>& levels, ThreadPool& pool, int64_t n_ctx = 0,
              VerifyRule rule = VerifyRule::Exact, bool pool_of_candidates = false, ModelCache* lazy_models = nullptr);

    // The active chain: levels[0 .. n_levels()-1], the target last.
    int n_levels() const { return (int)chain_.size(); }  // K + 1, target included
    Drafter& level(int i) { return *levels_[(size_t)chain_[(size_t)i]]; }
    // Level i as a model (it can verify): nullptr for the n-gram drafter.
    ModelDrafter* model_level(int i) { return models_[(size_t)chain_[(size_t)i]]; }

    // Candidates of the pool (the constructor's levels; the target is not one).
    int n_candidates() const { return (int)levels_.size() - 1; }
    // Makes candidates `active` (increasing pool indices; empty: the target decodes alone)
    // with thresholds (>= 1) the chain, from the next step on. Lossless at any step: a step is
    // an HSD step of whatever chain is active. A model that joins catches up on the tokens it
    // has not processed (a prefill when it never ran); early exits share the target's cache
    // and the n-gram drafter has no state, so neither pays anything. Throws hsd::Error for an
    // invalid chain.
    void set_chain(const std::vector<int>& active, const std::vector<int>& thresholds);
    const std::vector<int>& chain() const { return chain_; }  // pool indices, target (n_candidates()) last
    // Positions of the sequence a candidate's context lacks (0 for exits and the n-gram drafter):
    // what it would catch up on if it joined now.
    int64_t lag(int candidate) const;
    // Shadow samples of the last step (greedy, or the deterministic n-gram drafter in any mode):
    // levels whose verifier is not the target learn, for free, whether the target would have
    // accepted their tokens.
    const std::vector<ShadowSample>& shadow() const { return shadow_out_; }
    ModelDrafter& target() { return *models_.back(); }
    int64_t n_ctx() const { return n_ctx_; }

    // Prefills every level with the prompt; the sequence becomes the prompt.
    void start(const std::vector<TokenId>& prompt);
    // One top-level HSD call: the target verifies one batch. Commits and returns between 1
    // and max_n (>= 1) new tokens. The caller keeps sequence().size() + max_n - 1 <= n_ctx().
    const std::vector<TokenId>& step(Sampler& sampler, int max_n);
    // Prompt + committed tokens (during a step: also the tokens levels still hold).
    const std::vector<TokenId>& sequence() const { return seq_; }
    // The context shared by the target and its early-exit levels.
    StagedContext& target_state() { return *target_state_; }
    // Cuts the sequence to len tokens and rolls every level back (e.g. after EOS).
    void truncate(int64_t len);

    void reset_stats();
    // Bottom level first, target last: every candidate that was ever active since the last
    // reset_stats() (with the threshold it last had), in pool order.
    std::vector<LevelStats> stats() const;
    // Every pool level's counters, in pool order (the target last), active or not.
    std::vector<LevelStats> all_stats() const;

private:
    // HSD(idx): appends the tokens level idx returns to seq_ and to batches_[idx] (at most
    // max_n >= 1 of them), each with level idx's distribution at its position.
    void run_level(int idx, int max_n);

    struct Proposal {
        int level;
        int64_t pos;
        TokenId tok;
    };
    // Records the batch level `at` (chain position) just returned, if the target is not its verifier.
    void record_shadow(int at, const DraftBatch& batch, int64_t base);

    std::vector<LevelSpec> specs_;                  // the candidates as given
    ThreadPool* pool_;
    ModelCache* lazy_models_;
    std::vector<std::unique_ptr<Drafter>> levels_;  // the pool, target last (nullptr: not loaded yet)
    std::vector<ModelDrafter*> models_;             // levels_ that are models (all but an n-gram drafter)
    std::vector<bool> ever_active_;                 // per pool level, since reset_stats()
    std::shared_ptr<StagedContext> target_state_;
    std::vector<int> chain_;           // pool indices of the active levels, target last
    std::vector<int> thresholds_;      // per chain position (the target: 0)
    std::vector<DraftBatch> batches_;  // per chain position: the tokens it returns in the current call
    std::vector<Proposal> proposals_;  // this step's shadow proposals still on a kept prefix
    std::vector<int> empty_;           // levels (pool) that proposed nothing this step, verifier not the target
    std::vector<ShadowSample> shadow_out_;
    std::vector<TokenId> seq_;
    std::vector<TokenId> committed_;
    std::vector<float> p_;        // verifier distributions scratch (sampling)
    std::vector<TokenId> best_;   // verifier argmax per row
    Sampler* sampler_ = nullptr;
    int64_t n_ctx_ = 0;
    int n_vocab_ = 0;
    VerifyRule rule_;
};

}  // namespace hsd
