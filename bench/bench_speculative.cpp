// bench_speculative: generation speed of (hierarchical) speculative decoding against plain
// autoregressive decoding, for a list of hierarchy configurations on a prompt set, with the
// per-level counters of docs/SPECULATIVE.md summed over the prompts.
//
//   bench_speculative --target PATH --prompts FILE [--n-prompts 20] [--skip-prompts 0] [--stride 1]
//                     [--n-predict 128] [--temp 0] [--seed 1] [--configs "m1:5;m0:3,m1:6;@4:4"]
//                     [--threads N] [--shared DIR] [--label NAME] [--warmup 16]
//                     [--json-out F] [--tsv-out F] [--profile profile.json [--add-plan]]
//
// --configs: ';'-separated hierarchies in the --hierarchy syntax (hierarchy_syntax.h). A model item
// without '/' and not ending in .gguf names <shared>/models/hsd-<name>.gguf (so "m0:3,m1:6").
// Per prompt: one autoregressive generate() on the target, then every configuration (each
// Hierarchy is built once and restarted by generate_speculative). Sampling: --temp 0 greedy,
// otherwise pure temperature sampling (top-k 0, top-p 1, min-p 0); prompt i uses seed + i.
// Greedy speculative output must equal the autoregressive output token for token: every
// mismatch is reported and makes the exit status 1.
//
// tokens/s = sum of generated tokens / sum of generation seconds (prefill excluded);
// speedup = configuration tokens/s / autoregressive tokens/s over the same prompts.
// The warm-up (first prompt, --warmup tokens, every configuration once) is not counted.
//
// --profile (written by `hsd profile`) adds the planner's prediction for every configuration
// it can cost and the prediction error against the measurement (docs/PLANNER.md);
// --add-plan also runs the hierarchy `hsd plan` would choose from that profile; --conditional
// predicts with the two-type acceptance model instead of the i.i.d. one.
// Per level, acceptance is split by how the level got the token (produced it / accepted it
// from below) and by position in the batch: the planner's i.i.d. assumption says neither matters.
// The JSON's configs[].levels are the counters summed over the prompts, in the format of
// `hsd generate --json` (engine/report.h).
//
// Usage errors (unknown or malformed flags, values out of range) exit with status 2, other
// errors with 1, as do greedy mismatches.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "decoding/generate.h"
#include "engine/engine.h"
#include "engine/report.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "planner/optimizer.h"
#include "planner/plan_file.h"
#include "planner/profile.h"
#include "prompts/prompt_set.h"
#include "sampling/sampler.h"
#include "speculative/hierarchy.h"
#include "speculative/hierarchy_syntax.h"

using namespace hsd;

namespace {

const char* kDefaultConfigs =
    "m0:3;m0:5;m1:3;m1:5;m2:3;m2:5;ngram3:5;m0:2,m1:5;m0:3,m1:6;m0:4,m1:8;m0:3,m2:6;m1:3,m2:6;"
    "ngram3:3,m1:5;ngram3:3,m0:4;m0:3,m1:6,m2:12;m0:2,m1:4,m2:8;ngram3:3,m0:3,m1:6";

struct Options {
    std::string target, prompts, configs = kDefaultConfigs, shared = "../shared", label, json_out, tsv_out, profile;
    bool add_plan = false, conditional = false;
    int n_prompts = 20, skip_prompts = 0, stride = 1, n_predict = 128, threads = ThreadPool::default_threads();
    int warmup = 16;
    double temp = 0.0;
    uint64_t seed = 1;
    std::string command_line;  // as run, shell-quoted, for the JSON
};

struct Config {
    std::string text;                  // as given in --configs
    std::vector<LevelSpec> requests;   // model names resolved to paths
    std::unique_ptr<Hierarchy> hierarchy;
    std::vector<bool> target_view;     // per level (target last): a view of the target's layers
    int64_t tokens = 0;
    double seconds = 0;
    int mismatches = 0;
    std::vector<LevelStats> levels;    // summed over the prompts
    std::vector<int64_t> prompt_tokens;  // per prompt
    std::vector<double> prompt_seconds;
    bool predicted = false;            // the profile can cost it
    planner::Prediction prediction;
    planner::Prediction other;         // the other acceptance model (two-type / i.i.d.)
    std::vector<double> alpha;         // profiled acceptance of each level by the one above

