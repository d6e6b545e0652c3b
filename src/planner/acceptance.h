#pragma once
// Acceptance learned while generating (docs/PLANNER.md, "Acceptance, learned online"): every
// draft token a verifier judges is a Bernoulli sample of the acceptance of its (drafter,
// verifier) pair at a position the executor reached. No profiling run: estimates start from
// a prior (what earlier runs with the same pair measured on this machine, else a neutral
// default) and follow the text as it changes, forgetting old samples exponentially.
//
// Pairs the current hierarchy does not exercise get no samples; their prior is shifted by how
// far the observed pairs are from theirs (in logit space: easy text makes every model drafter
// more acceptable), so an idle candidate is re-considered when the text gets easier or harder.
#include <cstdint>
#include <vector>

namespace hsd::planner {

class AcceptanceEstimator {
public:
    // Nodes 0..n_nodes-1 (the candidates, then the target); a pair (i, j) has i < j.
    // half_life: judged samples after which an observation weighs half.
    AcceptanceEstimator(int n_nodes, double half_life);

    int n_nodes() const { return n_; }
    // prior: P(accept) before any sample; weight: how many samples it counts as.
    // shares_difficulty: the pair's deviation from its prior says something about the text
    // (model drafters); false for the n-gram drafter, whose acceptance moves on its own.
    void set_prior(int i, int j, double prior, double weight, bool shares_difficulty);
    // `judged` samples of the pair, `accepted` of them accepted (0 <= accepted <= judged).
    void observe(int i, int j, int64_t judged, int64_t accepted);

    // Current estimate for the pair, clamped to [kMin, kMax]: acceptance comes in runs, and a
    // run of easy tokens drove unclamped estimates to 0.98 and the planner to thresholds of
    // 16 that the next hard stretch wasted (drift set, docs/PLANNER.md).
    double estimate(int i, int j) const;
    // accept[i][j] for every pair, the Problem::accept layout (rows 0..n_nodes-2, n_nodes wide).
    std::vector<std::vector<double>> matrix() const;
    // The logit shift applied to priors: half the observed pairs' mean deviation from theirs,
    // at most one logit (0 before any sample of a difficulty-sharing pair).
    double difficulty_shift() const;

    // Samples of this run (not forgotten): what the cache remembers for the next run.
    int64_t run_judged(int i, int j) const { return at(i, j).run_n; }
    int64_t run_accepted(int i, int j) const { return at(i, j).run_k; }
    double prior(int i, int j) const { return at(i, j).prior; }

    static constexpr double kMin = 0.02, kMax = 0.95;

private:
    struct Pair {
        double prior = 0.6, weight = 4;
        bool shares = true;
        double n = 0, k = 0;         // exponentially weighted samples / acceptances
        int64_t run_n = 0, run_k = 0;
    };
    Pair& at(int i, int j);
    const Pair& at(int i, int j) const;

    int n_;
    double decay_;  // per sample
    std::vector<Pair> pairs_;  // n_ x n_, only i < j used
};

}  // namespace hsd::planner
