// `hsd plan profile.json [--t-max 32] [--top 8] [--json] [-o plan.json]`: the latency-optimal
// hierarchy for a profile, its predicted tokens/s and speedup, and the alternatives.
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "planner/optimizer.h"
#include "planner/plan_file.h"
#include "planner/profile.h"

namespace hsd::cli {

namespace {

struct PlanCliOptions {
    std::string profile, out;
    int t_max = planner::kDefaultTMax;
    size_t top = 8;
    bool json = false, conditional = false;
};

void run_plan(const PlanCliOptions& o) {
    const planner::Profile p = planner::load_profile(o.profile);
    const planner::Problem problem = planner::make_problem(p, o.conditional);
    if (o.t_max < 1 || o.t_max > planner::kMaxTMax)
        fail(fmt::format("--t-max must be in 1..{}, got {}", planner::kMaxTMax, o.t_max));
    size_t n_best = 0;
    const std::vector<planner::Ranked> table = planner::plan_table(problem, o.t_max, o.top, &n_best);
    const planner::Plan best = planner::make_plan(p, table.front());
    const nlohmann::json pj = planner::plan_json(best, p, table);
    if (!o.out.empty()) {
        std::ofstream out(o.out);
        out << pj.dump(1) << "\n";
        if (!out) fail(fmt::format("cannot write '{}'", o.out));
    }
    if (o.json) {
        fmt::print("{}\n", pj.dump(1));
        return;
    }
    const double ar_ms = p.target_draft_ms;
    fmt::print("target {}: {:.2f} ms per token alone ({:.0f} tokens/s); profile: {} prompts of {}, temperature {}, "
               "{} threads\n\n",
               p.target_name, ar_ms, 1e3 / ar_ms, p.n_prompts, p.prompts, p.sampling.temperature, p.threads);
    fmt::print("{:>4}  {:<44} {:>16} {:>8}\n", "rank", "hierarchy (level:T_i, smallest first)", "predicted tok/s",
               "speedup");
    for (size_t i = 0; i < table.size(); ++i) {
        if (i == n_best) fmt::print("      -- baselines: no speculation and each drafter alone --\n");
        const planner::Ranked& r = table[i];
        fmt::print("{:>4}  {:<44} {:>16.1f} {:>7.2f}x\n", i < n_best ? fmt::format("{}", i + 1) : "",
                   planner::chain_text(p, r.chain), r.prediction.tokens_per_second, r.prediction.speedup);
    }
    fmt::print("\nbest: {}\n", best.hierarchy.empty() ? "no speculation" : "--hierarchy " + best.hierarchy);
    if (!o.out.empty()) fmt::print("wrote {} (use: hsd generate -m {} --plan {})\n", o.out, p.target_path, o.out);
}

}  // namespace

void register_plan(CLI::App& app) {
    static PlanCliOptions o;
    auto* cmd = app.add_subcommand("plan", "Choose the latency-optimal hierarchy from a profile");
    cmd->add_option("profile", o.profile, "Profile JSON written by hsd profile")->required();
    cmd->add_option("--t-max", o.t_max, "Largest threshold T_i considered")->capture_default_str();
    cmd->add_option("--top", o.top, "Plans listed before the baselines")->capture_default_str();
    cmd->add_flag("--json", o.json, "Print the plan and alternatives as JSON");
    cmd->add_flag("--conditional", o.conditional,
                  "Use the two-type acceptance model (tokens passed on through a level accepted at their own, "
                  "higher rate) instead of the i.i.d. one");
    cmd->add_option("-o,--output", o.out, "Write the best plan to this file (for hsd generate --plan)");
    cmd->callback([] { run_plan(o); });
}

}  // namespace hsd::cli
