// bench_speculative: generation speed of (hierarchical) speculative decoding against plain
// autoregressive decoding, for a list of hierarchy configurations on a prompt set, with the
// per-level counters of docs/SPECULATIVE.md summed over the prompts.
//
//   bench_speculative --target PATH --prompts FILE [--n-prompts 20] [--skip-prompts 0] [--stride 1]
//                     [--n-predict 128] [--temp 0] [--seed 1] [--configs "m1:5;m0:3,m1:6;@4:4"]
//                     [--threads N] [--shared DIR] [--label NAME] [--warmup 16]
//                     [--json-out F] [--tsv-out F] [--profile profile.json [--add-plan]]
//
// --configs: ';'-separated hierarchies in the --hierarchy syntax (level_spec.h). A model item
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
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/strings.h"
#include "decoding/generate.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "prompts/prompt_set.h"
#include "sampling/sampler.h"
#include "speculative/hierarchy.h"
#include "speculative/level_spec.h"
#include "planner/optimizer.h"
#include "planner/plan_file.h"
#include "planner/profile.h"

using namespace hsd;

namespace {

const char* kDefaultConfigs =
    "m0:3;m0:5;m1:3;m1:5;m2:3;m2:5;ngram3:5;m0:2,m1:5;m0:3,m1:6;m0:4,m1:8;m0:3,m2:6;m1:3,m2:6;"
    "ngram3:3,m1:5;ngram3:3,m0:4;m0:3,m1:6,m2:12;m0:2,m1:4,m2:8;ngram3:3,m0:3,m1:6";

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

struct LevelSum {
    std::string name;
    int depth = 0, threshold = 0;
    int64_t draft_n = 0, draft_n_accepted = 0, n_drafts = 0, n_forward = 0, layer_evals = 0;
    double seconds = 0;
    int64_t origin_n[2] = {0, 0}, origin_accepted[2] = {0, 0};
    int64_t position_n[LevelStats::kPositions] = {}, position_accepted[LevelStats::kPositions] = {};

    void add(const LevelStats& s) {
        name = s.name;
        depth = s.depth;
        threshold = s.threshold;
        draft_n += s.draft_n;
        draft_n_accepted += s.draft_n_accepted;
        n_drafts += s.n_drafts;
        n_forward += s.n_forward;
        layer_evals += s.layer_evals;
        seconds += s.seconds;
        for (int o = 0; o < 2; ++o) {
            origin_n[o] += s.origin_n[o];
            origin_accepted[o] += s.origin_accepted[o];
        }
        for (int k = 0; k < LevelStats::kPositions; ++k) {
            position_n[k] += s.position_n[k];
            position_accepted[k] += s.position_accepted[k];
        }
    }
    double origin_rate(int o) const { return origin_n[o] > 0 ? (double)origin_accepted[o] / (double)origin_n[o] : -1; }
    double acceptance_rate() const { return draft_n > 0 ? (double)draft_n_accepted / (double)draft_n : 0.0; }
    double mean_accepted_length() const {
        return n_drafts > 0 ? 1.0 + (double)draft_n_accepted / (double)n_drafts : 0.0;
    }
};

struct Config {
    std::string text;                      // as given in --configs
    std::vector<LevelRequest> requests;    // model names resolved to paths
    std::unique_ptr<Hierarchy> hierarchy;
    std::vector<bool> target_view;         // per level (target last): a view of the target's layers
    int64_t tokens = 0;
    double seconds = 0;
    int mismatches = 0;
    std::vector<LevelSum> levels;
    std::vector<int64_t> prompt_tokens;    // per prompt
    std::vector<double> prompt_seconds;
    bool predicted = false;                // the profile can cost it
    hsd::planner::Prediction prediction;
    hsd::planner::Prediction other;        // the other acceptance model (two-type / i.i.d.)
    std::vector<double> alpha;             // profiled acceptance of each level by the one above

