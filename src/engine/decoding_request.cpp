#include "engine/decoding_request.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/paths.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "planner/plan_file.h"
#include "speculative/hierarchy_syntax.h"

namespace hsd {

bool DecodingRequest::speculative() const {
    return !draft.empty() || !hierarchy.empty() || draft_ngram > 0 || hispec || self_spec || !plan.empty();
}

void DecodingRequest::validate() const {
    const int modes = !draft.empty() + !hierarchy.empty() + hispec + self_spec + !plan.empty();
    if (modes > 1) fail("give only one of --draft, --hierarchy, --hispec, --self-spec and --plan");
    if (!auto_drafts.empty() && !is_auto()) fail("--drafts lists candidates for --hierarchy auto");
    if (reprofile && !is_auto()) fail("--reprofile re-measures the costs of --hierarchy auto; it needs --hierarchy auto");
    if (replan_every < 0) fail(fmt::format("--replan-every must be >= 0 (0 = plan once), got {}", replan_every));
    if (is_auto() && draft_ngram > 0)
        fail("--hierarchy auto already considers the n-gram drafter; drop --draft-ngram");
    if (draft_max < 1) fail(fmt::format("--draft-max must be >= 1, got {}", draft_max));
    if (draft_ngram < 0) fail(fmt::format("--draft-ngram must be >= 0 (0 = off), got {}", draft_ngram));
    if (hs.draft_n < 0)
        fail(fmt::format("--draft-n must be >= 0 (0 = 2 for --hispec, 4 for --self-spec), got {}", hs.draft_n));
    if (hs.exit_draft < 0 || hs.exit_verify < 0)
        fail(fmt::format("--exit-draft and --exit-verify must be >= 0 (0 = chosen from the model), got {} and {}",
                         hs.exit_draft, hs.exit_verify));
}

nlohmann::json PlanSummary::to_json() const {
    if (!file.empty())
        return {{"file", file}, {"hierarchy", hierarchy}, {"predicted_tokens_per_second", tokens_per_second}};
    nlohmann::json j = {{"hierarchy", hierarchy},
                        {"predicted_tokens_per_second", tokens_per_second},
                        {"predicted_speedup", speedup},
                        {"profile_seconds", profile_seconds}};
    if (!cost_cache.empty()) j["cost_cache"] = cost_cache;
    if (!history.is_null()) j["history"] = history;
    return j;
}

DecodingSetup resolve_decoding(const Model& target, const DecodingRequest& r, ModelCache& models) {
    r.validate();
    DecodingSetup out;
    // Smallest first: the optional n-gram bottom level, then the mode's levels.
    if (r.draft_ngram > 0) out.levels.push_back(LevelSpec::ngram(r.draft_ngram, r.draft_max));
    std::vector<LevelSpec> more;
    if (!r.draft.empty()) more.push_back(LevelSpec::draft_file(r.draft, r.draft_max));
    HSD_ASSERT(!r.is_auto(), "--hierarchy auto is planned by the session (engine.cpp), not resolved here");
    if (!r.hierarchy.empty()) {
        more = parse_level_list(r.hierarchy);
    }
    if (r.hispec) more = hispec_levels(target, r.hs);
    if (r.self_spec) more = self_spec_levels(target, r.hs);
    if (!r.plan.empty()) {
        const planner::Plan plan = planner::load_plan(r.plan);
        if (canonical_path(plan.target) != canonical_path(target.path()))
            fail(fmt::format("{} was planned for target '{}', not '{}'", r.plan, plan.target, target.path()));
        if (!plan.hierarchy.empty()) more = parse_level_list(plan.hierarchy, "--plan");
        PlanSummary s;
        s.file = r.plan;
        s.hierarchy = plan.short_text;
        s.tokens_per_second = plan.tokens_per_second;
        out.plan = s;
    }
    out.levels.insert(out.levels.end(), more.begin(), more.end());
    resolve_models(out.levels, models);
    return out;
}

}  // namespace hsd
