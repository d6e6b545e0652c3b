// `hsd generate -m MODEL.gguf -p "prompt" -n 128 [sampling flags] [--json]`: streams the
// continuation to stdout, then timings to stderr (llama.cpp's flag names and defaults).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "decoding/generate.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
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
};

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
    o.sampling.seed = o.seed >= 0 ? (uint64_t)o.seed
                                  : (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count();
    o.sampling.validate();

    auto model = Model::load(o.model);
    const ModelConfig& c = model->config();
    if (o.n_ctx < 0 || o.n_ctx > c.n_ctx_train)
        fail(fmt::format("-c {} is out of range: {} supports contexts up to {} tokens", o.n_ctx, o.model, c.n_ctx_train));
    ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
    Context ctx(*model, pool, o.n_ctx);
    const Tokenizer& tok = model->tokenizer();
    const std::vector<TokenId> prompt = tok.encode(o.prompt, tok.add_bos_default());
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
    const GenerationResult r = generate(ctx, sampler, prompt, o.n_predict, o.ignore_eos, on_token);

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
    cmd->add_option("--temp", o.sampling.temperature, "Temperature (0 = greedy)")->capture_default_str();
    cmd->add_option("--top-k", o.sampling.top_k, "Top-k (0 = off)")->capture_default_str();
    cmd->add_option("--top-p", o.sampling.top_p, "Top-p (1 = off)")->capture_default_str();
    cmd->add_option("--min-p", o.sampling.min_p, "Min-p (0 = off)")->capture_default_str();
    cmd->add_option("-s,--seed", o.seed, "Random seed (-1 = random)")->capture_default_str();
    cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past the end-of-sequence token");
    cmd->add_flag("--no-display-prompt", o.no_display_prompt, "Do not echo the prompt before the continuation");
    cmd->add_flag("--json", o.json, "Print token ids, text and timings as one JSON object");
    cmd->callback([] { run_generate(o); });
}

}  // namespace hsd::cli
