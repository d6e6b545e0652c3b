#pragma once
// A saved plan (`hsd plan ... -o plan.json`, read by `hsd generate --plan plan.json`): the
// chosen hierarchy in --hierarchy syntax, the target it was planned for and the prediction.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "planner/optimizer.h"
#include "planner/profile.h"

namespace hsd::planner {

struct Plan {
    std::string target;       // target model path
    std::string hierarchy;    // --hierarchy text with model paths ("" = no speculation)
    std::string short_text;   // e.g. "hsd-m0:3,hsd-m1:6"
    double tokens_per_second = 0, speedup = 0;
};

Plan make_plan(const Profile& profile, const Ranked& r);
nlohmann::json plan_json(const Plan& plan, const Profile& profile, const std::vector<Ranked>& alternatives);
// Throws hsd::Error naming the file for unreadable or malformed plans.
Plan load_plan(const std::string& path);

// The ranking `hsd plan` prints: the best `top` plans, then every single drafter's best plan
// and "no speculation" if they are not among them.
std::vector<Ranked> plan_table(const Problem& problem, int t_max, size_t top, size_t* n_best);

}  // namespace hsd::planner