    double tps() const { return seconds > 0 ? (double)tokens / seconds : 0.0; }
};

[[noreturn]] void usage_error(const std::string& msg) {
    fmt::print(stderr, "error: {}\n", msg);
    fmt::print(stderr,
               "usage: bench_speculative --target PATH --prompts FILE [--n-prompts 20] [--skip-prompts 0] [--stride 1] "
               "[--n-predict 128] [--temp 0] [--seed 1] [--configs \"m1:5;m0:3,m1:6;@4:4\"] [--threads N] "
               "[--shared DIR] [--label NAME] [--warmup 16] [--json-out F] [--tsv-out F] [--profile F [--add-plan] [--conditional]]\n");
    std::exit(2);
}

int to_int(const std::string& flag, const std::string& v) {
    int x = 0;
    if (!parse_int(v, &x)) usage_error(fmt::format("{}: '{}' is not an integer", flag, v));
    return x;
}

double to_double(const std::string& flag, const std::string& v) {
    size_t used = 0;
    double x = 0;
    try {
        x = std::stod(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (v.empty() || used != v.size()) usage_error(fmt::format("{}: '{}' is not a number", flag, v));
    return x;
}

uint64_t to_u64(const std::string& flag, const std::string& v) {
    size_t used = 0;
    uint64_t x = 0;
    try {
        x = std::stoull(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (v.empty() || v[0] == '-' || used != v.size())
        usage_error(fmt::format("{}: '{}' is not a non-negative integer", flag, v));
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    std::string target_arg, prompts_path, configs_arg = kDefaultConfigs, shared = "../shared", label, json_out,
                                                  tsv_out, profile_path;
    bool add_plan = false, conditional = false;
    int n_prompts = 20, skip_prompts = 0, stride = 1, n_predict = 128, threads = ThreadPool::default_threads(), warmup = 16;
    double temp = 0.0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", a));
            return argv[++i];
        };
        if (a == "--target") target_arg = next();
        else if (a == "--prompts") prompts_path = next();
        else if (a == "--n-prompts") n_prompts = to_int(a, next());
        else if (a == "--skip-prompts") skip_prompts = to_int(a, next());
        else if (a == "--stride") stride = to_int(a, next());
        else if (a == "--n-predict") n_predict = to_int(a, next());
        else if (a == "--temp") temp = to_double(a, next());
        else if (a == "--seed") seed = to_u64(a, next());
        else if (a == "--configs") configs_arg = next();
        else if (a == "--threads") threads = to_int(a, next());
        else if (a == "--shared") shared = next();
        else if (a == "--label") label = next();
        else if (a == "--warmup") warmup = to_int(a, next());
        else if (a == "--json-out") json_out = next();
        else if (a == "--tsv-out") tsv_out = next();
        else if (a == "--profile") profile_path = next();
        else if (a == "--add-plan") add_plan = true;
        else if (a == "--conditional") conditional = true;
        else if (a == "-h" || a == "--help") usage_error("bench_speculative: speculative decoding benchmark");
        else usage_error(fmt::format("unknown option {}", a));
    }
    if (target_arg.empty()) usage_error("--target is required");
    if (add_plan && profile_path.empty()) usage_error("--add-plan needs --profile");
    if (prompts_path.empty()) usage_error("--prompts is required");
    if (n_prompts < 1 || skip_prompts < 0 || n_predict < 1 || threads < 1 || warmup < 0 || temp < 0)
        usage_error("--n-prompts, --n-predict and --threads must be >= 1; --skip-prompts, --warmup and --temp >= 0");
    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += fmt::format("{}{}", i ? " " : "", shell_quote(argv[i]));

    int greedy_mismatch_prompts = 0;
    try {
        // --- configurations (parsed before anything is loaded, so text errors come first) ---
        std::vector<Config> configs;
        for (const std::string& text : split_configs(configs_arg)) {
            Config c;
            c.text = text;
            c.requests = parse_level_list(text, "--configs");
            for (LevelRequest& r : c.requests)
                if (r.kind == LevelRequest::Kind::Model) r.path = resolve_model_name(r.path, shared);
            configs.push_back(std::move(c));
        }
        if (configs.empty()) fail("--configs: no configuration given");

        // --- the planner's view (optional) ---
        planner::Profile profile;
        planner::Problem problem, other_problem;  // the chosen acceptance model and the other one
        std::string plan_text;
        if (!profile_path.empty()) {
            profile = planner::load_profile(profile_path);
            problem = planner::make_problem(profile, conditional);
            other_problem = planner::make_problem(profile, !conditional);
            if (add_plan) {
                size_t n_best = 0;
                const auto table = planner::plan_table(problem, 16, 1, &n_best);
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
        }

        // --- prompts ---
        if (stride < 1) fail(fmt::format("--stride must be >= 1, got {}", stride));
        const std::vector<Prompt> all =
            load_prompts(prompts_path, (size_t)skip_prompts + (size_t)n_prompts * (size_t)stride);
        if (all.size() <= (size_t)skip_prompts)
            fail(fmt::format("'{}' has {} prompts, none left after --skip-prompts {}", prompts_path, all.size(),
                             skip_prompts));
        std::vector<Prompt> prompts;  // every stride-th prompt from skip on (spreads over a file's categories)
        for (size_t i = (size_t)skip_prompts; i < all.size() && prompts.size() < (size_t)n_prompts; i += (size_t)stride)
            prompts.push_back(all[i]);
        if (prompts.size() < (size_t)n_prompts)
            fmt::print(stderr, "note: '{}' has only {} prompts after skipping {}; using them all\n", prompts_path,
                       prompts.size(), skip_prompts);

        // --- models ---
        const std::string target_path = resolve_model_name(target_arg, shared);
        auto target = Model::load(target_path);
        const Tokenizer& tok = target->tokenizer();
        const int64_t n_ctx = target->config().n_ctx_train;
        if (n_predict + 2 > n_ctx)
            fail(fmt::format("--n-predict {} leaves no room for a prompt in the target's context of {} tokens",
                             n_predict, n_ctx));
        ThreadPool pool(threads);
        ModelCache models;
        for (Config& c : configs) {
            if (c.requests.empty()) fail(fmt::format("configuration '{}' has no levels", c.text));
            c.hierarchy = std::make_unique<Hierarchy>(*target, resolve_levels(c.requests, models), pool);
            for (const LevelRequest& r : c.requests) c.target_view.push_back(r.kind == LevelRequest::Kind::Exit);
            c.target_view.push_back(true);  // the target itself
        }
        Context ctx(*target, pool);

        // --- tokenize, keeping the last tokens that fit (after BOS) ---
        const size_t max_prompt = (size_t)(n_ctx - n_predict);
        int prompts_cut = 0;
        std::vector<std::vector<TokenId>> prompt_tokens;
        for (const Prompt& p : prompts) {
            std::vector<TokenId> t = tok.encode(p.text, tok.add_bos_default());
            if (t.size() > max_prompt) {
                ++prompts_cut;
                const size_t keep_head = (tok.add_bos_default() && !t.empty() && t[0] == tok.bos_id()) ? 1 : 0;
                std::vector<TokenId> cut(t.begin(), t.begin() + (std::ptrdiff_t)keep_head);
                cut.insert(cut.end(), t.end() - (std::ptrdiff_t)(max_prompt - keep_head), t.end());
                t = std::move(cut);
            }
            if (t.empty()) fail(fmt::format("prompt '{}' of '{}' has no tokens", p.id, prompts_path));
            prompt_tokens.push_back(std::move(t));
        }

        SamplingParams sp;
        sp.temperature = (float)temp;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.validate();
        const bool greedy = sp.greedy();
        const int n_vocab = target->config().n_vocab;
        auto sampler_for = [&](size_t i) {
            SamplingParams s = sp;
            s.seed = seed + i;
            return Sampler(s, n_vocab);
        };

        fmt::print(stderr, "target {}, {} prompts from {} ({} cut to fit), {} tokens each, temp {}, {} threads, {} configs\n",
                   target_path, prompts.size(), prompts_path, prompts_cut, n_predict, temp, pool.size(),
                   configs.size());

        // --- warm-up (not counted) ---
        if (warmup > 0) {
            const int n = std::min(warmup, n_predict);
            Sampler s0 = sampler_for(0);
            generate(ctx, s0, prompt_tokens[0], n, false);
            for (Config& c : configs) {
                Sampler s = sampler_for(0);
                generate_speculative(*c.hierarchy, s, prompt_tokens[0], n, false);
            }
        }

        // --- the runs ---
        int64_t ar_tokens = 0;
        double ar_seconds = 0;
        nlohmann::json per_prompt = nlohmann::json::array();
        for (size_t i = 0; i < prompts.size(); ++i) {
            const std::vector<TokenId>& prompt = prompt_tokens[i];
            Sampler ar_sampler = sampler_for(i);
            const GenerationResult ar = generate(ctx, ar_sampler, prompt, n_predict, false);
            ar_tokens += (int64_t)ar.tokens.size();
            ar_seconds += ar.generation_seconds;
            const double ar_tps = ar.generation_tokens_per_second();

            nlohmann::json pj = {{"id", prompts[i].id},
                                 {"prompt_tokens", prompt.size()},
                                 {"autoregressive", {{"tokens", ar.tokens.size()}, {"seconds", ar.generation_seconds}}}};
            nlohmann::json pc = nlohmann::json::array();
            double best = 0;
            std::string best_name;
            for (Config& c : configs) {
                Sampler s = sampler_for(i);
                const SpeculativeResult r = generate_speculative(*c.hierarchy, s, prompt, n_predict, false);
                c.tokens += (int64_t)r.tokens.size();
                c.seconds += r.generation_seconds;
                c.prompt_tokens.push_back((int64_t)r.tokens.size());
                c.prompt_seconds.push_back(r.generation_seconds);
                if (c.levels.size() != r.levels.size()) c.levels.resize(r.levels.size());
                for (size_t l = 0; l < r.levels.size(); ++l) c.levels[l].add(r.levels[l]);
                const double tps = r.generation_tokens_per_second();
                const double speedup = ar_tps > 0 ? tps / ar_tps : 0.0;
                if (speedup > best) {
                    best = speedup;
                    best_name = c.text;
                }
                bool mismatch = false;
                if (greedy && r.tokens != ar.tokens) {
                    mismatch = true;
                    ++c.mismatches;
                    size_t at = 0;
                    while (at < r.tokens.size() && at < ar.tokens.size() && r.tokens[at] == ar.tokens[at]) ++at;
                    fmt::print(stderr,
                               "ERROR: GREEDY MISMATCH: config '{}' on prompt {} ('{}'): {} speculative vs {} "
                               "autoregressive tokens, first difference at generated token {}\n",
                               c.text, skip_prompts + (int)i * stride, prompts[i].id, r.tokens.size(), ar.tokens.size(), at);
                }
                pc.push_back({{"hierarchy", c.text},
                              {"tokens", r.tokens.size()},
                              {"seconds", r.generation_seconds},
                              {"greedy_mismatch", mismatch}});
            }
            pj["configs"] = pc;
            per_prompt.push_back(pj);
            bool any_mismatch = false;
            for (const auto& e : pc) any_mismatch = any_mismatch || e["greedy_mismatch"].get<bool>();
            if (any_mismatch) ++greedy_mismatch_prompts;
            fmt::print(stderr, "[{}/{}] {}: {} prompt tokens, ar {} tokens {:.1f} tok/s ({}), best {:.2f}x ({})\n", i + 1,
                       prompts.size(), prompts[i].id, prompt.size(), ar.tokens.size(), ar_tps, ar.stop_reason, best,
                       best_name);
        }

        // --- report ---
        const double ar_tps = ar_seconds > 0 ? (double)ar_tokens / ar_seconds : 0.0;
        size_t width = 14;
        for (const Config& c : configs) width = std::max(width, c.text.size());
        fmt::print("{} prompts x {} tokens, temp {}, {} threads{}{}\n", prompts.size(), n_predict, temp, pool.size(),
                   label.empty() ? "" : ", ", label);
        fmt::print("{:<{}} {:>8} {:>7}  levels (name T acceptance% mean-accepted-length), target layers/token\n",
                   "config", width, "tok/s", "speedup");
        fmt::print("{:<{}} {:>8.1f} {:>6.2f}x\n", "autoregressive", width, ar_tps, 1.0);
        nlohmann::json jconfigs = nlohmann::json::array();
        for (const Config& c : configs) {
            const double speedup = ar_tps > 0 ? c.tps() / ar_tps : 0.0;
            int64_t view_evals = 0;
            std::string levels_text;
            nlohmann::json jl = nlohmann::json::array();
            for (size_t l = 0; l < c.levels.size(); ++l) {
                const LevelSum& s = c.levels[l];
                if (c.target_view[l]) view_evals += s.layer_evals;
                if (l + 1 < c.levels.size())  // the target proposes nothing
                    levels_text += fmt::format("{}{} T{} {}", levels_text.empty() ? "" : " | ", short_name(s.name),
                                               s.threshold,
                                               s.draft_n > 0 ? fmt::format("{:.0f}% {:.2f}", 100.0 * s.acceptance_rate(),
                                                                           s.mean_accepted_length())
                                                             : std::string("-"));
                jl.push_back({{"name", s.name},
                              {"depth", s.depth},
                              {"threshold", s.threshold},
                              {"draft_n", s.draft_n},
                              {"draft_n_accepted", s.draft_n_accepted},
                              {"n_drafts", s.n_drafts},
                              {"acceptance_rate", s.acceptance_rate()},
                              {"mean_accepted_length", s.mean_accepted_length()},
                              {"n_forward", s.n_forward},
                              {"seconds", s.seconds},
                              {"layer_evals", s.layer_evals}});
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
                                {"levels", jl}});
        }
        fmt::print("(target layers/token: layer evaluations of the target and its early exits per generated token; "
                   "autoregressive = {})\n",
                   target->config().n_layer);

        // Planner predictions against the measurements.
        nlohmann::json jpred;
        if (!profile_path.empty()) {
            const double ar_pred = 1e3 / profile.target_draft_ms;
            fmt::print("\nplanner ({}): predicted vs measured tokens/s; autoregressive predicted {:.1f}, measured {:.1f} "
                       "({:+.1f}%)\n",
                       profile_path, ar_pred, ar_tps, 100.0 * (ar_pred / ar_tps - 1));
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
                nlohmann::json jl = nlohmann::json::array();
                for (size_t l = 0; l + 1 < c.levels.size(); ++l) {
                    const LevelSum& s = c.levels[l];
                    auto pct = [](double r) { return r < 0 ? std::string("-") : fmt::format("{:.0f}%", 100 * r); };
                    lv += fmt::format("{}{:.2f}/{:.2f} {}|{}", l ? "  " : "", c.alpha[l], s.acceptance_rate(),
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
                           100 * sum_abs / n, 100 * sum_abs_x / n, 100 * max_abs, n, conditional ? "two-type" : "i.i.d.",
                           conditional ? "i.i.d." : "two-type", 100 * sum_abs_other / n);
            }
            jpred = {{"profile", profile_path},
                     {"autoregressive_predicted_tokens_per_second", ar_pred},
                     {"acceptance_model", conditional ? "two-type" : "iid"},
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
        }

        if (!json_out.empty()) {
            nlohmann::json out = {{"label", label},
                                  {"target", target_path},
                                  {"prompts", prompts_path},
                                  {"n_prompts", prompts.size()},
                                  {"skip_prompts", skip_prompts},
                                  {"n_predict", n_predict},
                                  {"temp", temp},
                                  {"seed", seed},
                                  {"threads", pool.size()},
                                  {"prompts_cut", prompts_cut},
                                  {"greedy_mismatch_prompts", greedy_mismatch_prompts},
                                  {"autoregressive",
                                   {{"tokens", ar_tokens}, {"seconds", ar_seconds}, {"tokens_per_second", ar_tps}}},
                                  {"configs", jconfigs},
                                  {"per_prompt", per_prompt},
                                  {"planner", jpred},
                                  {"command_line", command_line}};
            std::ofstream f(json_out);
            if (!f) fail(fmt::format("cannot write '{}'", json_out));
            f << out.dump(2) << "\n";
            fmt::print(stderr, "wrote {}\n", json_out);
        }
        if (!tsv_out.empty()) {
            std::ofstream f(tsv_out);
            if (!f) fail(fmt::format("cannot write '{}'", tsv_out));
            f << "config\tspeedup\ttokens_per_second\tpredicted_tokens_per_second\n";
            f << fmt::format("autoregressive\t1\t{:.3f}\t{:.3f}\n", ar_tps,
                             profile_path.empty() ? 0.0 : 1e3 / profile.target_draft_ms);
            for (const Config& c : configs)
                f << fmt::format("{}\t{:.4f}\t{:.3f}\t{:.3f}\n", c.text, ar_tps > 0 ? c.tps() / ar_tps : 0.0, c.tps(),
                                 c.predicted ? c.prediction.tokens_per_second : 0.0);
            fmt::print(stderr, "wrote {}\n", tsv_out);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
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
