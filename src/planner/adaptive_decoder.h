#pragma once
// `--hierarchy auto`: a hierarchy over a pool of candidates whose active chain the online
// planner (planner/online_planner.h) chooses and changes while it generates. Each step is an
// HSD step of the chain active at that moment, so the output is exactly the target's
// (greedy: token for token; sampling: in distribution) whatever the planner does.
//
// What the planner learns from, all of it what the executor does anyway: the drafts each
// verifier judged (pairs of adjacent levels), the shadow verdicts of the target on drafts of
// deeper levels (shadow_verdicts.h, from what the hierarchy reports as it steps), and, when
// the n-gram drafter is idle, its proposal at each step compared with what the target
// committed (a lookup costs microseconds).
#include <functional>
#include <memory>

#include "decoding/decoder.h"
#include "planner/online_planner.h"
#include "planner/shadow_verdicts.h"

namespace hsd::planner {

class AdaptiveDecoder : public Decoder {
public:
    // h: built over the planner's candidates in the planner's order (pool_of_candidates).
    // on_event: called with every plan the planner puts in force (start and switches).
    // Observes h (set_observer) until destroyed.
    AdaptiveDecoder(Hierarchy& h, OnlinePlanner& planner, std::function<void(const PlanEvent&)> on_event = {});
    ~AdaptiveDecoder() override;
    AdaptiveDecoder(const AdaptiveDecoder&) = delete;
    AdaptiveDecoder& operator=(const AdaptiveDecoder&) = delete;

    const Model& target() const override { return h_.target().model(); }
    int64_t n_ctx() const override { return h_.n_ctx(); }
    void start(const std::vector<TokenId>& prompt) override;
    const std::vector<TokenId>& step(Sampler& sampler, int max_n) override;
    int64_t sequence_length() const override { return (int64_t)h_.sequence().size(); }
    void finish(int64_t len) override { h_.truncate(len); }
    std::vector<LevelStats> level_stats() const override { return h_.stats(); }

    // Test hook: called before every step with the step number (0-based); a chain it returns
    // is forced before the step (planner decisions still happen, forced ones win).
    std::function<std::optional<Chain>(int64_t step)> force;

private:
    void apply(const Chain& c);

    Hierarchy& h_;
    OnlinePlanner& p_;
    std::function<void(const PlanEvent&)> on_event_;
    int64_t steps_ = 0, generated_ = 0, prompt_len_ = 0;
    int ngram_ = -1;                 // pool index of the n-gram candidate, -1 if none
    std::vector<TokenId> ngram_guess_;  // its proposal at the start of the step, if idle
    std::vector<int64_t> judged_, accepted_;  // per pool level, before the step
    ShadowVerdicts shadow_;
};

}  // namespace hsd::planner
