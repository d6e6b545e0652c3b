#pragma once
// What a generation loop steps. After a prompt, a decoder commits one or more tokens per step:
// plain autoregressive decoding one (the baseline), a speculative hierarchy between 1 and
// max_n. The loop around it (generate.h) owns everything else (limits, EOS, timing), so every
// decoding mode stops, streams and reports identically.
#include <cstdint>
#include <vector>

#include "model/context.h"
#include "sampling/sampler.h"
#include "speculative/drafter.h"
#include "speculative/hierarchy.h"

namespace hsd {

class Decoder {
public:
    virtual ~Decoder() = default;

    virtual const Model& target() const = 0;
    virtual int64_t n_ctx() const = 0;
    // Forgets everything and prefills the prompt (non-empty, shorter than n_ctx()).
    virtual void start(const std::vector<TokenId>& prompt) = 0;
    // Commits and returns between 1 and max_n (>= 1) new tokens. The caller keeps
    // sequence_length() + max_n - 1 <= n_ctx().
    virtual const std::vector<TokenId>& step(Sampler& sampler, int max_n) = 0;
    // Prompt + committed tokens.
    virtual int64_t sequence_length() const = 0;
    // The generation ended after the first `len` tokens of the sequence (at EOS).
    virtual void finish(int64_t len) = 0;
    // Per-level counters since start(), bottom level first, target last (empty: not speculative).
    virtual std::vector<LevelStats> level_stats() const { return {}; }
};

// One forward pass per token. A token is evaluated only when the next one is asked for, so the
// last token of a generation (or an EOS) never costs a forward pass.
class AutoregressiveDecoder : public Decoder {
public:
    explicit AutoregressiveDecoder(Context& ctx) : ctx_(ctx) {}
    const Model& target() const override { return ctx_.model(); }
    int64_t n_ctx() const override { return ctx_.n_ctx(); }
    void start(const std::vector<TokenId>& prompt) override;
    const std::vector<TokenId>& step(Sampler& sampler, int max_n) override;
    int64_t sequence_length() const override { return length_; }
    void finish(int64_t) override {}
    // The logits the token last returned by step() was drawn from.
    const float* last_logits() const { return logits_; }

private:
    Context& ctx_;
    const float* logits_ = nullptr;  // after the sequence minus the pending token
    bool pending_ = false;           // out_[0] is sampled but not yet evaluated
    int64_t length_ = 0;
    std::vector<TokenId> out_;
};

// A hierarchy (speculative/hierarchy.h): the target verifies one batch per step.
class SpeculativeDecoder : public Decoder {
public:
    explicit SpeculativeDecoder(Hierarchy& h) : h_(h) {}
    const Model& target() const override { return h_.target().model(); }
    int64_t n_ctx() const override { return h_.n_ctx(); }
    void start(const std::vector<TokenId>& prompt) override;
    const std::vector<TokenId>& step(Sampler& sampler, int max_n) override { return h_.step(sampler, max_n); }
    int64_t sequence_length() const override { return (int64_t)h_.sequence().size(); }
    void finish(int64_t len) override;
    std::vector<LevelStats> level_stats() const override { return h_.stats(); }

private:
    Hierarchy& h_;
};

}  // namespace hsd
