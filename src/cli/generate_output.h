#pragma once
// What `hsd generate` prints besides the streamed text: the --json object, the timing report
// on stderr, the --verbose plan events of --hierarchy auto, and the auto plan's summary line.
#include <nlohmann/json.hpp>

#include <string>

#include "engine/engine.h"

namespace hsd::cli {

// The --json object: tokens, text, sampling, timings, per-level counters, the plan, and the
// autoregressive comparison when `ar` is given (--compare-ar).
nlohmann::json generate_json(const std::string& model_path, const Session& s, const SessionResult& r,
                             const GenerationResult* ar);
// Prompt and generation speed, per-level counters, and the comparison with `ar` if given.
void print_text_report(const Session& s, const SessionResult& r, const GenerationResult* ar);
// One --verbose line per plan put in force (the events of --json's plan.history).
void print_plan_event(const nlohmann::json& event);
// After an auto run: the plan at the end, its switches, where the costs came from.
void print_auto_plan_summary(const PlanSummary& p);

}  // namespace hsd::cli
