#pragma once
// Choosing the hierarchy (shared/papers/hsd-paper.md §3.3): which drafters, in which order,
// with which thresholds, minimise the expected seconds per committed token.
#include <cstddef>
#include <vector>

#include "planner/latency_model.h"

namespace hsd::planner {

// Thresholds T_i the planner searches, 1..t_max: the default of hsd plan and bench_speculative
// --add-plan (--hierarchy auto searches fewer: OnlineOptions::t_max), and one limit for every
// caller (the DP is cubic in t_max, and thresholds past 64 are far beyond any batch worth
// verifying).
inline constexpr int kDefaultTMax = 32;
inline constexpr int kMaxTMax = 64;

struct Ranked {
    Chain chain;
    Prediction prediction;
};

// Exact optimum of the Truncate variant. Shortest path over nodes (candidate, threshold
// 1..t_max) in increasing candidate order; the label of a node is the least E[cost of one call]
// of a chain ending there. Every edge maps the label x to R * (x + c) with R >= 1, an
// increasing affine map, so the least label is all a node needs (principle of optimality).
// The sink divides by the target's expected output; the empty chain (plain target) competes
// and wins ties. O(D^2 t_max^3) for D candidates: ~0.2 ms for 6 x 32.
Chain optimize_shortest_path(const Problem& problem, int t_max);

// For the CLI: the best chains by the exact Overshoot evaluator, sorted by predicted tokens/s
// (at most `top`, no duplicates). Pool: no speculation; each single drafter with its best
// threshold; the DP optimum re-scored; and every chain met by hill climbs on the Overshoot
// objective starting from the DP optimum, from the DP's best chain under each top drafter and
// from the best single drafter. Moves: one threshold +-1, drop a level, swap a level for an
// unused candidate (same threshold, order kept), add an unused candidate with any threshold.
// A heuristic for the Overshoot optimum (the DP is exact only for Truncate).
std::vector<Ranked> rank_plans(const Problem& problem, int t_max, size_t top);

}  // namespace hsd::planner
