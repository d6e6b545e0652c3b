#pragma once
// Forward costs of the planner's candidates, measured once per machine and cached: a cost is
// a property of the model file, the CPU, the thread count, the build and whether the pass
// computes distributions (sampling) or only argmaxes (greedy), not of the prompt. One cache
// entry per model file (the target's entry also holds its early-exit pairs); `--reprofile`
// measures again. A cold cache is filled by one short round-robin measurement of what is
// missing (docs/PLANNER.md: "Costs, cached").
#include <string>
#include <vector>

#include "planner/cache_store.h"
#include "planner/profile.h"

namespace hsd::planner {

struct CostRequest {
    std::vector<std::string> drafts;  // candidate draft model files
    std::vector<int> exits;           // early exits of the target to consider
    int ngram = 0;                    // n-gram drafter with suffixes up to N (0 = none)
    SamplingParams sampling;          // greedy or not decides what a pass computes
    bool reprofile = false;           // measure even what is cached, and rewrite it
    // How much to measure what is missing: timed batch sizes (n_max = the last; others are
    // interpolated) and rounds. The defaults are the quick cold-cache measurement; --reprofile
    // asks for more (engine.cpp).
    int reps = 1;
    std::vector<int> rows = {1, 4, 16};
    bool all_exits = false;  // time every exit (else one, mid-depth, and fit the others)
};

struct CachedCosts {
    // Candidates (costs filled, cheapest first as chains run), the target's costs and exit
    // pairs; no acceptance (accept is empty).
    Profile profile;
    int hits = 0, measured = 0;  // model files found in the cache / measured now
    double seconds = 0;          // spent looking up and measuring
    std::string status() const { return measured == 0 ? "hit" : hits == 0 ? "measured" : "partial"; }
};

// Context (tokens in the KV cache) the costs are measured at: attention grows with it, but
// far less than the weights cost at the sizes the planner plans for.
inline constexpr int kCostContext = 128;

// Costs of the target and every candidate: from `store` when cached under the current key,
// else measured (all missing models in one round-robin run, loading them through `models`)
// and stored. Draft vocabularies are the caller's to check. `prompt` (tokens)
// times the n-gram lookup, which is not cached (microseconds).
CachedCosts cached_costs(const Model& target, ModelCache& models, ThreadPool& pool, const CostRequest& request,
                         const std::vector<TokenId>& prompt, const CacheStore& store);

// The key of a model file's cost entry (for tests and `hsd profile`).
nlohmann::json cost_key(const std::string& model_path, bool target, const std::vector<int>& exits,
                        const SamplingParams& sampling, int threads, int n_max);

// Stores the costs of a measured profile (hsd profile) in the cache: the target's row and
// exit pairs and every model candidate's, so later auto runs reuse them.
void store_profile_costs(const Profile& p, const std::vector<int>& exits, const CacheStore& store);

}  // namespace hsd::planner
