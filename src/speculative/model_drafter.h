#pragma once
// A model level: a Model with its own Context (KV cache). It drafts autoregressively when it
// is the bottom level, and scores a batch of drafts in one forward pass when it verifies.
//
// State: the Context holds the first n_processed() tokens of the shared sequence (always a
// prefix of it: the executor rolls every level back when the sequence is cut). Tokens the
// sequence gained since this level last ran (corrections / bonus tokens of higher levels) are
// fed together with the new drafts in one eval; nothing already processed is recomputed.
// The logits after the last processed token are kept, so a level whose cache already covers
// the whole sequence (right after the prompt prefill) needs no extra pass.
#include <cstdint>
#include <vector>

#include "model/context.h"
#include "speculative/drafter.h"

namespace hsd {

class ThreadPool;

class ModelDrafter : public Drafter {
public:
    // Evals never exceed this many tokens: larger verify batches are split. Batches of up to
    // ~33 tokens use the single-token decode kernel (bit-identical logits to one-token evals);
    // at >= 48 tokens matmul switches to OpenBLAS, whose results differ in the last bits.
    static constexpr int64_t kMaxBatch = 32;

    ModelDrafter(const Model& model, ThreadPool& pool, int64_t n_ctx);

    void prefill(const std::vector<TokenId>& prompt) override;
    void draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) override;
    void rollback(int64_t len) override;
    int64_t n_processed() const override { return ctx_.n_past(); }
    bool is_model() const override { return true; }

    // Verifier pass: seq[base, seq.size()) are the n drafts of the level below. Feeds every
    // unprocessed token of seq (in evals of at most kMaxBatch) and writes into p the n + 1
    // distributions p(. | seq[0, base + t)) for t = 0..n (the last one is for the bonus).
    void score(const std::vector<TokenId>& seq, int64_t base, const Sampler& sampler, std::vector<float>& p);

    const Model& model() const { return model_; }
    Context& context() { return ctx_; }

private:
    // Feeds seq[n_past, end) (end > n_past) and keeps the logit rows of positions >= first_row
    // (absolute positions of the tokens whose next-token logits are wanted) in rows_.
    void feed(const std::vector<TokenId>& seq, int64_t end, int64_t first_row);
    // Logits after seq[0, end): from the kept ones if the cache already ends there, else by
    // feeding the missing tokens.
    const float* logits_at_end(const std::vector<TokenId>& seq, int64_t end);

    const Model& model_;
    Context ctx_;
    int n_vocab_;
    std::vector<float> rows_;     // logits rows collected by feed()
    std::vector<float> last_;     // logits after the last processed token
    int64_t last_pos_ = -1;       // n_past at which last_ is valid (-1: none)
    std::vector<float> probs_;    // scratch distribution
};

}  // namespace hsd
