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
//
// Prefix vocabularies (hierarchy.h, check_draft_vocabulary): an independent draft may know
// fewer ids than the target. Its distributions are then rows of row_vocab (the target's) ids,
// 0 beyond its own, so it never proposes an id it lacks and verification compares like with
// like. The sequence may still hold such an id (the target emitted it, or an n-gram draft
// proposed it): the draft is fed its unknown token there instead. Lossless all the same, as
// the verifier alone decides what is kept: greedy output is unchanged token for token, and a
// sampled draft's q is exactly the distribution it drew from, whatever it was conditioned on;
// the substitution only makes its later drafts less likely to be accepted.
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

    // A level of its own (an independent model at full depth). row_vocab: width of the
    // distributions it produces (>= the model's vocabulary; 0 = the model's).
    ModelDrafter(const Model& model, ThreadPool& pool, int64_t n_ctx, int row_vocab = 0);
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
    bool shares(const StagedContext& s) const { return state_.get() == &s; }
    Context& context() { return state_->context(); }

private:
    // Logits after seq[0, end): the kept ones if they are for `end`, else computed.
    const float* logits_at_end(const std::vector<TokenId>& seq, int64_t end);
    // Runs the missing positions of seq[0, end) up to this depth, counting the work.
    void advance(const std::vector<TokenId>& seq, int64_t end);
    // seq[0, end) as this model may be fed it: ids it lacks replaced by its unknown token
    // (only [from, end) is new to it, so only that range is checked).
    const TokenId* feed(const std::vector<TokenId>& seq, int64_t from, int64_t end);
    // Logits widened to row_vocab_ (-inf for ids the model lacks); `logits` itself if equal.
    const float* widen(const float* logits);
    // Sampling distribution (row_vocab_ wide) of the model's logits.
    void distribution(const Sampler& sampler, const float* logits);

    std::shared_ptr<StagedContext> state_;
    int depth_;
    int n_vocab_;
    int row_vocab_;          // width of produced distributions (the target's vocabulary)
    TokenId substitute_;     // fed in place of ids >= n_vocab_
    std::vector<TokenId> fed_;   // feed() scratch
    std::vector<float> wide_;    // widen() scratch
    std::vector<float> last_;   // logits after the first last_pos_ tokens
    int64_t last_pos_ = -1;     // -1: none kept
    std::vector<TokenId> work_;  // the sequence plus this call's drafts
    std::vector<float> probs_;   // scratch distribution
};

}  // namespace hsd
