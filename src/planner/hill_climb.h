#pragma once
// The local search both planners refine chains with: steepest descent on a chain's latency over
// small edits of it. hsd plan (rank_plans) tries every move; the online planner, which re-plans
// every few target steps, only the cheap ones (thresholds and drops).
#include <functional>
#include <vector>

#include "planner/latency_model.h"

namespace hsd::planner {

struct ClimbOptions {
    int t_max = 1;              // thresholds stay in 1..t_max
    bool swap_and_add = false;  // also swap a level for an unused candidate, add one with any threshold
    double min_gain = 0;        // a move is taken only if it cuts the latency by more than this fraction
};

// Seconds per committed token of a chain (the caller's evaluator, memoized or not).
using ChainLatency = std::function<double(const Chain&)>;

// Drafter d alone at its best threshold in 1..t_max (ties: the smallest threshold).
Chain best_single(int drafter, int t_max, const ChainLatency& seconds);

// Climbs from each start in turn: each round takes the best move (ties: the first tried) until
// none improves. Moves, in this order: per level, its threshold -1 and +1, drop it, and with
// swap_and_add swap it for an unused candidate between its neighbours (same threshold); then
// add each unused candidate at each threshold. A climb that reaches a chain an earlier one
// stood on stops there (it would retrace it). Returns the best chain a climb ended on (ties: the
// earliest); `scored`, if set, sees every move scored (hsd plan lists them).
Chain hill_climb(const std::vector<Chain>& starts, int n_drafters, const ClimbOptions& o,
                 const ChainLatency& seconds, const std::function<void(const Chain&)>& scored = {});

}  // namespace hsd::planner
