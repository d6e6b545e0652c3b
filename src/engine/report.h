#pragma once
// What a generation reports, formatted once for every front end: `hsd generate` (text and
// --json), the benchmarks and the server. Field names follow llama.cpp's server ("timings":
// prompt_n, predicted_per_second, ...) and vLLM's speculative metrics (acceptance rate, mean
// acceptance length).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decoding/generate.h"

namespace hsd {

// A float as the double of its shortest decimal form (0.05f -> 0.05, not 0.0500000007), for JSON.
double json_float(float f);

// One level's counters. The target (last level) proposes nothing, so it gets no draft fields.
nlohmann::json level_json(const LevelStats& s, bool is_target);
// Every level, bottom first, the target last.
nlohmann::json levels_json(const std::vector<LevelStats>& levels);
// Token x layer evaluations of all levels.
int64_t total_layer_evals(const std::vector<LevelStats>& levels);
// {"prompt_n", "prompt_ms", "prompt_per_second", "predicted_n", "predicted_ms", "predicted_per_second"}.
nlohmann::json timings_json(const GenerationResult& r);
// Human-readable lines, one per level, then the layer evaluations per generated token (the
// target alone needs target_layers), as `hsd generate` prints them to stderr.
std::string levels_text(const std::vector<LevelStats>& levels, size_t n_tokens, int target_layers);

}  // namespace hsd
