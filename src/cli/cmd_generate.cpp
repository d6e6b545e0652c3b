// `hsd generate -m MODEL.gguf -p "prompt" -n 128 [sampling flags] [--json]`: streams the
// continuation to stdout, then timings to stderr (llama.cpp's flag names and defaults).
// Speculative decoding: `--draft D.gguf [--draft-max N]`, `--hierarchy a.gguf:3,b.gguf:6`,
// `--draft-ngram N` (alone or as the bottom level), `--compare-ar` (docs/SPECULATIVE.md).
// This file maps flags to a SessionOptions and streams; cli/generate_output.h prints the rest.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/generate_output.h"
#include "common/error.h"
#include "common/paths.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "tokenizer/utf8_stream.h"

namespace hsd::cli {

namespace {

struct GenerateOptions {
    std::string model, prompt, prompt_file, drafts;
    int n_predict = 128;
    int64_t n_ctx = 0;
    int threads = 0;
    bool no_repack = false;
    SamplingParams sampling;
    int64_t seed = -1;
    bool json = false, ignore_eos = false, no_display_prompt = false, verbose = false;
    DecodingRequest decoding;
    bool compare_ar = false;
};

// The CLI's own checks (where the prompt comes from, what --compare-ar compares), then one
// Session checks the rest and does the work; --compare-ar runs a second, autoregressive session on the same engine
// (the target is loaded once).
void run_generate(GenerateOptions o) {
    if (!o.prompt_file.empty()) {
        if (!o.prompt.empty()) fail("give the prompt with -p or -f, not both");
        o.prompt = read_file_or_fail(o.prompt_file, "-f");
    }
    o.decoding.auto_drafts = split_list(o.drafts);
    if (o.compare_ar && !o.decoding.speculative())
        fail("--compare-ar needs a speculative mode (--draft, --hierarchy, --draft-ngram, --hispec, --self-spec or "
             "--plan)");
    o.sampling.seed = o.seed >= 0 ? (uint64_t)o.seed
                                  : (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count();

    Model::set_repack_default(!o.no_repack);
    Engine engine({.threads = o.threads});
    SessionOptions so;
    so.model = o.model;
    so.n_ctx = o.n_ctx;
    so.sampling = o.sampling;
    so.decoding = o.decoding;
    // --verbose: the plan over time, as it happens (the same events as --json's plan.history).
    if (o.verbose && o.decoding.is_auto()) so.on_plan_event = print_plan_event;
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
    if (r.plan && r.plan->file.empty() && !o.json) print_auto_plan_summary(*r.plan);

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
        const nlohmann::json j = generate_json(o.model, session, r, o.compare_ar ? &ar : nullptr);
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
    }
    const std::string tail = stream.flush();
    std::fputs(tail.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    print_text_report(session, r, o.compare_ar ? &ar : nullptr);
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
    cmd->add_flag("--no-repack", o.no_repack,
                  "Keep weights in the file's layout instead of repacking them at load: faster load, slower "
                  "decode and verification (docs/ARCHITECTURE.md, \"Repacked quantized weights\")");
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
