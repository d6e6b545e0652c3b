#include "cli/generate_output.h"

#include <fmt/format.h>

#include "engine/report.h"

namespace hsd::cli {

nlohmann::json generate_json(const std::string& model_path, const Session& s, const SessionResult& r,
                             const GenerationResult* ar) {
    const Tokenizer& tok = s.tokenizer();
    const SamplingParams& sp = s.options().sampling;
    nlohmann::json j;
    j["model"] = model_path;
    j["prompt_tokens"] = r.prompt_tokens;
    j["tokens"] = r.tokens;
    j["text"] = tok.decode(r.tokens);
    j["stop_reason"] = r.stop_reason;
    j["seed"] = sp.seed;
    j["sampling"] = {{"temperature", json_float(sp.temperature)}, {"top_k", sp.top_k},
                     {"top_p", json_float(sp.top_p)}, {"min_p", json_float(sp.min_p)}};
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
    return j;
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

void print_plan_event(const nlohmann::json& e) {
    std::string acc;
    for (const auto& [name, a] : e["accept"].items()) acc += fmt::format(" {}={:.2f}", name, a.get<double>());
    fmt::print(stderr, "\n[plan] token {:4} step {:3}: {} (predicted {:.0f} tokens/s{}); acceptance by the target:{}\n",
               e["token"].get<int64_t>(), e["step"].get<int64_t>(), e["hierarchy"].get<std::string>(),
               e["predicted_tokens_per_second"].get<double>(),
               e.contains("previous_predicted_tokens_per_second")
                   ? fmt::format(", the previous plan now {:.0f}", e["previous_predicted_tokens_per_second"].get<double>())
                   : std::string(),
               acc);
}

void print_auto_plan_summary(const PlanSummary& p) {
    fmt::print(stderr, "\nauto plan: {} at the end, {} switch(es) (costs: cache {}, {:.2f} s; no acceptance profiling)\n",
               p.hierarchy, p.history.size() > 0 ? p.history.size() - 1 : 0, p.cost_cache, p.profile_seconds);
}

}  // namespace hsd::cli
