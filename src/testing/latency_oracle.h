#pragma once
// Oracles the planner's tests check the production planner against (test and benchmark code:
// library hsd_testing, never linked into hsd or the hsd program): a Monte-Carlo of the
// executor's recursion for the evaluator (planner/latency_model.h) and exhaustive search for the
// shortest-path optimizer (planner/optimizer.h).
#include <cstdint>

#include "planner/latency_model.h"

namespace hsd::planner {

// Monte-Carlo of the same recursion as evaluate() (Bernoulli acceptance, same cost accounting)
// over `steps` top-level calls; ratio-of-sums estimates, so it converges to evaluate() (i.i.d.).
// With accept_passed every token carries its origin and is accepted with its own rate.
Prediction simulate(const Problem& problem, const Chain& chain, Variant variant, int64_t steps, uint64_t seed);

// Every increasing subset of candidates x every threshold vector in 1..t_max, scored by
// evaluate(). (1 + t_max)^D chains, refused above kMaxExhaustiveChains.
inline constexpr double kMaxExhaustiveChains = 2e6;
Chain optimize_exhaustive(const Problem& problem, int t_max, Variant variant);

}  // namespace hsd::planner
