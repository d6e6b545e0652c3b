#include "planner/auto_plan.h"

#include "common/timer.h"
#include "model/model.h"
#include "planner/optimizer.h"
#include "planner/plan_file.h"
#include "planner/profile.h"
#include "speculative/hierarchy_syntax.h"

namespace hsd::planner {

AutoPlan plan_for_prompt(const Model& target, ModelCache& models, ThreadPool& pool,
                         const std::vector<std::string>& drafts, const std::string& prompt,
                         const SamplingParams& sampling) {
    const double t0 = now_seconds();
    ProfileOptions po;
    po.drafts = drafts;
    po.exits = target.config().exit_layers;
    po.ngram = 3;
    po.prompts = {Prompt{"prompt", prompt}};
    po.prompts_name = "(the prompt)";
    // Short: the profile must cost little next to the generation it plans.
    po.n_tokens = 24;
    po.n_max = 12;
    po.reps = 3;
    po.sampling = sampling;
    const Profile prof = run_profile(target, models, pool, po);
    size_t n_best = 0;
    const std::vector<Ranked> table = plan_table(make_problem(prof), kDefaultTMax, 1, &n_best);
    const Plan plan = make_plan(prof, table.front());
    AutoPlan a;
    if (!plan.hierarchy.empty()) {
        a.levels = parse_level_list(plan.hierarchy, "--hierarchy auto");
        resolve_models(a.levels, models);
    }
    a.short_text = plan.short_text;
    a.tokens_per_second = plan.tokens_per_second;
    a.speedup = plan.speedup;
    a.profile_seconds = now_seconds() - t0;
    return a;
}

}  // namespace hsd::planner
