#pragma once
// The planner while it generates (docs/PLANNER.md, "Re-planning mid-generation"): costs from
// the cache (cost_cache.h), acceptance learned online (acceptance.h), and every few target
// steps the latency model's best chain; it switches when the predicted gain over the tokens
// still to generate pays for the switch with a margin. A pure decision maker: the executor
// (planner/adaptive_decoder.h) feeds it observations and applies its chains.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planner/acceptance.h"
#include "planner/cache_store.h"
#include "planner/latency_model.h"
#include "planner/profile.h"

namespace hsd::planner {

struct OnlineOptions {
    int replan_every = 4;     // target steps between evaluations
    double margin = 0.05;     // a new chain must predict at least this much less latency
    int t_max = 10;           // thresholds searched (higher ones won only on over-optimistic estimates)
    double half_life = 48;    // judged samples (acceptance.h)
    int horizon = 256;        // at most this many of the remaining tokens count toward a switch's gain
    // Priors of pairs never measured on this machine: the n-gram drafter's, and for models and
    // early exits sigmoid(a + b ln(params of the drafter / params of the verifier)), clamped:
    // a larger drafter agrees more (on our family, from 0.57 for hsd-m0 at 1/18 of the target's
    // size to 0.88 for its exit at 3/4 of the depth: ../shared/models/README.md).
    double neutral_ngram = 0.4, neutral_a = 1.5, neutral_b = 0.5, neutral_min = 0.25, neutral_max = 0.92;
    double neutral_weight = 4, remembered_weight = 16;  // in samples
};

// One plan in force from generated token `token` on.
struct PlanEvent {
    int64_t token = 0, step = 0;
    Chain chain;
    std::string hierarchy;         // short names, "none" for the target alone
    double predicted_tokens_per_second = 0;
    double previous_tokens_per_second = 0;  // the chain it replaced, on the same estimates (0 at the start)
    std::vector<double> accept;    // estimated acceptance by the target, per candidate
    nlohmann::json to_json(const std::vector<std::string>& names) const;
};

class OnlinePlanner {
public:
    // costs: a Profile with candidates and costs (accept empty); ids: one JSON identity per
    // candidate and the target (what remembered acceptance is keyed by); params: the size of
    // each (0 for the n-gram drafter; empty: all equal); store: the cache priors come from and
    // go to (may be disabled).
    OnlinePlanner(Profile costs, std::vector<nlohmann::json> ids, const CacheStore& store, const OnlineOptions& o,
                  std::vector<double> params = {});
    // The neutral prior of a model pair by size (OnlineOptions).
    static double neutral_prior(const OnlineOptions& o, double drafter_params, double verifier_params);

    const Profile& costs() const { return costs_; }
    int n_candidates() const { return (int)costs_.candidates.size(); }
    AcceptanceEstimator& acceptance() { return est_; }
    const OnlineOptions& options() const { return o_; }

    // The best chain on the current estimates (the first plan: on the priors).
    Chain best() const;
    Prediction predict(const Chain& chain) const;
    // Starts a generation on the best chain; returns it (the first event of a new history).
    Chain start();
    // After target step `step` (1-based) with `token` tokens generated and `left` still allowed:
    // a chain to switch to, or nothing. lag(c): tokens candidate c would catch up on joining.
    std::optional<Chain> after_step(int64_t step, int64_t token, int64_t left, const std::function<int64_t(int)>& lag);
    // Forces a chain (tests, and a caller that knows better); recorded as an event.
    void force(const Chain& chain, int64_t step, int64_t token);

    const Chain& current() const { return current_; }
    const std::vector<PlanEvent>& history() const { return history_; }
    // Adds this run's samples to the remembered acceptance of every pair (one cache entry each).
    void remember() const;
    std::string describe(const Chain& c) const;

private:
    Problem problem() const;
    Chain best_fast(const Problem& pr) const;
    void record(const Chain& c, int64_t step, int64_t token, double previous);
    nlohmann::json pair_key(int i, int j) const;

    Profile costs_;
    std::vector<nlohmann::json> ids_;
    const CacheStore& store_;
    OnlineOptions o_;
    AcceptanceEstimator est_;
    Chain current_;
    std::vector<PlanEvent> history_;
};

}  // namespace hsd::planner
