// `hsd generate -m MODEL.gguf -p "prompt" -n 128 [sampling flags] [--json]`: streams the
// continuation to stdout, then timings to stderr (llama.cpp's flag names and defaults).
// Speculative decoding: `--draft D.gguf [--draft-max N]`, `--hierarchy a.gguf:3,b.gguf:6`,
// `--draft-ngram N` (alone or as the bottom level), `--compare-ar` (docs/SPECULATIVE.md).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "decoding/generate.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "common/strings.h"
#include "common/timer.h"
#include "planner/plan_file.h"
#include "planner/profile.h"
#include "speculative/hierarchy.h"
#include "speculative/hispec.h"
#include "speculative/level_spec.h"
#include "tokenizer/utf8_stream.h"

namespace hsd::cli {

namespace {

struct GenerateOptions {
    std::string model, prompt, prompt_file;
    int n_predict = 128;
    int64_t n_ctx = 0;
    int threads = 0;
    SamplingParams sampling;
    int64_t seed = -1;
    bool json = false, ignore_eos = false, no_display_prompt = false;
    // speculative decoding
    std::string draft, hierarchy, plan, drafts;
    int draft_max = 5, draft_ngram = 0;
    bool hispec = false, self_spec = false;
    HiSpecOptions hs;
    bool compare_ar = false;

