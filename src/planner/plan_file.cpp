#include "planner/plan_file.h"

#include <fmt/format.h>

#include <fstream>

#include "common/error.h"
#include "speculative/hierarchy_syntax.h"

namespace hsd::planner {

Plan make_plan(const Profile& profile, const Ranked& r) {
    Plan p;
    p.target = profile.target_path;
    p.hierarchy = r.chain.levels.empty() ? "" : format_level_list(chain_levels(profile, r.chain));
    p.short_text = chain_text(profile, r.chain);
    p.tokens_per_second = r.prediction.tokens_per_second;
    p.speedup = r.prediction.speedup;
    return p;
}

nlohmann::json plan_json(const Plan& plan, const Profile& profile, const std::vector<Ranked>& alternatives) {
    nlohmann::json alt = nlohmann::json::array();
    for (const Ranked& r : alternatives)
        alt.push_back({{"hierarchy", chain_text(profile, r.chain)},
                       {"predicted_tokens_per_second", r.prediction.tokens_per_second},
                       {"predicted_speedup", r.prediction.speedup}});
    return {{"target", plan.target},
            {"hierarchy", plan.hierarchy},
            {"short", plan.short_text},
            {"predicted_tokens_per_second", plan.tokens_per_second},
            {"predicted_speedup", plan.speedup},
            {"temperature", profile.sampling.temperature},
            {"threads", profile.threads},
            {"alternatives", alt}};
}

Plan load_plan(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(fmt::format("cannot read plan file '{}'", path));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(fmt::format("{}: not a JSON plan ({})", path, e.what()));
    }
    Plan p;
    try {
        p.target = j.at("target").get<std::string>();
        p.hierarchy = j.at("hierarchy").get<std::string>();
        p.short_text = j.value("short", p.hierarchy);
        p.tokens_per_second = j.value("predicted_tokens_per_second", 0.0);
        p.speedup = j.value("predicted_speedup", 0.0);
    } catch (const nlohmann::json::exception& e) {
        fail(fmt::format("{}: a plan needs string fields \"target\" and \"hierarchy\" ({})", path, e.what()));
    }
    return p;
}

std::vector<Ranked> plan_table(const Problem& problem, int t_max, size_t top, size_t* n_best) {
    const std::vector<Ranked> all = rank_plans(problem, t_max, SIZE_MAX);
    std::vector<Ranked> out(all.begin(), all.begin() + (std::ptrdiff_t)std::min(top, all.size()));
    *n_best = out.size();
    // Baselines: no speculation and each drafter alone at its best threshold (the first of
    // its chains in rank order), unless already listed.
    auto listed = [&](const Chain& c) {
        for (const Ranked& r : out)
            if (r.chain.levels == c.levels) return true;
        return false;
    };
    for (const Ranked& r : all)
        if (r.chain.levels.size() <= 1 && !listed(r.chain)) out.push_back(r);
    return out;
}

}  // namespace hsd::planner
