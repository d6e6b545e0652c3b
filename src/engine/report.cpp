#include "engine/report.h"

#include <fmt/format.h>

namespace hsd {

double json_float(float f) { return std::stod(fmt::format("{}", f)); }

nlohmann::json level_json(const LevelStats& s, bool is_target) {
    nlohmann::json j = {{"name", s.name}, {"n_forward", s.n_forward}, {"seconds", s.seconds}};
    if (!is_target) {
        j["threshold"] = s.threshold;
        j["draft_n"] = s.draft_n;
        j["draft_n_accepted"] = s.draft_n_accepted;
        j["n_drafts"] = s.n_drafts;
        j["n_empty"] = s.n_empty;
        j["acceptance_rate"] = s.acceptance_rate();
        j["mean_accepted_length"] = s.mean_accepted_length();
    }
    if (is_target || s.depth > 0) {  // model levels (the n-gram drafter has no layers)
        j["depth"] = s.depth;
        j["layer_evals"] = s.layer_evals;
    }
    return j;
}

nlohmann::json levels_json(const std::vector<LevelStats>& levels) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < levels.size(); ++i) out.push_back(level_json(levels[i], i + 1 == levels.size()));
    return out;
}

int64_t total_layer_evals(const std::vector<LevelStats>& levels) {
    int64_t n = 0;
    for (const LevelStats& s : levels) n += s.layer_evals;
    return n;
}

nlohmann::json timings_json(const GenerationResult& r) {
    return {{"prompt_n", r.prompt_tokens.size()},
            {"prompt_ms", r.prompt_seconds * 1e3},
            {"prompt_per_second", r.prompt_tokens_per_second()},
            {"predicted_n", r.tokens.size()},
            {"predicted_ms", r.generation_seconds * 1e3},
            {"predicted_per_second", r.generation_tokens_per_second()}};
}

std::string levels_text(const std::vector<LevelStats>& levels, size_t n_tokens, int target_layers) {
    std::string out;
    const int64_t layer_evals = total_layer_evals(levels);
    for (size_t i = 0; i < levels.size(); ++i) {
        const LevelStats& s = levels[i];
        if (i + 1 == levels.size()) {
            out += fmt::format("target  {:<36} {:>57} n_forward {:5}  seconds {:7.3f}\n", s.name, "", s.n_forward,
                               s.seconds);
            if (layer_evals > 0 && n_tokens > 0)
                out += fmt::format("layer evaluations: {} ({:.2f} per generated token; the target alone needs {})\n",
                                   layer_evals, (double)layer_evals / (double)n_tokens, target_layers);
            break;
        }
        out += fmt::format(
            "level {} {:<36} T={:<3} draft_n {:5}  accepted {:5} ({:5.1f}%)  mean_accepted_length {:5.2f}  "
            "n_forward {:5}  seconds {:7.3f}\n",
            i, s.name, s.threshold, s.draft_n, s.draft_n_accepted, 100.0 * s.acceptance_rate(), s.mean_accepted_length(),
            s.n_forward, s.seconds);
    }
    return out;
}

}  // namespace hsd
