#pragma once
// The generation loop, one for every decoding mode: prefill the prompt, step the decoder
// (decoder.h) until n_predict tokens, an end-of-sequence token or the end of the context,
// and time both phases. Greedy speculative decoding produces exactly the tokens of
// autoregressive decoding, and stops at exactly the same place, because both run this loop.
//
// Generation is the loop as a state machine (a server interleaves many of them, one step at a
// time); generate() and generate_speculative() run one to the end.
#include <functional>
#include <string>
#include <vector>

#include "decoding/decoder.h"

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

struct SpeculativeResult : GenerationResult {
    std::vector<LevelStats> levels;  // bottom level first, target last (empty: autoregressive)
};

class Generation {
public:
    // Checks that the prompt is non-empty and shorter than the context, and prefills it. The decoder and sampler must outlive the generation.
    Generation(Decoder& decoder, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
               bool ignore_eos);

    bool done() const { return done_; }
    // One decoder step (done() must be false): the tokens it added, EOS excluded (empty only
    // when it stopped at EOS straight away).
    const std::vector<TokenId>& step();
    // The result so far; complete once done().
    const SpeculativeResult& result() const { return r_; }
    // Ends the generation early (a server's stop string, a cancelled request): timings and
    // per-level counters are final from here, stop_reason is `reason`. No-op once done().
    void end(const char* reason) {
        if (!done_) stop(reason);
    }

private:
    void stop(const char* reason);

    Decoder& d_;
    Sampler& sampler_;
    SpeculativeResult r_;
    int n_predict_;
    int64_t limit_;      // tokens the context allows
    bool ignore_eos_;
    double t_prefilled_ = 0;
    bool done_ = false;
    std::vector<TokenId> added_;
};

// Generates up to n_predict tokens after the prompt. on_token is called as each token is
// committed (for streaming). Throws hsd::Error if the prompt does not fit in the context.
GenerationResult generate(Context& ctx, Sampler& sampler, const std::vector<TokenId>& prompt, int n_predict,
                          bool ignore_eos, const std::function<void(TokenId)>& on_token = {});
// The same with a hierarchy: same checks, stops and (greedy) exactly the same tokens, plus the
// per-level counters.
SpeculativeResult generate_speculative(Hierarchy& h, Sampler& sampler, const std::vector<TokenId>& prompt,
                                       int n_predict, bool ignore_eos,
                                       const std::function<void(TokenId)>& on_token = {});

}  // namespace hsd
