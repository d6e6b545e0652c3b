#include "planner/adaptive_decoder.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/error.h"
#include "speculative/ngram_drafter.h"

namespace hsd::planner {

namespace {
constexpr int kNgramGuess = 8;  // tokens of the idle n-gram drafter's proposal that are judged

// Judged drafts, plus calls that proposed nothing (each a failure, as the profile counts them).
int64_t judged_of(const LevelStats& s) { return s.n_empty + s.judged(); }
int64_t accepted_of(const LevelStats& s) { return s.judged_accepted(); }

// Pool index of the planner's n-gram candidate, -1 if none.
int ngram_candidate(const OnlinePlanner& p) {
    int ngram = -1;
    for (int i = 0; i < p.n_candidates(); ++i)
        if (p.costs().candidates[(size_t)i].level.is_ngram()) ngram = i;
    return ngram;
}
}  // namespace

AdaptiveDecoder::AdaptiveDecoder(Hierarchy& h, OnlinePlanner& planner, std::function<void(const PlanEvent&)> on_event)
    : h_(h), p_(planner), on_event_(std::move(on_event)), ngram_(ngram_candidate(planner)),
      shadow_(h.n_candidates(), ngram_) {
    HSD_ASSERT(h_.n_candidates() == p_.n_candidates(),
               fmt::format("a pool of {} candidates for a planner of {}", h_.n_candidates(), p_.n_candidates()));
    h_.set_observer(&shadow_);
}

AdaptiveDecoder::~AdaptiveDecoder() { h_.set_observer(nullptr); }

void AdaptiveDecoder::apply(const Chain& c) {
    h_.set_chain(c.levels, c.thresholds);
    if (on_event_) on_event_(p_.history().back());
}

void AdaptiveDecoder::start(const std::vector<TokenId>& prompt) {
    steps_ = 0;
    generated_ = 0;
    prompt_len_ = (int64_t)prompt.size();
    // The chain first, so only its levels prefill; the others catch up if they join.
    h_.set_chain({}, {});
    h_.start(prompt);
    apply(p_.start());
}

const std::vector<TokenId>& AdaptiveDecoder::step(Sampler& sampler, int max_n) {
    if (force)
        if (std::optional<Chain> c = force(steps_)) {
            p_.force(*c, steps_, generated_);
            apply(*c);
        }
    const std::vector<int>& chain = h_.chain();
    const bool ngram_idle = ngram_ >= 0 && std::find(chain.begin(), chain.end(), ngram_) == chain.end();
    if (ngram_idle)
        ngram_guess_ = NgramDrafter::lookup(h_.sequence(), p_.costs().candidates[(size_t)ngram_].level.ngram_n,
                                            kNgramGuess);
    const std::vector<LevelStats> before = h_.all_stats();
    judged_.resize(before.size());
    accepted_.resize(before.size());
    for (size_t i = 0; i < before.size(); ++i) {
        judged_[i] = judged_of(before[i]);
        accepted_[i] = accepted_of(before[i]);
    }
    shadow_.begin_step(sampler.params().greedy());
    const std::vector<TokenId>& out = h_.step(sampler, max_n);
    generated_ += (int64_t)out.size();
    ++steps_;

    // Direct verdicts: each active level's drafts, judged by the level above it.
    const std::vector<LevelStats> after = h_.all_stats();
    AcceptanceEstimator& est = p_.acceptance();
    for (size_t k = 0; k + 1 < chain.size(); ++k) {
        const size_t i = (size_t)chain[k];
        est.observe(chain[k], chain[k + 1], judged_of(after[i]) - judged_[i], accepted_of(after[i]) - accepted_[i]);
    }
    // Shadow verdicts of the target on deeper levels' drafts.
    const int target = h_.n_candidates();
    for (const ShadowSample& s : shadow_.end_step(h_.sequence())) est.observe(s.level, target, 1, s.agreed ? 1 : 0);
    // The idle n-gram drafter: its proposal walked against what was committed, as the
    // executor would have judged it (until the first mismatch; none proposed = one failure).
    if (ngram_idle) {
        if (ngram_guess_.empty()) {
            est.observe(ngram_, target, 1, 0);
        } else {
            int64_t judged = 0, accepted = 0;
            for (size_t t = 0; t < ngram_guess_.size() && t < out.size(); ++t) {
                ++judged;
                if (ngram_guess_[t] != out[t]) break;
                ++accepted;
            }
            est.observe(ngram_, target, judged, accepted);
        }
    }

    if (std::optional<Chain> c =
            p_.after_step(steps_, generated_, (int64_t)max_n - (int64_t)out.size(),
                          [this](int cand) { return h_.lag(cand); }))
        apply(*c);
    return out;
}

}  // namespace hsd::planner
