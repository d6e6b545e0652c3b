#pragma once
// The target's verdicts on deeper levels' drafts, learned for free: a token that level i
// proposed to a verifier other than the target, at a position the target later committed, was
// (greedy) exactly what the target would have accepted or not. The online planner estimates
// the acceptance of chains it is not running from these (adaptive_decoder.h). Built from what
// the hierarchy reports while it steps (speculative/hierarchy_observer.h).
#include <cstdint>
#include <vector>

#include "speculative/hierarchy_observer.h"

namespace hsd::planner {

// One draft token and the target's verdict on it.
struct ShadowSample {
    int level = 0;  // pool index of the level that proposed it
    bool agreed = false;
};

class ShadowVerdicts : public HierarchyObserver {
public:
    // target: the target's pool index (its own drafts are counted directly, not here);
    // ngram: the n-gram candidate's pool index (-1: none).
    ShadowVerdicts(int target, int ngram) : target_(target), ngram_(ngram) {}

    // Before a step: forgets the last one. Sampled drafts of a model agreeing with the sampled
    // token is not their acceptance, so only greedy steps (and the deterministic n-gram
    // drafter, whose agreement is its acceptance: P(token = x) = p(x)) count.
    void begin_step(bool greedy);
    void on_proposal(int level, int verifier, int64_t base, const std::vector<TokenId>& tokens) override;
    void on_cut(int64_t keep) override;
    // After the step, `seq` the committed sequence: the verdict on every proposal still on it
    // (in the order proposed), then one failure per proposal that came back empty.
    const std::vector<ShadowSample>& end_step(const std::vector<TokenId>& seq);

private:
    struct Proposal {
        int level;
        int64_t pos;
        TokenId tok;
    };
    int target_, ngram_;
    bool greedy_ = true;
    std::vector<Proposal> proposals_;  // this step's, still on a kept prefix
    std::vector<int> empty_;           // levels that proposed nothing this step
    std::vector<ShadowSample> out_;
};

}  // namespace hsd::planner