    double tps() const { return seconds > 0 ? (double)tokens / seconds : 0.0; }
};

// The prompts benchmarked, as read and as token ids cut to fit the context.
struct Workload {
    std::vector<Prompt> prompts;
    std::vector<std::vector<TokenId>> tokens;
    int cut = 0;  // prompts whose head was dropped
};

// The autoregressive baseline summed over the prompts, and the per-prompt record.
struct Totals {
    int64_t ar_tokens = 0;
    double ar_seconds = 0;
    nlohmann::json per_prompt = nlohmann::json::array();
    int greedy_mismatch_prompts = 0;

    double ar_tps() const { return ar_seconds > 0 ? (double)ar_tokens / ar_seconds : 0.0; }
};

// Pure temperature sampling (or greedy at 0); prompt i uses seed + i, so every decoding mode
// of one prompt replays the same random stream.
struct Samplers {
    SamplingParams params;
    int n_vocab = 0;

    Sampler operator()(size_t i) const {
        SamplingParams s = params;
        s.seed = params.seed + i;
        return Sampler(s, n_vocab);
    }
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "m0" -> <shared>/models/hsd-m0.gguf; paths and *.gguf names are kept as written.
std::string resolve_model_name(const std::string& name, const std::string& shared) {
    if (name.find('/') != std::string::npos || ends_with(name, ".gguf")) return name;
    return fmt::format("{}/models/hsd-{}.gguf", shared, name);
}

std::vector<std::string> split_configs(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t end = s.find(';', start);
        if (end == std::string::npos) end = s.size();
        std::string item = s.substr(start, end - start);
        // trim blanks so "a:3; b:4" works
        const size_t b = item.find_first_not_of(" \t\n");
        const size_t e = item.find_last_not_of(" \t\n");
        item = b == std::string::npos ? std::string() : item.substr(b, e - b + 1);
        if (!item.empty()) out.push_back(item);
        start = end + 1;
    }
    return out;
}

// Short level name for the table: "m0", "target@4", "ngram(3)".
std::string short_name(const std::string& name) {
    std::string s = name;
    const size_t slash = s.rfind('/');
    if (slash != std::string::npos) s = s.substr(slash + 1);
    const size_t dot = s.find(".gguf");
    if (dot != std::string::npos) s.erase(dot, 5);
    if (s.rfind("hsd-", 0) == 0) s = s.substr(4);
    return s;
}

std::string shell_quote(const std::string& a) {
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
                          std::string::npos)
        return a;
    std::string q = "'";
    for (char c : a) {
        if (c == '\'') q += "'\\''";
        else q += c;
    }
    q += "'";
    return q;
}

