#pragma once
// Expected latency of a speculative hierarchy as run by our executor (docs/SPECULATIVE.md,
// shared/papers/hsd-paper.md §3.2), generalised to batch-dependent costs (a CPU pass over n tokens is not
// free in n). Pure math: no model code.
//
// Chain: levels 0..K, level K = the target. Level 0 drafts T_0 tokens, one pass each. Level
// 0 < i < K calls level i-1 for a batch of n tokens, verifies it in one pass over n+1 tokens
// (the drafts plus its own last emitted, not yet processed token), emits the accepted prefix
// plus one replacement/bonus token (each draft accepted i.i.d. with probability a_i, stop at
// the first rejection), and repeats until it holds >= T_i tokens. The target verifies one batch
// per step; its output is committed.
//
// The evaluator carries the full distribution of each level's output N_i (small supports),
// counts expected rounds with a renewal DP and gets E[cost] by Wald's identity; the latency per
// committed token is E[cost of a step] / E[tokens of a step] (renewal-reward).
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hsd::planner {

enum class Variant {
    Overshoot,  // the executor today: a level returns every token it holds (>= T_i)
    Truncate,   // a level returns exactly its first T_i tokens (N_i = T_i, used by the DP)
};

// Candidates 0..n_drafters-1, ordered (a chain uses increasing indices); target = n_drafters.
struct Problem {
    int n_drafters = 0;
    std::vector<std::string> names;  // n_drafters + 1, target last
    // Seconds for `level` to run one forward pass over n new tokens when its batch was drafted
    // by `below` (below = -1: the level drafts itself, n = 1). Lets early-exit views of one
    // model cost only the layers they add on top of the level below. Must be finite, >= 0.
    std::function<double(int below, int level, int n)> cost;
    // accept[i][j], i < j <= n_drafters: P(a token of i is accepted by j), in [0, 1]. Rows
    // 0..n_drafters-1 with n_drafters + 1 entries each; entries with j <= i are ignored.
    std::vector<std::vector<double>> accept;
    // Optional (empty: the i.i.d. model). accept_passed[i][k][j], i < k < j: P(j accepts a token
    // that i drafted and k accepted). Measured far above accept[k][j] on real models (a token two
    // models agreed on is easier), so in a chain ..., i, k, j the tokens k passes on from i are
    // accepted by j with this rate, the tokens k produced itself with accept[k][j].
    std::vector<std::vector<std::vector<double>>> accept_passed;
};

// levels: drafters only, strictly increasing; thresholds: T_i >= 1, same length. Empty = no
// speculation (the target decodes alone).
struct Chain {
    std::vector<int> levels;
    std::vector<int> thresholds;
    bool operator==(const Chain&) const = default;
    auto operator<=>(const Chain&) const = default;
};

struct Prediction {
    double seconds_per_token = 0;  // L
    double tokens_per_second = 0;  // 1 / L
    double speedup = 0;            // L_ar / L, L_ar = cost(-1, target, 1)
    double tokens_per_step = 0;    // E[tokens committed per target pass]
    double seconds_per_step = 0;   // E[cost of one top-level call]
    std::vector<double> mean_batch;         // E[N_i] per drafter level of the chain
    std::vector<double> forwards_per_step;  // E[forward passes per step] per level, target last
};

// Throws hsd::Error naming the fault (names size, acceptance entry, missing cost function).
void validate(const Problem& problem);
// Also checks the chain against the problem (lengths, increasing levels, thresholds >= 1).
void validate(const Problem& problem, const Chain& chain);

// problem.cost(below, level, n), checked: finite and >= 0, else an error naming the models.
double pass_cost(const Problem& problem, int below, int level, int n);

// Exact expectation under i.i.d. acceptance. With accept_passed, each level's acceptance is
// the mix of the two rates weighted by the expected share of passed-on tokens in the batch it
// verifies (an approximation: it ignores where in the batch the passed tokens sit).
Prediction evaluate(const Problem& problem, const Chain& chain, Variant variant);

// R[t] for t = 0..t_max: expected verify rounds for batches of exactly n drafts, each accepted
// with probability a, to accumulate >= t tokens (R[0] = 0). The DP's edge slope.
std::vector<double> expected_rounds(int n, double a, int t_max);
// E[tokens emitted by one verify pass over n drafts] = 1 + a + ... + a^n.
double expected_round_output(int n, double a);

// "m0:3,m1:6" (the CLI's --hierarchy order), or "none" for the empty chain.
std::string describe(const Problem& problem, const Chain& chain);

// A `Problem::cost` from measured tables (e.g. a JSON profile).
struct CostTable {
    // seconds[c][n-1]: one pass of candidate c (target last) over n = 1..size() tokens, used
    // for every `below`. Beyond the table: linear extrapolation from the last two entries
    // (slope clamped at >= 0; a one-entry table is constant).
    std::vector<std::vector<double>> seconds;
    // Overrides for specific (below, level) pairs, same layout (e.g. an early-exit view that
    // only runs the layers above the view below it).
    std::map<std::pair<int, int>, std::vector<double>> pairwise;
};
// Validates the table (non-empty rows, finite, >= 0) and copies it into the function.
std::function<double(int, int, int)> cost_from_table(CostTable table);

}  // namespace hsd::planner
