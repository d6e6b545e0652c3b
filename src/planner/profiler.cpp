// `hsd profile`: measures forward costs and pairwise acceptance on this machine. The phases
// live in profile_inputs.cpp, profile_costs.cpp and profile_acceptance.cpp (profiler_internal.h).
#include <fmt/format.h>

#include <filesystem>

#include "common/error.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "planner/profile.h"
#include "planner/profiler_internal.h"

namespace hsd::planner {

Profile run_profile(const Model& target, ModelCache& models, ThreadPool& pool, const ProfileOptions& o) {
    using namespace detail;
    const ModelConfig& tc = target.config();
    if (o.prompts.empty()) fail("profile: no prompts to measure acceptance on");
    if (o.n_tokens < 2) fail(fmt::format("profile: --tokens must be >= 2, got {}", o.n_tokens));
    if (o.n_max < 1 || o.n_max > 64) fail(fmt::format("profile: --n-max must be in 1..64, got {}", o.n_max));
    o.sampling.validate();

    Profile p;
    p.target_path = target.path();
    p.target_name = std::filesystem::path(target.path()).stem().string();
    p.target_layers = tc.n_layer;
    p.sampling = o.sampling;
    p.threads = pool.size();
    p.n_max = o.n_max;
    p.prompts = o.prompts_name;
    p.n_tokens = o.n_tokens;

    // (a) prompts and context, (b) candidates.
    const ProfileSetup s{target, models, pool, o, tokenize_prompts(target, o), distinct_exits(o.exits)};
    p.n_prompts = (int)s.prompts.size();
    p.context = choose_context(s.prompts, target, o);
    p.candidates = collect_candidates(target, models, o, s.exits);

    // (c) costs, then (d) the order the planner chains candidates in, which the acceptance
    // matrices are indexed by.
    size_t n_verifiers = 1;  // the target
    for (const ProfileCandidate& c : p.candidates) n_verifiers += !c.level.is_ngram();
    Progress progress(o, 1.0 + (double)(n_verifiers * s.prompts.size()));
    progress.report("forward costs");
    measure_costs(p, s);
    order_candidates(p.candidates);
    progress.advance();

    // (e) acceptance along each verifier's own trajectories.
    measure_acceptance(p, s, progress);
    progress.finish();
    return p;
}

}  // namespace hsd::planner
