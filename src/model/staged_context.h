#pragma once
// One model's Context shared by several depth views: early exits (the first k layers, then
// the shared final norm and head) and the full model. HiSpec's shared KV cache.
//
// Every position of the sequence has been run through some number of layers, its depth:
// shallow views (drafters) run ahead of deep ones (verifiers), so depth never increases
// along the sequence and layer l of the KV cache holds exactly the positions deeper than l.
// The hidden state after each registered depth is kept per position, so a deeper view
// resumes a token from where a shallower one left it: no layer ever runs twice for the same
// token at the same position (layer_evals() counts what ran, for tests and reports).
#include <cstdint>
#include <functional>
#include <vector>

#include "model/context.h"

namespace hsd {

class StagedContext {
public:
    StagedContext(const Model& model, ThreadPool& pool, int64_t n_ctx);

    const Model& model() const { return ctx_.model(); }
    Context& context() { return ctx_; }
    int64_t n_ctx() const { return ctx_.n_ctx(); }
    int n_layer() const { return n_layer_; }

    // Declares a view that will ask for logits after `depth` layers (1..n_layer; the full
    // model is always registered). Hidden states are kept at every registered depth.
    void add_depth(int depth);
    const std::vector<int>& depths() const { return depths_; }

    // Positions that have been through the first `depth` layers.
    int64_t length(int depth) const;

    // Prefills the prompt through every layer in one batch (as generate() does), keeping the
    // hidden state at every registered depth. A no-op if the state already holds exactly this
    // prompt and nothing else (several views share one state).
    void prefill(const std::vector<TokenId>& prompt);

    // Runs positions [length(depth), end) through the first `depth` layers, resuming each
    // from the depth it already has; tokens[p] is read for positions that start from layer 0.
    // Batches of at most max_batch rows (0 = no limit).
    void advance(const TokenId* tokens, int64_t end, int depth, int64_t max_batch);

    // Logits after `depth` layers for positions [first, first + count) (each < length(depth)),
    // from the kept hidden states; valid until the next call.
    const float* logits(int depth, int64_t first, int64_t count, int64_t max_batch);

    // Forgets every position >= len in every layer (rollback after a rejection).
    void truncate(int64_t len);

    // Token-layer evaluations per layer since construction.
    const std::vector<int64_t>& layer_evals() const { return layer_evals_; }
    // Test hook: called for every layer range run, with the positions it covered and the
    // sequence they belong to (tokens[0, pos0 + n) are valid).
    std::function<void(int a, int b, int64_t pos0, int64_t n, const TokenId* tokens)> on_run;
    // Test hook: called when positions >= len are forgotten (tests check that a cut only
    // discards rejected work).
    std::function<void(int64_t len)> on_truncate;

private:
    void run(int a, int b, float* h, int64_t n, int64_t pos0, int64_t max_batch, const TokenId* tokens);
    float* hidden_row(int depth, int64_t pos);

    Context ctx_;
    int n_layer_;
    int64_t n_embd_;
    std::vector<int> depths_;                    // sorted; always contains n_layer
    std::vector<std::vector<float>> hidden_;     // per depth in depths_: [n_ctx][n_embd]
    std::vector<TokenId> prefilled_;             // the prompt of the last prefill
    std::vector<float> work_, logits_;
    std::vector<int64_t> layer_evals_;
};

}  // namespace hsd
