#pragma once
// Sub-commands of the `hsd` program; each registers its options on the CLI11 app.
#include <CLI/CLI.hpp>

#include "engine/decoding_request.h"
#include "sampling/sampler.h"

namespace hsd::cli {

// --temp, --top-k, --top-p, --min-p (llama.cpp's names) for commands that sample.
inline void add_sampling_options(CLI::App* cmd, SamplingParams& s) {
    cmd->add_option("--temp", s.temperature, "Temperature (0 = greedy)")->capture_default_str();
    cmd->add_option("--top-k", s.top_k, "Top-k (0 = off)")->capture_default_str();
    cmd->add_option("--top-p", s.top_p, "Top-p (1 = off)")->capture_default_str();
    cmd->add_option("--min-p", s.min_p, "Min-p (0 = off)")->capture_default_str();
}

// --draft, --draft-max, --hierarchy, --draft-ngram, --plan, --drafts, --hispec, --self-spec and
// the early-exit flags, for commands that decode (generate, serve). `drafts` receives --drafts.
void add_decoding_options(CLI::App* cmd, DecodingRequest& d, std::string& drafts);

void register_info(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_generate(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);
void register_quantize(CLI::App& app);
void register_serve(CLI::App& app);

}  // namespace hsd::cli
