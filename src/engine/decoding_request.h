#pragma once
// How a user asks for decoding: the CLI's flags (--draft, --hierarchy, --hispec, ...) and
// later a server's request fields map onto one DecodingRequest, and one function turns it into
// the levels of a hierarchy, so every front end offers the same modes with the same checks.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampling/sampler.h"
#include "speculative/hispec.h"
#include "speculative/level.h"

namespace hsd {

class Model;
class ModelCache;
class ThreadPool;

struct DecodingRequest {
    // At most one of the five modes (none: autoregressive, unless draft_ngram alone).
    std::string draft;                     // --draft: one draft model, drafting draft_max tokens
    std::string hierarchy;                 // --hierarchy: levels text (hierarchy_syntax.h), or "auto"
    bool hispec = false;                   // --hispec: two early exits of the target
    bool self_spec = false;                // --self-spec: one early exit of the target
    std::string plan;                      // --plan: a plan file written by hsd plan -o
    int draft_max = 5;                     // --draft-max: tokens per step of --draft and --draft-ngram
    int draft_ngram = 0;                   // --draft-ngram N: n-gram bottom level (0 = off)
    std::vector<std::string> auto_drafts;  // --drafts: candidates for --hierarchy auto
    bool reprofile = false;                // --reprofile: measure auto's costs again, refresh the cache
    int replan_every = 4;                  // --replan-every: auto re-plans every N target steps (0 = never)
    HiSpecOptions hs;                      // --exit-draft, --exit-verify, --draft-n, --window

    bool is_auto() const { return hierarchy == "auto"; }
    bool speculative() const;
    // Throws hsd::Error naming the flag for contradictory or out-of-range choices.
    void validate() const;
};

// Where a hierarchy came from when a planner chose it.
struct PlanSummary {
    std::string file;  // the --plan file; empty for --hierarchy auto
    std::string hierarchy;  // short form, e.g. "hsd-m0:3,hsd-m1:6"
    double tokens_per_second = 0, speedup = 0;  // predicted (speedup: auto only)
    double profile_seconds = 0;                 // auto only: cost lookup (and measuring) before generating
    std::string cost_cache;                     // auto only: "hit", "measured" or "partial"
    nlohmann::json history;                     // auto only: the plans in force over the generation
    nlohmann::json to_json() const;
};

struct DecodingSetup {
    std::vector<LevelSpec> levels;  // smallest first, models resolved; empty: autoregressive
    std::optional<PlanSummary> plan;
};

// The levels a request asks for on `target`: model files loaded through `models`; --plan
// checked against the target. Not for --hierarchy auto, which a Session plans while it
// generates (planner/auto_decoder.h). Throws hsd::Error naming the flag, file or level at fault.
DecodingSetup resolve_decoding(const Model& target, const DecodingRequest& request, ModelCache& models);

}  // namespace hsd
