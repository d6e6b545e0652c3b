#include "decoding/generate.h"

#include <algorithm>
#include <fmt/format.h>

#include "common/error.h"
#include "common/timer.h"

namespace hsd {

double GenerationResult::prompt_tokens_per_second() const {
    return prompt_seconds > 0 ? (double)prompt_tokens.size() / prompt_seconds : 0.0;
}

double GenerationResult::generation_tokens_per_second() const {
    return generation_seconds > 0 ? (double)tokens.size() / generation_seconds : 0.0;
}

namespace {
// The one prompt check of every decoding mode (n_ctx_train, the model's limit, is named).
void check_prompt_fits(const std::vector<TokenId>& prompt, int64_t n_ctx, int64_t n_ctx_train) {
    if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
    if ((int64_t)prompt.size() >= n_ctx)
        fail(fmt::format("the prompt has {} tokens but the context size is {}: it must be shorter (use -c to raise it, "
                         "up to the model's {})",
                         prompt.size(), n_ctx, n_ctx_train));
}
}  // namespace

Generation::Generation(Decoder& decoder, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                       bool ignore_eos)
    : d_(decoder), sampler_(sampler), n_predict_(n_predict), ignore_eos_(ignore_eos) {
    const Model& target = d_.target();
    check_prompt_fits(prompt, d_.n_ctx(), target.config().n_ctx_train);
    r_.prompt_tokens = prompt;
    const double t0 = now_seconds();
    d_.start(prompt);
    t_prefilled_ = now_seconds();
    r_.prompt_seconds = t_prefilled_ - t0;
    // Every token but the last is evaluated, so at most n_ctx positions hold n_ctx - P + 1 tokens.
    limit_ = std::min<int64_t>(n_predict, d_.n_ctx() - (int64_t)prompt.size() + 1);
    if (limit_ <= 0) stop("length");
}

const std::vector<TokenId>& Generation::step() {
    HSD_ASSERT(!done_, "a finished generation was stepped");
    added_.clear();
    const int64_t remaining = limit_ - (int64_t)r_.tokens.size();
    const int64_t fits = d_.n_ctx() - d_.sequence_length() + 1;
    for (TokenId tok : d_.step(sampler_, (int)std::min(remaining, fits))) {
        if (!ignore_eos_ && d_.target().tokenizer().is_eog(tok)) {  // any end-of-generation token
            d_.finish((int64_t)(r_.prompt_tokens.size() + r_.tokens.size()));
            stop("eos");
            return added_;
        }
        r_.tokens.push_back(tok);
        added_.push_back(tok);
    }
    if ((int64_t)r_.tokens.size() >= limit_) stop((int64_t)r_.tokens.size() < n_predict_ ? "context" : "length");
    return added_;
}

void Generation::stop(const char* reason) {
    done_ = true;
    r_.stop_reason = reason;
    r_.generation_seconds = now_seconds() - t_prefilled_;
    r_.levels = d_.level_stats();
}

namespace {
SpeculativeResult run(Decoder& d, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                      bool ignore_eos, const std::function<void(TokenId)>& on_token) {
    Generation g(d, sampler, prompt, n_predict, ignore_eos);
    while (!g.done())
        for (TokenId t : g.step())
            if (on_token) on_token(t);
    return g.result();
}
}  // namespace

GenerationResult generate(Context& ctx, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                          bool ignore_eos, const std::function<void(TokenId)>& on_token) {
    AutoregressiveDecoder d(ctx);
    return run(d, sampler, prompt, n_predict, ignore_eos, on_token);
}

SpeculativeResult generate_speculative(Hierarchy& h, Sampler& sampler, const std::vector<TokenId>& prompt,
                                       int n_predict, bool ignore_eos, const std::function<void(TokenId)>& on_token) {
    SpeculativeDecoder d(h);
    return run(d, sampler, prompt, n_predict, ignore_eos, on_token);
}

}  // namespace hsd
