#pragma once
// Autoregressive generation: prefill the prompt in one batch, then one token per forward.
// The baseline that speculative decoding must reproduce exactly and beat.
#include <functional>
#include <string>
#include <vector>

#include "model/context.h"
#include "sampling/sampler.h"

namespace hsd {

struct GenerationResult {
    std::vector<TokenId> prompt_tokens;
    std::vector<TokenId> tokens;     // generated tokens (EOS excluded)
    std::string stop_reason;         // "length", "eos" or "context"
    double prompt_seconds = 0;       // prefill time
    double generation_seconds = 0;   // from the end of prefill to the last generated token
    double prompt_tokens_per_second() const;
    double generation_tokens_per_second() const;
};

// Generates up to n_predict tokens after the prompt. on_token is called as each token is
// accepted (for streaming). Throws hsd::Error if the prompt does not fit in the context.
GenerationResult generate(Context& ctx, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                          bool ignore_eos, const std::function<void(TokenId)>& on_token = {});

}  // namespace hsd
