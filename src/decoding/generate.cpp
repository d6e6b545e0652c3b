#include "decoding/generate.h"

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

GenerationResult generate(Context& ctx, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                          bool ignore_eos, const std::function<void(TokenId)>& on_token) {
    if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
    if ((int64_t)prompt.size() >= ctx.n_ctx())
        fail(fmt::format("the prompt has {} tokens but the context size is {}: it must be shorter (use -c to raise it, "
                         "up to the model's {})",
                         prompt.size(), ctx.n_ctx(), ctx.model().config().n_ctx_train));
    GenerationResult r;
    r.prompt_tokens = prompt;
    r.stop_reason = "length";
    const TokenId eos = ctx.model().tokenizer().eos_id();

    ctx.truncate(0);
    const double t0 = now_seconds();
    const float* logits = ctx.eval(prompt, false);
    const double t1 = now_seconds();
    r.prompt_seconds = t1 - t0;

    for (int i = 0; i < n_predict; ++i) {
        const TokenId tok = sampler.sample(logits);
        if (tok == eos && !ignore_eos) {
            r.stop_reason = "eos";
            break;
        }
        r.tokens.push_back(tok);
        if (on_token) on_token(tok);
        if (i + 1 == n_predict) break;
        if (ctx.n_past() + 1 > ctx.n_ctx()) {
            r.stop_reason = "context";
            break;
        }
        logits = ctx.eval(&tok, 1, false);
    }
    r.generation_seconds = now_seconds() - t1;
    return r;
}

}  // namespace hsd
