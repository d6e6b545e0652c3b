#pragma once
// A model level of the hierarchy: a model, or an early exit of one, viewed at a depth (the
// first `depth` layers, then the shared final norm and head). It drafts autoregressively
// when it is the bottom level, and scores a batch of drafts in one forward pass when it
// verifies.
//
// State lives in a StagedContext, shared by all levels that are views of the same model (the
// target and its early exits): a level resumes every token from the depth a shallower level
// left it at, so no layer runs twice for one token (HiSpec's shared KV cache). The context
// holds the first n_processed() tokens of the shared sequence at this level's depth (always a
// prefix of it: the executor rolls levels back when the sequence is cut). Tokens the sequence
// gained since this level last ran (corrections / bonus tokens of higher levels) are fed
// together with the new drafts; nothing already processed is recomputed. The logits after
// the last processed token are kept, so they are never computed twice either.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/staged_context.h"
#include "speculative/drafter.h"

namespace hsd {

class ThreadPool;

class ModelDrafter : public Drafter {
public:
    // Forward passes never exceed this many rows: larger batches are split. Batches of up to
    // ~33 rows use the single-token decode kernels (bit-identical logits to one-token evals);
    // at >= 48 rows matmul switches to OpenBLAS for non-F16 weights, which differs in the last bits.
    static constexpr int64_t kMaxBatch = 32;

    // A level of its own (an independent model at full depth).
    ModelDrafter(const Model& model, ThreadPool& pool, int64_t n_ctx);
    // A view at `depth` of a shared context (depth = n_layer: the full model).
    ModelDrafter(std::shared_ptr<StagedContext> state, int depth);

    void prefill(const std::vector<TokenId>& prompt) override;
    void draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) override;
    void rollback(int64_t len) override;
    int64_t n_processed() const override { return state_->length(depth_); }

    // Verifier pass: seq[base, seq.size()) are the n drafts of the level below. Feeds every
    // unprocessed token of seq and writes the argmax of the n + 1 next-token logits after
    // seq[0, base + t), t = 0..n (the last one is for the bonus), into best, and unless greedy
    // their distributions into p.
    void score(const std::vector<TokenId>& seq, int64_t base, const Sampler& sampler, std::vector<float>& p,
               std::vector<TokenId>& best);

    const Model& model() const { return state_->model(); }
    int depth() const { return depth_; }
    StagedContext& state() { return *state_; }
    Context& context() { return state_->context(); }

private:
    // Logits after seq[0, end): the kept ones if they are for `end`, else computed.
    const float* logits_at_end(const std::vector<TokenId>& seq, int64_t end);
    // Runs the missing positions of seq[0, end) up to this depth, counting the work.
    void advance(const std::vector<TokenId>& seq, int64_t end);

    std::shared_ptr<StagedContext> state_;
    int depth_;
    int n_vocab_;
    std::vector<float> last_;   // logits after the first last_pos_ tokens
    int64_t last_pos_ = -1;     // -1: none kept
    std::vector<TokenId> work_;  // the sequence plus this call's drafts
    std::vector<float> probs_;   // scratch distribution
};

}  // namespace hsd