// Checks a value before CLI11 converts it, so that the message says what is wrong with it
// ("--n-prompts: must be >= 1, got 0", "--temp: 'x' is not a number").
CLI::Validator at_least(double min, bool integer) {
    return CLI::Validator(
        [min, integer](std::string& v) -> std::string {
            const bool digits = v.find_first_not_of("0123456789", v[0] == '-' ? 1 : 0) == std::string::npos;
            size_t used = 0;
            long double x = 0;  // wide enough for every uint64_t seed
            try {
                x = std::stold(v, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (v.empty() || used != v.size() || (integer && !digits))
                return fmt::format("'{}' is not {}", v, integer ? "an integer" : "a number");
            if (x < min) return fmt::format("must be >= {}, got {}", min, v);
            return {};
        },
        fmt::format(">={}", min));
}
CLI::Validator int_at_least(int min) { return at_least(min, true); }

// --- phase: the command line. Returns the exit status when there is nothing to run (--help: 0,
// a usage error: 2).
std::optional<int> parse_command_line(int argc, char** argv, Options& o) {
    CLI::App app{"bench_speculative: generation speed of (hierarchical) speculative decoding against "
                 "autoregressive decoding, for a list of hierarchy configurations on a prompt set"};
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a repeated flag: the last wins
    app.add_option("--target", o.target, "Target model: a GGUF path, or NAME for <shared>/models/hsd-NAME.gguf")
        ->required();
    app.add_option("--prompts", o.prompts, "Prompt set (JSON Lines, optionally .gz: HumanEval, Spec-Bench...)")
        ->required();
    app.add_option("--n-prompts", o.n_prompts, "Prompts benchmarked")->capture_default_str()->check(int_at_least(1));
    app.add_option("--skip-prompts", o.skip_prompts, "Prompts skipped at the start of the file")
        ->capture_default_str()
        ->check(int_at_least(0));
    app.add_option("--stride", o.stride, "Take every N-th prompt after the skipped ones (spreads over categories)")
        ->capture_default_str()
        ->check(int_at_least(1));
    app.add_option("--n-predict", o.n_predict, "Tokens generated per prompt")
        ->capture_default_str()
        ->check(int_at_least(1));
    app.add_option("--temp", o.temp, "Temperature (0: greedy, checked token for token against autoregressive)")
        ->capture_default_str()
        ->check(at_least(0, false));
    app.add_option("--seed", o.seed, "Seed; prompt i uses seed + i")->capture_default_str()->check(int_at_least(0));
    app.add_option("--configs", o.configs,
                   "';'-separated hierarchies in the --hierarchy syntax; a model name without '/' or .gguf is "
                   "<shared>/models/hsd-NAME.gguf")
        ->capture_default_str();
    app.add_option("--threads", o.threads, "Threads")->capture_default_str()->check(int_at_least(1));
    app.add_option("--shared", o.shared, "Folder holding models/")->capture_default_str();
    app.add_option("--label", o.label, "Name of the run, printed and stored in the JSON");
    app.add_option("--warmup", o.warmup, "Warm-up tokens on the first prompt, not counted (0: none)")
        ->capture_default_str()
        ->check(int_at_least(0));
    app.add_option("--json-out", o.json_out, "Write the results as JSON");
    app.add_option("--tsv-out", o.tsv_out, "Write config, speedup, tokens/s and predicted tokens/s as TSV");
    auto* profile = app.add_option("--profile", o.profile, "Profile of `hsd profile`: add the planner's predictions");
    app.add_flag("--add-plan", o.add_plan, "Also run the hierarchy `hsd plan` chooses from the profile")
        ->needs(profile);
    app.add_flag("--conditional", o.conditional,
                 "Predict with the two-type acceptance model instead of the i.i.d. one");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
        fmt::print(stderr, "error: {}\nrun '{} --help' for the options\n", e.what(), argc > 0 ? argv[0] : "");
        return 2;
    }
    for (int i = 0; i < argc; ++i) o.command_line += fmt::format("{}{}", i ? " " : "", shell_quote(argv[i]));
    return std::nullopt;
}

// --- phase: the configurations, parsed before anything is loaded so that text errors come first.
std::vector<Config> parse_configs(const Options& o) {
    std::vector<Config> configs;
    for (const std::string& text : split_configs(o.configs)) {
        Config c;
        c.text = text;
        c.requests = parse_level_list(text, "--configs");
        for (LevelSpec& r : c.requests)
            if (r.is_model()) r.path = resolve_model_name(r.path, o.shared);
        configs.push_back(std::move(c));
    }
    if (configs.empty()) fail("--configs: no configuration given");
    return configs;
}

// --- phase: the planner's predictions for every configuration the profile can cost (--profile);
// with --add-plan, appends the planner's choice. Returns its name ("" without --add-plan).
std::string predict(const Options& o, const planner::Profile& profile, std::vector<Config>& configs) {
    const planner::Problem problem = planner::make_problem(profile, o.conditional);
    const planner::Problem other_problem = planner::make_problem(profile, !o.conditional);
    std::string plan_text;
    if (o.add_plan) {
        size_t n_best = 0;
        const auto table = planner::plan_table(problem, planner::kDefaultTMax, 1, &n_best);
        const planner::Plan plan = planner::make_plan(profile, table.front());
        Config c;
        c.text = "plan:" + plan.short_text;
        plan_text = c.text;
        if (!plan.hierarchy.empty()) c.requests = parse_level_list(plan.hierarchy, "--add-plan");
        configs.push_back(std::move(c));
    }
    for (Config& c : configs) {
        planner::Chain chain;
        if (!planner::chain_of(profile, c.requests, chain)) continue;
        c.predicted = true;
        c.prediction = planner::evaluate(problem, chain, planner::Variant::Overshoot);
        c.other = planner::evaluate(other_problem, chain, planner::Variant::Overshoot);
        for (size_t k = 0; k < chain.levels.size(); ++k) {
            const size_t above = k + 1 < chain.levels.size() ? (size_t)chain.levels[k + 1] : profile.candidates.size();
            c.alpha.push_back(profile.accept[(size_t)chain.levels[k]][above]);
        }
    }
    return plan_text;
}

// --- phase: the prompts, every stride-th one from --skip-prompts on (spreads over a file's categories).
std::vector<Prompt> load_prompt_subset(const Options& o) {
    const std::vector<Prompt> all =
        load_prompts(o.prompts, (size_t)o.skip_prompts + (size_t)o.n_prompts * (size_t)o.stride);
    if (all.size() <= (size_t)o.skip_prompts)
        fail(fmt::format("'{}' has {} prompts, none left after --skip-prompts {}", o.prompts, all.size(),
                         o.skip_prompts));
    std::vector<Prompt> prompts;
    const size_t step = (size_t)o.stride;
    for (size_t i = (size_t)o.skip_prompts; i < all.size() && prompts.size() < (size_t)o.n_prompts; i += step)
        prompts.push_back(all[i]);
    if (prompts.size() < (size_t)o.n_prompts)
        fmt::print(stderr, "note: '{}' has only {} prompts after skipping {}; using them all\n", o.prompts,
                   prompts.size(), o.skip_prompts);
    return prompts;
}

// --- phase: the models, each file loaded once by the engine, and one hierarchy per configuration
// (built once, restarted by every generate_speculative).
const Model& build_hierarchies(const Options& o, Engine& engine, const std::string& target_path,
                               std::vector<Config>& configs) {
    const Model& target = engine.model(target_path);
    const int64_t n_ctx = target.config().n_ctx_train;
    if (o.n_predict + 2 > n_ctx)
        fail(fmt::format("--n-predict {} leaves no room for a prompt in the target's context of {} tokens",
                         o.n_predict, n_ctx));
    for (Config& c : configs) {
        if (c.requests.empty()) fail(fmt::format("configuration '{}' has no levels", c.text));
        resolve_models(c.requests, engine.models());
        c.hierarchy = std::make_unique<Hierarchy>(target, c.requests, engine.pool());
        for (const LevelSpec& r : c.requests) c.target_view.push_back(r.is_exit());
        c.target_view.push_back(true);  // the target itself
    }
    return target;
}

// --- phase: tokenize, keeping the last tokens that fit (after BOS).
void tokenize(const Options& o, const Model& target, Workload& w) {
    const Tokenizer& tok = target.tokenizer();
    const size_t max_prompt = (size_t)(target.config().n_ctx_train - o.n_predict);
    for (const Prompt& p : w.prompts) {
        std::vector<TokenId> t = tok.encode(p.text, tok.add_bos_default());
        if (t.size() > max_prompt) {
            ++w.cut;
            t = keep_prompt_tail(std::move(t), max_prompt, tok);
        }
        if (t.empty()) fail(fmt::format("prompt '{}' of '{}' has no tokens", p.id, o.prompts));
        w.tokens.push_back(std::move(t));
    }
}

// --- phase: warm-up (first prompt, --warmup tokens, every configuration once; not counted).
void warm_up(const Options& o, Context& ctx, std::vector<Config>& configs, const Samplers& sampler_for,
             const std::vector<TokenId>& prompt) {
    if (o.warmup <= 0) return;
    const int n = std::min(o.warmup, o.n_predict);
    Sampler s0 = sampler_for(0);
    generate(ctx, s0, prompt, n, false);
    for (Config& c : configs) {
        Sampler s = sampler_for(0);
        generate_speculative(*c.hierarchy, s, prompt, n, false);
    }
}

// --- phase: the runs. Per prompt, one autoregressive generation, then every configuration.
Totals run_prompts(const Options& o, Context& ctx, std::vector<Config>& configs, const Samplers& sampler_for,
                   const Workload& w) {
    const bool greedy = sampler_for.params.greedy();
    Totals t;
    for (size_t i = 0; i < w.prompts.size(); ++i) {
        const std::vector<TokenId>& prompt = w.tokens[i];
        Sampler ar_sampler = sampler_for(i);
        const GenerationResult ar = generate(ctx, ar_sampler, prompt, o.n_predict, false);
        t.ar_tokens += (int64_t)ar.tokens.size();
        t.ar_seconds += ar.generation_seconds;
        const double ar_tps = ar.generation_tokens_per_second();

        nlohmann::json pj = {{"id", w.prompts[i].id},
                             {"prompt_tokens", prompt.size()},
                             {"autoregressive", {{"tokens", ar.tokens.size()}, {"seconds", ar.generation_seconds}}}};
        nlohmann::json pc = nlohmann::json::array();
        double best = 0;
        std::string best_name;
        bool any_mismatch = false;
        for (Config& c : configs) {
            Sampler s = sampler_for(i);
            const SpeculativeResult r = generate_speculative(*c.hierarchy, s, prompt, o.n_predict, false);
            c.tokens += (int64_t)r.tokens.size();
            c.seconds += r.generation_seconds;
            c.prompt_tokens.push_back((int64_t)r.tokens.size());
            c.prompt_seconds.push_back(r.generation_seconds);
            if (c.levels.size() != r.levels.size()) c.levels.resize(r.levels.size());
            for (size_t l = 0; l < r.levels.size(); ++l) c.levels[l] += r.levels[l];
            const double speedup = ar_tps > 0 ? r.generation_tokens_per_second() / ar_tps : 0.0;
            if (speedup > best) {
                best = speedup;
                best_name = c.text;
            }
            const bool mismatch = greedy && r.tokens != ar.tokens;
            if (mismatch) {
                ++c.mismatches;
                any_mismatch = true;
                size_t at = 0;
                while (at < r.tokens.size() && at < ar.tokens.size() && r.tokens[at] == ar.tokens[at]) ++at;
                fmt::print(stderr,
                           "ERROR: GREEDY MISMATCH: config '{}' on prompt {} ('{}'): {} speculative vs {} "
                           "autoregressive tokens, first difference at generated token {}\n",
                           c.text, o.skip_prompts + (int)i * o.stride, w.prompts[i].id, r.tokens.size(),
                           ar.tokens.size(), at);
            }
            pc.push_back({{"hierarchy", c.text},
                          {"tokens", r.tokens.size()},
                          {"seconds", r.generation_seconds},
                          {"greedy_mismatch", mismatch}});
        }
        pj["configs"] = pc;
        t.per_prompt.push_back(pj);
        if (any_mismatch) ++t.greedy_mismatch_prompts;
        fmt::print(stderr, "[{}/{}] {}: {} prompt tokens, ar {} tokens {:.1f} tok/s ({}), best {:.2f}x ({})\n", i + 1,
                   w.prompts.size(), w.prompts[i].id, prompt.size(), ar.tokens.size(), ar_tps, ar.stop_reason, best,
                   best_name);
    }
    return t;
}

size_t table_width(const std::vector<Config>& configs) {
    size_t width = 14;
    for (const Config& c : configs) width = std::max(width, c.text.size());
    return width;
}

// --- phase: the text report on stdout. Returns the JSON of every configuration.
nlohmann::json report(const Options& o, const std::vector<Config>& configs, const Model& target, size_t n_prompts,
                      int threads, double ar_tps) {
    const size_t width = table_width(configs);
    fmt::print("{} prompts x {} tokens, temp {}, {} threads{}{}\n", n_prompts, o.n_predict, o.temp, threads,
               o.label.empty() ? "" : ", ", o.label);
    fmt::print("{:<{}} {:>8} {:>7}  levels (name T acceptance% mean-accepted-length), target layers/token\n",
               "config", width, "tok/s", "speedup");
    fmt::print("{:<{}} {:>8.1f} {:>6.2f}x\n", "autoregressive", width, ar_tps, 1.0);
    nlohmann::json jconfigs = nlohmann::json::array();
    for (const Config& c : configs) {
        const double speedup = ar_tps > 0 ? c.tps() / ar_tps : 0.0;
        int64_t view_evals = 0;
        std::string levels_text;
        for (size_t l = 0; l < c.levels.size(); ++l) {
            const LevelStats& s = c.levels[l];
            if (c.target_view[l]) view_evals += s.layer_evals;
            if (l + 1 < c.levels.size())  // the target proposes nothing
                levels_text += fmt::format("{}{} T{} {}", levels_text.empty() ? "" : " | ", short_name(s.name),
                                           s.threshold,
                                           s.draft_n > 0 ? fmt::format("{:.0f}% {:.2f}", 100.0 * s.acceptance_rate(),
                                                                       s.mean_accepted_length())
                                                         : std::string("-"));
        }
        const double evals_per_token = c.tokens > 0 ? (double)view_evals / (double)c.tokens : 0.0;
        fmt::print("{:<{}} {:>8.1f} {:>6.2f}x  {}, {:.1f}{}\n", c.text, width, c.tps(), speedup, levels_text,
                   evals_per_token, c.mismatches ? fmt::format("  [{} GREEDY MISMATCHES]", c.mismatches) : "");
        jconfigs.push_back({{"hierarchy", c.text},
                            {"hierarchy_resolved", format_level_list(c.requests)},
                            {"tokens", c.tokens},
                            {"seconds", c.seconds},
                            {"tokens_per_second", c.tps()},
                            {"speedup", speedup},
                            {"greedy_mismatches", c.mismatches},
                            {"layer_evals_per_token", evals_per_token},
                            {"levels", levels_json(c.levels)}});
    }
    fmt::print("(target layers/token: layer evaluations of the target and its early exits per generated token; "
               "autoregressive = {})\n",
               target.config().n_layer);
    return jconfigs;
}

// Per drafting level: profiled alpha against measured acceptance, split by origin and position.
nlohmann::json planner_levels(const Config& c, std::string& text) {
    nlohmann::json jl = nlohmann::json::array();
    for (size_t l = 0; l + 1 < c.levels.size(); ++l) {
        const LevelStats& s = c.levels[l];
        auto pct = [](double r) { return r < 0 ? std::string("-") : fmt::format("{:.0f}%", 100 * r); };
        text += fmt::format("{}{:.2f}/{:.2f} {}|{}", l ? "  " : "", c.alpha[l], s.acceptance_rate(),
                            pct(s.origin_rate(1)), pct(s.origin_rate(0)));
        nlohmann::json pos = nlohmann::json::array();
        for (int k = 0; k < LevelStats::kPositions; ++k)
            if (s.position_n[k] > 0)
                pos.push_back({{"position", k},
                               {"n", s.position_n[k]},
                               {"acceptance", (double)s.position_accepted[k] / (double)s.position_n[k]}});
        jl.push_back({{"name", s.name},
                      {"alpha_profile", c.alpha[l]},
                      {"acceptance_measured", s.acceptance_rate()},
                      {"acceptance_own", s.origin_rate(1)},
                      {"acceptance_from_below", s.origin_rate(0)},
                      {"n_own", s.origin_n[1]},
                      {"n_from_below", s.origin_n[0]},
                      {"acceptance_by_position", pos}});
    }
    return jl;
}

// --- phase: the planner's predictions against the measurements (--profile). Returns its JSON.
nlohmann::json planner_report(const Options& o, const planner::Profile& profile, const std::string& plan_text,
                              const std::vector<Config>& configs, double ar_tps) {
    const size_t width = table_width(configs);
    const double ar_pred = 1e3 / profile.target_draft_ms;
    fmt::print("\nplanner ({}): predicted vs measured tokens/s; autoregressive predicted {:.1f}, measured {:.1f} "
               "({:+.1f}%)\n",
               o.profile, ar_pred, ar_tps, 100.0 * (ar_pred / ar_tps - 1));
    fmt::print("{:<{}} {:>10} {:>10} {:>8} {:>9} {:>9}   per level: alpha (profile) / measured; measured "
               "acceptance of tokens the level produced | accepted from below\n",
               "config", width, "predicted", "measured", "error", "pred x", "meas x");
    double sum_abs = 0, max_abs = 0, sum_abs_x = 0, sum_abs_other = 0;
    int n = 0;
    double best_measured = 0;
    std::string best_config;
    for (const Config& c : configs)
        if (c.tps() > best_measured) {
            best_measured = c.tps();
            best_config = c.text;
        }
    nlohmann::json rows = nlohmann::json::array();
    for (const Config& c : configs) {
        if (!c.predicted) {
            fmt::print("{:<{}} {:>10} {:>10.1f}   (not costed by the profile)\n", c.text, width, "-", c.tps());
            continue;
        }
        const double pred = c.prediction.tokens_per_second, meas = c.tps();
        const double err = pred / meas - 1, err_x = c.prediction.speedup / (meas / ar_tps) - 1;
        sum_abs += std::fabs(err);
        sum_abs_x += std::fabs(err_x);
        sum_abs_other += std::fabs(c.other.tokens_per_second / meas - 1);
        max_abs = std::max(max_abs, std::fabs(err));
        ++n;
        std::string lv;
        const nlohmann::json jl = planner_levels(c, lv);
        fmt::print("{:<{}} {:>10.1f} {:>10.1f} {:>+7.1f}% {:>8.2f}x {:>8.2f}x   {}\n", c.text, width, pred, meas,
                   100 * err, c.prediction.speedup, meas / ar_tps, lv);
        const int64_t steps = c.levels.back().n_forward;
        rows.push_back({{"hierarchy", c.text},
                        {"predicted_tokens_per_step", c.prediction.tokens_per_step},
                        {"measured_tokens_per_step", steps > 0 ? (double)c.tokens / (double)steps : 0.0},
                        {"predicted_ms_per_step", 1e3 * c.prediction.seconds_per_step},
                        {"measured_ms_per_step", steps > 0 ? 1e3 * c.seconds / (double)steps : 0.0},
                        {"predicted_tokens_per_second", pred},
                        {"predicted_tokens_per_second_other_model", c.other.tokens_per_second},
                        {"predicted_tokens_per_step_other_model", c.other.tokens_per_step},
                        {"measured_tokens_per_second", meas},
                        {"relative_error", err},
                        {"predicted_speedup", c.prediction.speedup},
                        {"measured_speedup", meas / ar_tps},
                        {"levels", jl}});
    }
    if (n > 0) {
        fmt::print("mean |error| {:.1f}% (tokens/s), {:.1f}% (speedup); max |error| {:.1f}% over {} "
                   "configurations ({} acceptance model; the {} model: mean |error| {:.1f}%)\n",
                   100 * sum_abs / n, 100 * sum_abs_x / n, 100 * max_abs, n, o.conditional ? "two-type" : "i.i.d.",
                   o.conditional ? "i.i.d." : "two-type", 100 * sum_abs_other / n);
    }
    nlohmann::json jpred = {{"profile", o.profile},
                            {"autoregressive_predicted_tokens_per_second", ar_pred},
                            {"acceptance_model", o.conditional ? "two-type" : "iid"},
                            {"mean_abs_error", n ? sum_abs / n : 0.0},
                            {"mean_abs_error_other_model", n ? sum_abs_other / n : 0.0},
                            {"mean_abs_error_speedup", n ? sum_abs_x / n : 0.0},
                            {"max_abs_error", max_abs},
                            {"configs", rows}};
    if (!plan_text.empty()) {
        double plan_tps = 0;
        for (const Config& c : configs)
            if (c.text == plan_text) plan_tps = c.tps();
        fmt::print("planner's choice {}: {:.1f} tokens/s measured, {:.1f}% of the best measured ({}: {:.1f})\n",
                   plan_text, plan_tps, 100 * plan_tps / best_measured, best_config, best_measured);
        jpred["plan"] = {{"hierarchy", plan_text},
                         {"measured_tokens_per_second", plan_tps},
                         {"best_measured", best_config},
                         {"best_measured_tokens_per_second", best_measured},
                         {"fraction_of_best", plan_tps / best_measured}};
    }
    return jpred;
}

// --- phase: the result files.
void write_json(const Options& o, const std::string& target_path, const Workload& w, const Totals& t, int threads,
                nlohmann::json configs, nlohmann::json planner) {
    const nlohmann::json out = {
        {"label", o.label},
        {"target", target_path},
        {"prompts", o.prompts},
        {"n_prompts", w.prompts.size()},
        {"skip_prompts", o.skip_prompts},
        {"n_predict", o.n_predict},
        {"temp", o.temp},
        {"seed", o.seed},
        {"threads", threads},
        {"prompts_cut", w.cut},
        {"greedy_mismatch_prompts", t.greedy_mismatch_prompts},
        {"autoregressive", {{"tokens", t.ar_tokens}, {"seconds", t.ar_seconds}, {"tokens_per_second", t.ar_tps()}}},
        {"configs", std::move(configs)},
        {"per_prompt", t.per_prompt},
        {"planner", std::move(planner)},
        {"command_line", o.command_line}};
    std::ofstream f(o.json_out);
    if (!f) fail(fmt::format("cannot write '{}'", o.json_out));
    f << out.dump(2) << "\n";
    fmt::print(stderr, "wrote {}\n", o.json_out);
}

// ar_predicted: the profile's autoregressive tokens/s (0 without --profile).
void write_tsv(const Options& o, const std::vector<Config>& configs, double ar_tps, double ar_predicted) {
    std::ofstream f(o.tsv_out);
    if (!f) fail(fmt::format("cannot write '{}'", o.tsv_out));
    f << "config\tspeedup\ttokens_per_second\tpredicted_tokens_per_second\n";
    f << fmt::format("autoregressive\t1\t{:.3f}\t{:.3f}\n", ar_tps, ar_predicted);
    for (const Config& c : configs)
        f << fmt::format("{}\t{:.4f}\t{:.3f}\t{:.3f}\n", c.text, ar_tps > 0 ? c.tps() / ar_tps : 0.0, c.tps(),
                         c.predicted ? c.prediction.tokens_per_second : 0.0);
    fmt::print(stderr, "wrote {}\n", o.tsv_out);
}

// The phases in order. Returns the number of prompts with a greedy mismatch.
int run(const Options& o) {
    // Declared first so that it outlives the hierarchies; it only starts the threads, so the
    // text errors below still come before any loading.
    Engine engine({.threads = o.threads});
    std::vector<Config> configs = parse_configs(o);
    planner::Profile profile;
    std::string plan_text;
    if (!o.profile.empty()) {
        profile = planner::load_profile(o.profile);
        plan_text = predict(o, profile, configs);
    }
    Workload w;
    w.prompts = load_prompt_subset(o);
    const std::string target_path = resolve_model_name(o.target, o.shared);
    const Model& target = build_hierarchies(o, engine, target_path, configs);
    Context ctx(target, engine.pool());
    tokenize(o, target, w);

    Samplers sampler_for;
    sampler_for.params.temperature = (float)o.temp;
    sampler_for.params.top_k = 0;
    sampler_for.params.top_p = 1.0f;
    sampler_for.params.min_p = 0.0f;
    sampler_for.params.seed = o.seed;
    sampler_for.params.validate();
    sampler_for.n_vocab = target.config().n_vocab;

    fmt::print(stderr,
               "target {}, {} prompts from {} ({} cut to fit), {} tokens each, temp {}, {} threads, {} configs\n",
               target_path, w.prompts.size(), o.prompts, w.cut, o.n_predict, o.temp, engine.threads(), configs.size());
    warm_up(o, ctx, configs, sampler_for, w.tokens[0]);
    const Totals t = run_prompts(o, ctx, configs, sampler_for, w);

    const double ar_tps = t.ar_tps();
    nlohmann::json jconfigs = report(o, configs, target, w.prompts.size(), engine.threads(), ar_tps);
    nlohmann::json jpred;
    if (!o.profile.empty()) jpred = planner_report(o, profile, plan_text, configs, ar_tps);
    if (!o.json_out.empty()) write_json(o, target_path, w, t, engine.threads(), std::move(jconfigs), std::move(jpred));
    if (!o.tsv_out.empty()) write_tsv(o, configs, ar_tps, o.profile.empty() ? 0.0 : 1e3 / profile.target_draft_ms);
    return t.greedy_mismatch_prompts;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (const std::optional<int> status = parse_command_line(argc, argv, o)) return *status;
    int greedy_mismatch_prompts = 0;
    try {
        greedy_mismatch_prompts = run(o);
    } catch (const std::exception& e) {  // hsd::Error included
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
    if (greedy_mismatch_prompts > 0) {
        fmt::print(stderr, "ERROR: {} prompt(s) with greedy speculative output different from autoregressive output\n",
                   greedy_mismatch_prompts);
        return 1;
    }
    return 0;
}
