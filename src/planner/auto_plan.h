#pragma once
// `--hierarchy auto`: profile briefly on the prompt itself (costs of every candidate, and
// acceptance along short trajectories from it), then plan. The candidates are the given draft
// models, the target's early exits and the n-gram drafter (docs/PLANNER.md).
#include <string>
#include <vector>

#include "sampling/sampler.h"
#include "speculative/level.h"

namespace hsd {
class Model;
class ModelCache;
class ThreadPool;
}  // namespace hsd

namespace hsd::planner {

struct AutoPlan {
    std::vector<LevelSpec> levels;  // smallest first, models resolved; empty: nothing beats the target alone
    std::string short_text;         // e.g. "ngram3:3,hsd-m1:5"
    double tokens_per_second = 0, speedup = 0;  // predicted
    double profile_seconds = 0;     // profiling and planning
};

// Draft models are loaded through `models` (the same cache the hierarchy is then built from,
// so each file is loaded once per process).
AutoPlan plan_for_prompt(const Model& target, ModelCache& models, ThreadPool& pool,
                         const std::vector<std::string>& drafts, const std::string& prompt,
                         const SamplingParams& sampling);

}  // namespace hsd::planner
