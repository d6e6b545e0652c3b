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
#include <memory>
#include <vector>

#include "speculative/drafter.h"
#include "speculative/hierarchy_observer.h"
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

struct HierarchyOptions {
    int64_t n_ctx = 0;                    // positions of every model Context (0: the target's training context)
    VerifyRule rule = VerifyRule::Exact;  // tests: a deliberately broken verifier
    // The levels are candidates (cheapest first, as the planner orders them) and any increasing
    // subset of them may be made the active chain by set_chain(), mid-generation too; every
    // pair's vocabularies are checked. All of them are active at first.
    bool pool_of_candidates = false;
    // With a pool: a model candidate not loaded yet (model == nullptr) is loaded through this
    // cache when it first joins (vocabulary checked against the target then: a caller that
    // wants the error up front checks it before, as the planner does from the file's metadata).
    ModelCache* lazy_models = nullptr;
};

class Hierarchy {
public:
    // levels: smallest first, the target excluded (at least one), model levels resolved
    // (resolve_models). Vocabularies of adjacent models are checked (check_draft_vocabulary: a
    // draft's may be a prefix of the one above; every level then works in the target's id
    // range, see ModelDrafter's row_vocab); the n-gram drafter may only be the bottom level.
    Hierarchy(const Model& target, const std::vector<LevelSpec>& levels, ThreadPool& pool,
              const HierarchyOptions& options = {});

    // The active chain: levels[0 .. n_levels()-1], the target last.
    int n_levels() const { return (int)chain_.size(); }  // K + 1, target included
    Drafter& level(int i) { return *in_chain(i).drafter; }
    // Level i as a model (it can verify): nullptr for the n-gram drafter.
    ModelDrafter* model_level(int i) { return in_chain(i).model; }

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
    // Told of every proposal and cut from the next step on (nullptr: nobody); not owned.
    void set_observer(HierarchyObserver* observer) { observer_ = observer; }
    ModelDrafter& target() { return *levels_.back().model; }
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
    // One level of the pool: a candidate, or the target (last).
    struct Level {
        LevelSpec spec;                    // as given (the target's: unused)
        std::unique_ptr<Drafter> drafter;  // nullptr: a candidate not loaded yet
        ModelDrafter* model = nullptr;     // the drafter as a model (nullptr for the n-gram drafter)
        int threshold = 0;                 // T_i while in the chain (the target: 0)
        DraftBatch batch;                  // the tokens it returns in the current call
        bool ever_active = false;          // in the chain since reset_stats()
    };
    Level& in_chain(int i) { return levels_[(size_t)chain_[(size_t)i]]; }

    // HSD(idx): appends the tokens chain level idx returns to seq_ and to its batch (at most
    // max_n >= 1 of them), each with level idx's distribution at its position.
    void run_level(int idx, int max_n);
    // Every loaded level forgets the sequence past `len`.
    void rollback_all(int64_t len);

    ThreadPool* pool_;
    ModelCache* lazy_models_;
    VerifyRule rule_;
    HierarchyObserver* observer_ = nullptr;
    std::vector<Level> levels_;  // the pool, target last
    std::shared_ptr<StagedContext> target_state_;
    std::vector<int> chain_;     // pool indices of the active levels, target last
    std::vector<TokenId> seq_;
    std::vector<TokenId> committed_;
    std::vector<float> p_;        // verifier distributions scratch (sampling)
    std::vector<TokenId> best_;   // verifier argmax per row
    Sampler* sampler_ = nullptr;
    int64_t n_ctx_ = 0;
    int n_vocab_ = 0;
};

}  // namespace hsd