    bool speculative() const {
        return !draft.empty() || !hierarchy.empty() || draft_ngram > 0 || hispec || self_spec || !plan.empty();
    }
};

nlohmann::json level_json(const LevelStats& s, bool is_target) {
    nlohmann::json j = {{"name", s.name}, {"n_forward", s.n_forward}, {"seconds", s.seconds}};
    if (is_target) {
        j["depth"] = s.depth;
        j["layer_evals"] = s.layer_evals;
        return j;
    }
    j["threshold"] = s.threshold;
    j["draft_n"] = s.draft_n;
    j["draft_n_accepted"] = s.draft_n_accepted;
    j["n_drafts"] = s.n_drafts;
    j["acceptance_rate"] = s.acceptance_rate();
    j["mean_accepted_length"] = s.mean_accepted_length();
    if (s.depth > 0) {
        j["depth"] = s.depth;
        j["layer_evals"] = s.layer_evals;
    }
    return j;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(fmt::format("cannot read prompt file '{}'", path));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void run_generate(GenerateOptions o) {
    if (!o.prompt_file.empty()) {
        if (!o.prompt.empty()) fail("give the prompt with -p or -f, not both");
        o.prompt = read_file(o.prompt_file);
    }
    if (o.n_predict < 0) fail(fmt::format("-n must be >= 0, got {}", o.n_predict));
    const int modes = !o.draft.empty() + !o.hierarchy.empty() + o.hispec + o.self_spec + !o.plan.empty();
    if (modes > 1) fail("give only one of --draft, --hierarchy, --hispec, --self-spec and --plan");
    if (!o.drafts.empty() && o.hierarchy != "auto") fail("--drafts lists candidates for --hierarchy auto");
    if (o.draft_max < 1) fail(fmt::format("--draft-max must be >= 1, got {}", o.draft_max));
    if (o.draft_ngram < 0) fail(fmt::format("--draft-ngram must be >= 0 (0 = off), got {}", o.draft_ngram));
    if (o.hs.draft_n < 0) fail(fmt::format("--draft-n must be >= 1, got {}", o.hs.draft_n));
    if (o.compare_ar && !o.speculative())
        fail("--compare-ar needs a speculative mode (--draft, --hierarchy or --draft-ngram)");
    o.sampling.seed = o.seed >= 0 ? (uint64_t)o.seed
                                  : (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count();
    o.sampling.validate();

    auto model = Model::load(o.model);
    const ModelConfig& c = model->config();
    if (o.n_ctx < 0 || o.n_ctx > c.n_ctx_train)
        fail(fmt::format("-c {} is out of range: {} supports contexts up to {} tokens", o.n_ctx, o.model, c.n_ctx_train));
    ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
    const Tokenizer& tok = model->tokenizer();

    // Speculative levels, smallest first: optional n-gram drafter, then the draft levels.
    std::vector<LevelRequest> requests;
    if (o.draft_ngram > 0) {
        LevelRequest r;
        r.kind = LevelRequest::Kind::Ngram;
        r.ngram_n = o.draft_ngram;
        r.threshold = o.draft_max;
        requests.push_back(r);
    }
    std::vector<LevelRequest> more;
    if (!o.draft.empty()) {
        LevelRequest r;
        r.path = o.draft;
        r.threshold = o.draft_max;
        more.push_back(r);
    }
    const std::vector<TokenId> prompt = tok.encode(o.prompt, tok.add_bos_default());
    nlohmann::json plan_info;
    if (o.hierarchy == "auto") {
        // Profile briefly on this prompt, then plan: the candidates are --drafts, the target's
        // early exits and the n-gram drafter (docs/PLANNER.md).
        if (o.draft_ngram > 0) fail("--hierarchy auto already considers the n-gram drafter; drop --draft-ngram");
        const double t0 = now_seconds();
        planner::ProfileOptions po;
        po.drafts = split_list(o.drafts);
        po.exits = c.exit_layers;
        po.ngram = 3;
        po.prompts = {Prompt{"prompt", o.prompt}};
        po.prompts_name = "(the prompt)";
        po.n_tokens = 24;
        po.n_max = 12;
        po.reps = 3;
        po.sampling = o.sampling;
        ModelCache profile_models;
        const planner::Profile prof = planner::run_profile(*model, profile_models, pool, po);
        size_t n_best = 0;
        const auto table = planner::plan_table(planner::make_problem(prof), 16, 1, &n_best);
        const planner::Plan plan = planner::make_plan(prof, table.front());
        if (!plan.hierarchy.empty()) more = parse_level_list(plan.hierarchy);
        const double secs = now_seconds() - t0;
        plan_info = {{"hierarchy", plan.short_text},
                     {"predicted_tokens_per_second", plan.tokens_per_second},
                     {"predicted_speedup", plan.speedup},
                     {"profile_seconds", secs}};
        if (!o.json)
            fmt::print(stderr, "auto plan: {} (predicted {:.0f} tokens/s, {:.2f}x; profiled in {:.1f} s)\n",
                       plan.short_text, plan.tokens_per_second, plan.speedup, secs);
    } else if (!o.hierarchy.empty()) {
        more = parse_level_list(o.hierarchy);
    }
    if (o.hispec) more = hispec_levels(*model, o.hs);
    if (o.self_spec) more = self_spec_levels(*model, o.hs);
    if (!o.plan.empty()) {
        const planner::Plan plan = planner::load_plan(o.plan);
        namespace fs = std::filesystem;
        std::error_code ec1, ec2;
        if (fs::weakly_canonical(plan.target, ec1) != fs::weakly_canonical(o.model, ec2))
            fail(fmt::format("{} was planned for target '{}', not '{}'", o.plan, plan.target, o.model));
        if (!plan.hierarchy.empty()) more = parse_level_list(plan.hierarchy, "--plan");
        plan_info = {{"file", o.plan}, {"hierarchy", plan.short_text}, {"predicted_tokens_per_second", plan.tokens_per_second}};
    }
    requests.insert(requests.end(), more.begin(), more.end());
    ModelCache models;
    const std::vector<LevelSpec> specs = resolve_levels(requests, models);
    std::unique_ptr<Hierarchy> hierarchy;
    if (!specs.empty()) hierarchy = std::make_unique<Hierarchy>(*model, specs, pool, o.n_ctx);
    std::unique_ptr<Context> ctx;
    if (!hierarchy || o.compare_ar) ctx = std::make_unique<Context>(*model, pool, o.n_ctx);
    Sampler sampler(o.sampling, c.n_vocab);

    Utf8Stream stream;
    if (!o.json && !o.no_display_prompt) {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    auto on_token = [&](TokenId id) {
        if (o.json) return;
        const std::string s = stream.push(tok.token_bytes(id));
        std::fputs(s.c_str(), stdout);
        std::fflush(stdout);
    };
    SpeculativeResult r;
    if (hierarchy)
        r = generate_speculative(*hierarchy, sampler, prompt, o.n_predict, o.ignore_eos, on_token);
    else
        static_cast<GenerationResult&>(r) = generate(*ctx, sampler, prompt, o.n_predict, o.ignore_eos, on_token);
    GenerationResult ar;
    if (o.compare_ar) {
        Sampler ar_sampler(o.sampling, c.n_vocab);  // same seed: identical output when greedy
        ar = generate(*ctx, ar_sampler, prompt, o.n_predict, o.ignore_eos);
    }
    const double speedup = ar.generation_tokens_per_second() > 0
                               ? r.generation_tokens_per_second() / ar.generation_tokens_per_second()
                               : 0.0;

    if (o.json) {
        nlohmann::json j;
        j["model"] = o.model;
        j["prompt_tokens"] = r.prompt_tokens;
        j["tokens"] = r.tokens;
        j["text"] = tok.decode(r.tokens);
        j["stop_reason"] = r.stop_reason;
        j["seed"] = o.sampling.seed;
        // Floats go through their shortest decimal form so 0.05f prints as 0.05.
        auto num = [](float f) { return std::stod(fmt::format("{}", f)); };
        j["sampling"] = {{"temperature", num(o.sampling.temperature)}, {"top_k", o.sampling.top_k},
                         {"top_p", num(o.sampling.top_p)}, {"min_p", num(o.sampling.min_p)}};
        j["threads"] = pool.size();
        j["timings"] = {{"prompt_n", r.prompt_tokens.size()},
                        {"prompt_ms", r.prompt_seconds * 1e3},
                        {"prompt_per_second", r.prompt_tokens_per_second()},
                        {"predicted_n", r.tokens.size()},
                        {"predicted_ms", r.generation_seconds * 1e3},
                        {"predicted_per_second", r.generation_tokens_per_second()}};
        if (!plan_info.is_null()) j["plan"] = plan_info;
        if (hierarchy) {
            nlohmann::json levels = nlohmann::json::array();
            for (size_t i = 0; i < r.levels.size(); ++i)
                levels.push_back(level_json(r.levels[i], i + 1 == r.levels.size()));
            int64_t evals = 0;
            for (const LevelStats& s : r.levels) evals += s.layer_evals;
            j["speculative"] = {{"levels", levels},
                                {"hierarchy", format_level_list(requests)},
                                {"layer_evals", evals},
                                {"layer_evals_per_token", r.tokens.empty() ? 0.0 : (double)evals / (double)r.tokens.size()}};
        }
        if (o.compare_ar)
            j["compare_ar"] = {{"tokens", ar.tokens},
                               {"tokens_identical", ar.tokens == r.tokens},
                               {"predicted_n", ar.tokens.size()},
                               {"predicted_ms", ar.generation_seconds * 1e3},
                               {"predicted_per_second", ar.generation_tokens_per_second()},
                               {"speedup", speedup}};
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
    }
    const std::string tail = stream.flush();
    std::fputs(tail.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    fmt::print(stderr, "\nprompt:     {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s\n", r.prompt_tokens.size(),
               r.prompt_seconds * 1e3, r.prompt_tokens_per_second());
    fmt::print(stderr, "generation: {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s ({}, {} threads)\n", r.tokens.size(),
               r.generation_seconds * 1e3, r.generation_tokens_per_second(), r.stop_reason, pool.size());
    int64_t layer_evals = 0;
    for (const LevelStats& s : r.levels) layer_evals += s.layer_evals;
    for (size_t i = 0; i < r.levels.size(); ++i) {
        const LevelStats& s = r.levels[i];
        if (i + 1 == r.levels.size()) {
            fmt::print(stderr, "target  {:<36} {:>57} n_forward {:5}  seconds {:7.3f}\n", s.name, "", s.n_forward,
                       s.seconds);
            if (layer_evals > 0 && !r.tokens.empty())
                fmt::print(stderr, "layer evaluations: {} ({:.2f} per generated token; the target alone needs {})\n",
                           layer_evals, (double)layer_evals / (double)r.tokens.size(), c.n_layer);
            break;
        }
        fmt::print(stderr,
                   "level {} {:<36} T={:<3} draft_n {:5}  accepted {:5} ({:5.1f}%)  mean_accepted_length {:5.2f}  "
                   "n_forward {:5}  seconds {:7.3f}\n",
                   i, s.name, s.threshold, s.draft_n, s.draft_n_accepted, 100.0 * s.acceptance_rate(),
                   s.mean_accepted_length(), s.n_forward, s.seconds);
    }
    if (o.compare_ar)
        fmt::print(stderr, "autoregressive: {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s; speedup {:.2f}x; outputs {}\n",
                   ar.tokens.size(), ar.generation_seconds * 1e3, ar.generation_tokens_per_second(), speedup,
                   ar.tokens == r.tokens ? "identical" : "differ (expected only when sampling, --temp > 0)");
}

}  // namespace

void register_generate(CLI::App& app) {
    static GenerateOptions o;
    auto* cmd = app.add_subcommand("generate", "Generate text from a prompt");
    cmd->add_option("-m,--model", o.model, "GGUF model (target)")->required();
    cmd->add_option("-p,--prompt", o.prompt, "Prompt text");
    cmd->add_option("-f,--file", o.prompt_file, "Read the prompt from a file");
    cmd->add_option("-n,--n-predict", o.n_predict, "Number of tokens to generate")->capture_default_str();
    cmd->add_option("-c,--ctx-size", o.n_ctx, "Context size in tokens (0 = the model's)")->capture_default_str();
    cmd->add_option("-t,--threads", o.threads, "Threads (0 = all cores)")->capture_default_str();
    add_sampling_options(cmd, o.sampling);
    cmd->add_option("-s,--seed", o.seed, "Random seed (-1 = random)")->capture_default_str();
    cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past the end-of-sequence token");
    cmd->add_flag("--no-display-prompt", o.no_display_prompt, "Do not echo the prompt before the continuation");
    cmd->add_flag("--json", o.json, "Print token ids, text and timings as one JSON object");
    cmd->add_option("--draft", o.draft, "Draft model for speculative decoding (drafts --draft-max tokens per step)");
    cmd->add_option("--draft-max", o.draft_max, "Tokens drafted per step by --draft and --draft-ngram")
        ->capture_default_str();
    cmd->add_option("--hierarchy", o.hierarchy,
                    "Hierarchical speculative decoding: levels smallest first with their thresholds, e.g. "
                    "a.gguf:3,b.gguf:6,c.gguf:12; a level is a model file, ngramN (prompt lookup) or @K (the "
                    "target's early exit after layer K); auto profiles on the prompt and plans");
    cmd->add_option("--draft-ngram", o.draft_ngram,
                    "N-gram (prompt lookup) drafter with suffixes of up to N tokens, proposing up to --draft-max "
                    "tokens; alone, or as the bottom level below --draft / --hierarchy (0 = off)")
        ->capture_default_str();
    cmd->add_option("--plan", o.plan, "Use the hierarchy of a plan written by hsd plan -o");
    cmd->add_option("--drafts", o.drafts, "--hierarchy auto: candidate draft models besides the target's early exits "
                                          "and the n-gram drafter (comma-separated)");
    cmd->add_flag("--hispec", o.hispec,
                  "HiSpec on an early-exit target: exit --exit-draft drafts --draft-n tokens, exit --exit-verify "
                  "verifies them until --window are tentatively accepted, then the full model validates");
    cmd->add_flag("--self-spec", o.self_spec,
                  "Early-exit self-speculation (LayerSkip): exit --exit-draft drafts --draft-n tokens per step");
    cmd->add_option("--exit-draft", o.hs.exit_draft, "Draft exit layer (0 = the exit nearest 1/8 of the depth)")
        ->capture_default_str();
    cmd->add_option("--exit-verify", o.hs.exit_verify,
                    "Intermediate verifier exit layer (0 = the exit nearest 1/4 of the depth)")
        ->capture_default_str();
    cmd->add_option("--draft-n", o.hs.draft_n, "Tokens drafted per call by the draft exit (0 = 2 for --hispec, 4 for "
                                               "--self-spec)")
        ->capture_default_str();
    cmd->add_option("--window", o.hs.window, "HiSpec: tentatively accepted tokens before the full model validates")
        ->capture_default_str();
    cmd->add_flag("--compare-ar", o.compare_ar,
                  "Also run plain autoregressive decoding with the same settings and report the speedup");
    cmd->callback([] { run_generate(o); });
}

}  // namespace hsd::cli
