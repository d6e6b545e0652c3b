#pragma once
// `--hierarchy auto` as one object: the candidates' costs from the planner cache (measured
// once per machine), a Hierarchy over the pool of every candidate, the OnlinePlanner and the
// AdaptiveDecoder that connects them. A Session builds one at its first start() and steps
// decoder(); finish() writes what a generation learned about acceptance back to the cache.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decoding/decoder.h"
#include "sampling/sampler.h"
#include "speculative/level.h"

namespace hsd {
class Hierarchy;
class ModelCache;
class ThreadPool;
}  // namespace hsd

namespace hsd::planner {

class AdaptiveDecoder;
class CacheStore;
class OnlinePlanner;

struct AutoRequest {
    std::vector<std::string> drafts;  // candidate draft model files (the target's early exits and
                                      // the n-gram drafter are candidates too)
    SamplingParams sampling;          // greedy or not decides which costs apply
    int64_t n_ctx = 0;                // positions in use: every draft must support them
    bool reprofile = false;           // measure the costs again, thoroughly, and refresh the cache
    int replan_every = 4;             // target steps between re-plans (0: never)
    // Called with every plan put in force (the first one, then each switch), as PlanEvent JSON.
    std::function<void(const nlohmann::json&)> on_plan_event;
};

// The plan in force and how it came about.
struct AutoPlanReport {
    std::string hierarchy;              // short names of the chain in force
    double tokens_per_second = 0, speedup = 0;  // predicted for it
    double cost_seconds = 0;            // looking up (and measuring) the costs before generating
    std::string cost_cache;             // "hit", "measured" or "partial"
    nlohmann::json history;             // every plan put in force so far
};

class AutoDecoder {
public:
    // Checks every draft against the target (vocabulary, context) from its metadata (a
    // candidate's weights load when the planner first puts it in the chain), then looks up
    // or measures the costs (the n-gram lookup is timed on `prompt`). Throws hsd::Error naming
    // the file at fault.
    AutoDecoder(const Model& target, ModelCache& models, ThreadPool& pool, const AutoRequest& request,
                const std::vector<TokenId>& prompt);
    ~AutoDecoder();
    AutoDecoder(const AutoDecoder&) = delete;
    AutoDecoder& operator=(const AutoDecoder&) = delete;

    Decoder& decoder();
    // A generation ended: adds what it taught about acceptance to the cache, for later runs.
    void finish() const;
    // The chain in force, as levels.
    std::vector<LevelSpec> levels() const;
    AutoPlanReport report() const;

private:
    std::unique_ptr<CacheStore> store_;
    std::unique_ptr<OnlinePlanner> planner_;
    std::unique_ptr<Hierarchy> hierarchy_;
    std::unique_ptr<AdaptiveDecoder> decoder_;  // (declared last: it observes hierarchy_)
    std::vector<std::string> names_;            // candidates' short names, for the plan events
    std::string cost_cache_;
    double cost_seconds_ = 0;
};

}  // namespace hsd::planner
