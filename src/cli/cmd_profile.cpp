// `hsd profile -m TARGET --drafts a.gguf,b.gguf [--draft-ngram[=N]] [--exits all|none|2,4]
//  --prompts FILE.jsonl [--temp T] -o profile.json`: measures, on this machine, the cost of a
// forward pass of every candidate for 1..16 new tokens and the acceptance rate of every
// ordered pair along the verifier's trajectories (docs/PLANNER.md).
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "planner/cache_store.h"
#include "planner/cost_cache.h"
#include "planner/profile.h"

namespace hsd::cli {

namespace {

struct ProfileCliOptions {
    std::string model, drafts, exits = "all", prompts, out;
    int ngram = 0, n_prompts = 8, tokens = 128, n_max = 16, reps = 5, threads = 0;
    SamplingParams sampling;
    int64_t seed = 1;
};

void draw_progress(double done, const std::string& what) {
    const int width = 30, filled = (int)(done * width + 0.5);
    std::fprintf(stderr, "\r[%s%s] %3d%%  %-48.48s", std::string((size_t)filled, '#').c_str(),
                 std::string((size_t)(width - filled), ' ').c_str(), (int)(done * 100 + 0.5), what.c_str());
    if (done >= 1.0) std::fputc('\n', stderr);
    std::fflush(stderr);
}

void run_profile_cmd(ProfileCliOptions o) {
    if (o.prompts.empty()) fail("profile: give the calibration prompts with --prompts FILE.jsonl");
    if (o.out.empty()) fail("profile: give the output file with -o profile.json");
    if (o.n_prompts < 1) fail(fmt::format("--n-prompts must be >= 1, got {}", o.n_prompts));
    if (o.reps < 1) fail(fmt::format("--reps must be >= 1, got {}", o.reps));
    if (o.ngram < 0) fail(fmt::format("--draft-ngram must be >= 0, got {}", o.ngram));
    o.sampling.seed = (uint64_t)o.seed;
    o.sampling.validate();
    Engine engine({.threads = o.threads});  // the target and the drafts, each loaded once
    const Model& target = engine.model(o.model);

    planner::ProfileOptions po;
    po.drafts = split_list(o.drafts);
    po.ngram = o.ngram;
    if (o.exits == "all") {
        po.exits = target.config().exit_layers;
    } else if (o.exits != "none") {
        for (const std::string& e : split_list(o.exits)) {
            int v = 0;
            if (!parse_int(e, &v)) fail(fmt::format("--exits: '{}' is not a layer number (use all, none or 2,4,8)", e));
            po.exits.push_back(v);
        }
    }
    if (po.drafts.empty() && po.exits.empty() && po.ngram == 0)
        fail("profile: no candidate drafters (give --drafts, --exits or --draft-ngram)");
    po.prompts = load_prompts(o.prompts, (size_t)o.n_prompts);
    po.prompts_name = o.prompts;
    po.n_tokens = o.tokens;
    po.n_max = o.n_max;
    po.reps = o.reps;
    po.sampling = o.sampling;
    po.progress = draw_progress;
    const planner::Profile p = planner::run_profile(target, engine.models(), engine.pool(), po);

    std::ofstream out(o.out);
    if (!out) fail(fmt::format("cannot write '{}'", o.out));
    out << planner::to_json(p).dump(1) << "\n";
    if (!out) fail(fmt::format("cannot write '{}'", o.out));
    // The measured costs also feed --hierarchy auto's cache (its runs then need no measuring).
    planner::store_profile_costs(p, po.exits, planner::CacheStore(planner::cache_directory()));

    fmt::print("profile of {} on {} prompts of {} ({} tokens each, temperature {}), context {}, {} threads\n",
               p.target_name, p.n_prompts, p.prompts, p.n_tokens, p.sampling.temperature, p.context, p.threads);
    fmt::print("{:<16} {:>9} {:>10} {:>10} {:>10}   acceptance by each verifier above\n", "candidate", "draft ms",
               "1 tok ms", "4 tok ms", "8 tok ms");
    const size_t C = p.candidates.size();
    auto row = [&](const std::string& name, double draft, const std::vector<double>& ms, size_t i) {
        std::string acc;
        for (size_t j = i + 1; j <= C; ++j)
            acc += fmt::format("  {}:{:.2f}", j == C ? p.target_name : p.candidates[j].name, p.accept[i][j]);
        auto at = [&](int n) { return ms[(size_t)std::min<int>(n, (int)ms.size()) - 1]; };
        fmt::print("{:<16} {:>9.3f} {:>10.3f} {:>10.3f} {:>10.3f} {}\n", name, draft, at(1), at(4), at(8), acc);
    };
    for (size_t i = 0; i < C; ++i) row(p.candidates[i].name, p.candidates[i].draft_ms, p.candidates[i].cost_ms, i);
    row(p.target_name, p.target_draft_ms, p.target_cost_ms, C);
    fmt::print("(draft ms: one token back to back, as a drafter or autoregressive decoding runs; n tok ms: one "
               "verification pass over n tokens after other models ran)\n");
    fmt::print("wrote {}\n", o.out);
}

}  // namespace

void register_profile(CLI::App& app) {
    static ProfileCliOptions o;
    auto* cmd = app.add_subcommand("profile", "Measure drafter costs and pairwise acceptance for the planner");
    cmd->add_option("-m,--model", o.model, "Target GGUF model")->required();
    cmd->add_option("--drafts", o.drafts, "Candidate draft models, comma-separated (same vocabulary as the target)");
    cmd->add_flag("--draft-ngram{3}", o.ngram, "Also consider the n-gram drafter (suffixes up to N tokens, default 3)");
    cmd->add_option("--exits", o.exits, "Early exits of the target to consider: all, none, or e.g. 2,4,8")
        ->capture_default_str();
    cmd->add_option("--prompts", o.prompts, "Calibration prompts (JSON Lines, optionally .gz: HumanEval, Spec-Bench...)")
        ->required();
    cmd->add_option("--n-prompts", o.n_prompts, "Prompts used from the file")->capture_default_str();
    cmd->add_option("--tokens", o.tokens, "Tokens generated per prompt and verifier for acceptance")
        ->capture_default_str();
    cmd->add_option("--n-max", o.n_max, "Largest batch whose cost is measured")->capture_default_str();
    cmd->add_option("--reps", o.reps, "Repetitions per cost measurement (median)")->capture_default_str();
    add_sampling_options(cmd, o.sampling);  // the settings the plan is for
    cmd->add_option("-s,--seed", o.seed, "Seed of the sampled trajectories")->capture_default_str();
    cmd->add_option("-t,--threads", o.threads, "Threads (0 = all cores)")->capture_default_str();
    cmd->add_option("-o,--output", o.out, "Profile JSON to write")->required();
    cmd->callback([] { run_profile_cmd(o); });
}

}  // namespace hsd::cli
