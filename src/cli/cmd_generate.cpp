// `hsd generate -m MODEL.gguf -p "prompt" -n 128 [sampling flags] [--json]`: streams the
// continuation to stdout, then timings to stderr (llama.cpp's flag names and defaults).
// Speculative decoding: `--draft D.gguf [--draft-max N]`, `--hierarchy a.gguf:3,b.gguf:6`,
// `--draft-ngram N` (alone or as the bottom level), `--compare-ar` (docs/SPECULATIVE.md).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "engine/report.h"
#include "tokenizer/utf8_stream.h"

namespace hsd::cli {

namespace {

struct GenerateOptions {
    std::string model, prompt, prompt_file, drafts;
    int n_predict = 128;
    int64_t n_ctx = 0;
    int threads = 0;
    SamplingParams sampling;
    int64_t seed = -1;
    bool json = false, ignore_eos = false, no_display_prompt = false, verbose = false;
    DecodingRequest decoding;
    bool compare_ar = false;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(fmt::format("cannot read prompt file '{}'", path));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void print_json(const GenerateOptions& o, const Session& s, const SessionResult& r, const GenerationResult* ar) {
    const Tokenizer& tok = s.tokenizer();
    nlohmann::json j;
    j["model"] = o.model;
    j["prompt_tokens"] = r.prompt_tokens;
    j["tokens"] = r.tokens;
    j["text"] = tok.decode(r.tokens);
    j["stop_reason"] = r.stop_reason;
    j["seed"] = o.sampling.seed;
    j["sampling"] = {{"temperature", json_float(o.sampling.temperature)}, {"top_k", o.sampling.top_k},
                     {"top_p", json_float(o.sampling.top_p)}, {"min_p", json_float(o.sampling.min_p)}};
    j["threads"] = s.threads();
    j["timings"] = timings_json(r);
    if (r.plan) j["plan"] = r.plan->to_json();
    if (!r.levels.empty()) {
        const int64_t evals = total_layer_evals(r.levels);
        j["speculative"] = {{"levels", levels_json(r.levels)},
                            {"hierarchy", r.hierarchy},
                            {"layer_evals", evals},
                            {"layer_evals_per_token", r.tokens.empty() ? 0.0 : (double)evals / (double)r.tokens.size()}};
    }
    if (ar) {
        const double ar_tps = ar->generation_tokens_per_second();
        j["compare_ar"] = {{"tokens", ar->tokens},
                           {"tokens_identical", ar->tokens == r.tokens},
                           {"predicted_n", ar->tokens.size()},
                           {"predicted_ms", ar->generation_seconds * 1e3},
                           {"predicted_per_second", ar_tps},
                           {"speedup", ar_tps > 0 ? r.generation_tokens_per_second() / ar_tps : 0.0}};
    }
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text_report(const Session& s, const SessionResult& r, const GenerationResult* ar) {
    fmt::print(stderr, "\nprompt:     {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s\n", r.prompt_tokens.size(),
               r.prompt_seconds * 1e3, r.prompt_tokens_per_second());
    fmt::print(stderr, "generation: {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s ({}, {} threads)\n", r.tokens.size(),
               r.generation_seconds * 1e3, r.generation_tokens_per_second(), r.stop_reason, s.threads());
    fmt::print(stderr, "{}", levels_text(r.levels, r.tokens.size(), s.target().config().n_layer));
    if (ar) {
        const double ar_tps = ar->generation_tokens_per_second();
        fmt::print(stderr, "autoregressive: {:5} tokens in {:8.2f} ms = {:8.2f} tokens/s; speedup {:.2f}x; outputs {}\n",
                   ar->tokens.size(), ar->generation_seconds * 1e3, ar_tps,
                   ar_tps > 0 ? r.generation_tokens_per_second() / ar_tps : 0.0,
                   ar->tokens == r.tokens ? "identical" : "differ (expected only when sampling, --temp > 0)");
    }
}

// The CLI's own checks (where the prompt comes from, what --compare-ar compares), then one
// Session checks the rest and does the work; --compare-ar runs a second, autoregressive session on the same engine
// (the target is loaded once).
void run_generate(GenerateOptions o) {
    if (!o.prompt_file.empty()) {
        if (!o.prompt.empty()) fail("give the prompt with -p or -f, not both");
        o.prompt = read_file(o.prompt_file);
    }
    o.decoding.auto_drafts = split_list(o.drafts);
    if (o.compare_ar && !o.decoding.speculative())
        fail("--compare-ar needs a speculative mode (--draft, --hierarchy, --draft-ngram, --hispec, --self-spec or "
             "--plan)");
    o.sampling.seed = o.seed >= 0 ? (uint64_t)o.seed
                                  : (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count();

    Engine engine({.threads = o.threads});
    SessionOptions so;
    so.model = o.model;
    so.n_ctx = o.n_ctx;
    so.sampling = o.sampling;
    so.decoding = o.decoding;
    // --verbose: the plan over time, as it happens (the same events as --json's plan.history).
    if (o.verbose && o.decoding.is_auto())
        so.on_plan_event = [](const nlohmann::json& e) {
            std::string acc;
            for (const auto& [name, a] : e["accept"].items()) acc += fmt::format(" {}={:.2f}", name, a.get<double>());
            fmt::print(stderr, "\n[plan] token {:4} step {:3}: {} (predicted {:.0f} tokens/s{}); acceptance by the target:{}\n",
                       e["token"].get<int64_t>(), e["step"].get<int64_t>(), e["hierarchy"].get<std::string>(),
                       e["predicted_tokens_per_second"].get<double>(),
                       e.contains("previous_predicted_tokens_per_second")
                           ? fmt::format(", the previous plan now {:.0f}",
                                         e["previous_predicted_tokens_per_second"].get<double>())
                           : std::string(),
                       acc);
        };
    Session session(engine, so);
    const std::vector<TokenId> prompt = session.tokenize(o.prompt);
    session.start(prompt, o.n_predict, o.ignore_eos);

    Utf8Stream stream;
    const Tokenizer& tok = session.tokenizer();
    if (!o.json && !o.no_display_prompt) {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    while (!session.done())
        for (TokenId id : session.step()) {
            if (o.json) continue;
            const std::string s = stream.push(tok.token_bytes(id));
            std::fputs(s.c_str(), stdout);
            std::fflush(stdout);
        }
    const SessionResult r = session.result();
    if (r.plan && r.plan->file.empty() && !o.json) {
        const PlanSummary& p = *r.plan;
        fmt::print(stderr, "\nauto plan: {} at the end, {} switch(es) (costs: cache {}, {:.2f} s; no acceptance profiling)\n",
                   p.hierarchy, p.history.size() > 0 ? p.history.size() - 1 : 0, p.cost_cache, p.profile_seconds);
    }

    GenerationResult ar;
    if (o.compare_ar) {
        SessionOptions ao = so;
        ao.decoding = DecodingRequest{};  // same seed: identical output when greedy
        Session ar_session(engine, ao);
        ar_session.start(prompt, o.n_predict, o.ignore_eos);
        while (!ar_session.done()) ar_session.step();
        ar = ar_session.result();
    }
    if (o.json) {
        print_json(o, session, r, o.compare_ar ? &ar : nullptr);
        return;
    }
    const std::string tail = stream.flush();
    std::fputs(tail.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    print_text_report(session, r, o.compare_ar ? &ar : nullptr);
}

}  // namespace

void add_decoding_options(CLI::App* cmd, DecodingRequest& d, std::string& drafts) {
    cmd->add_option("--draft", d.draft, "Draft model for speculative decoding (drafts --draft-max tokens per step)");
    cmd->add_option("--draft-max", d.draft_max, "Tokens drafted per step by --draft and --draft-ngram")
        ->capture_default_str();
    cmd->add_option("--hierarchy", d.hierarchy,
                    "Hierarchical speculative decoding: levels smallest first with their thresholds, e.g. "
                    "a.gguf:3,b.gguf:6,c.gguf:12; a level is a model file, ngramN (prompt lookup) or @K (the "
                    "target's early exit after layer K); auto plans among --drafts, the target's early exits and "
                    "the n-gram drafter, on costs cached per machine and acceptance learned while it generates, "
                    "and re-plans as the text changes");
    cmd->add_option("--draft-ngram", d.draft_ngram,
                    "N-gram (prompt lookup) drafter with suffixes of up to N tokens, proposing up to --draft-max "
                    "tokens; alone, or as the bottom level below --draft / --hierarchy (0 = off)")
        ->capture_default_str();
    cmd->add_option("--plan", d.plan, "Use the hierarchy of a plan written by hsd plan -o");
    cmd->add_option("--drafts", drafts, "--hierarchy auto: candidate draft models besides the target's early exits "
                                          "and the n-gram drafter (comma-separated)");
    cmd->add_flag("--reprofile", d.reprofile,
                  "--hierarchy auto: measure the candidates' forward costs again and refresh the planner cache "
                  "($XDG_CACHE_HOME/hsd, else ~/.cache/hsd)");
    cmd->add_option("--replan-every", d.replan_every,
                    "--hierarchy auto: re-plan every N target steps (0 = keep the first plan)")
        ->capture_default_str();
    cmd->add_flag("--hispec", d.hispec,
                  "HiSpec on an early-exit target: exit --exit-draft drafts --draft-n tokens, exit --exit-verify "
                  "verifies them until --window are tentatively accepted, then the full model validates");
    cmd->add_flag("--self-spec", d.self_spec,
                  "Early-exit self-speculation (LayerSkip): exit --exit-draft drafts --draft-n tokens per step");
    cmd->add_option("--exit-draft", d.hs.exit_draft, "Draft exit layer (0 = the exit nearest 1/8 of the depth)")
        ->capture_default_str();
    cmd->add_option("--exit-verify", d.hs.exit_verify,
                    "Intermediate verifier exit layer (0 = the exit nearest 1/4 of the depth)")
        ->capture_default_str();
    cmd->add_option("--draft-n", d.hs.draft_n, "Tokens drafted per call by the draft exit (0 = 2 for --hispec, 4 for "
                                               "--self-spec)")
        ->capture_default_str();
    cmd->add_option("--window", d.hs.window, "HiSpec: tentatively accepted tokens before the full model validates")
        ->capture_default_str();
}

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
    cmd->add_flag("-v,--verbose", o.verbose, "--hierarchy auto: print every plan as it is put in force (token, "
                                               "hierarchy, predicted tokens/s, acceptance estimates)");
    add_decoding_options(cmd, o.decoding, o.drafts);
    cmd->add_flag("--compare-ar", o.compare_ar,
                  "Also run plain autoregressive decoding with the same settings and report the speedup");
    cmd->callback([] { run_generate(o); });
}

}  // namespace hsd::cli
