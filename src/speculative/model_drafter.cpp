#include "speculative/model_drafter.h"

#include <algorithm>
#include <fmt/format.h>

#include "common/error.h"
#include "common/timer.h"

namespace hsd {

ModelDrafter::ModelDrafter(const Model& model, ThreadPool& pool, int64_t n_ctx)
    : model_(model), ctx_(model, pool, n_ctx), n_vocab_(model.config().n_vocab) {
    stats_.name = model.path();
}

void ModelDrafter::prefill(const std::vector<TokenId>& prompt) {
    ctx_.truncate(0);
    last_pos_ = -1;
    if (prompt.empty()) return;
    // One batch, exactly as generate() does, so the target's first token is computed the same way.
    const float* logits = ctx_.eval(prompt, false);
    last_.assign(logits, logits + n_vocab_);
    last_pos_ = ctx_.n_past();
}

void ModelDrafter::rollback(int64_t len) {
    if (len >= ctx_.n_past()) return;
    ctx_.truncate(len);
    if (last_pos_ > len) last_pos_ = -1;
}

void ModelDrafter::feed(const std::vector<TokenId>& seq, int64_t end, int64_t first_row) {
    rows_.clear();
    int64_t pos = ctx_.n_past();
    if (end > (int64_t)seq.size() || pos >= end)
        fail(fmt::format("internal error: {} asked to process tokens [{}, {}) of a {}-token sequence", stats_.name, pos,
                         end, seq.size()));
    const float* logits = nullptr;
    while (pos < end) {
        const int64_t n = std::min(kMaxBatch, end - pos);
        const bool want_rows = pos + n - 1 >= first_row;
        logits = ctx_.eval(seq.data() + pos, n, want_rows);
        ++stats_.n_forward;
        if (want_rows) {
            const int64_t from = std::max<int64_t>(first_row, pos);
            // eval returned rows for positions [pos, pos + n)
            rows_.insert(rows_.end(), logits + (size_t)(from - pos) * (size_t)n_vocab_,
                         logits + (size_t)n * (size_t)n_vocab_);
        }
        pos += n;
    }
    const float* last_row = rows_.data() + rows_.size() - (size_t)n_vocab_;
    last_.assign(last_row, last_row + n_vocab_);
    last_pos_ = ctx_.n_past();
}

const float* ModelDrafter::logits_at_end(const std::vector<TokenId>& seq, int64_t end) {
    if (ctx_.n_past() == end) {
        if (last_pos_ != end)
            fail(fmt::format("internal error: {} holds all {} tokens but not their next-token logits", stats_.name, end));
        return last_.data();
    }
    feed(seq, end, end - 1);
    return last_.data();
}

void ModelDrafter::draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) {
    out.n_vocab = n_vocab_;
    out.clear();
    if (n <= 0) return;
    const double t0 = now_seconds();
    const float* logits = logits_at_end(seq, (int64_t)seq.size());
    for (int k = 0; k < n; ++k) {
        TokenId x;
        if (sampler.params().greedy()) {
            x = argmax(logits, n_vocab_);
            out.push_one_hot(x);
        } else {
            sampler.probabilities(logits, probs_);
            x = sampler.sample_from(probs_);
            out.push(x, probs_.data());
        }
        if (k + 1 == n) break;  // the last draft is processed only if the level above needs it
        logits = ctx_.eval(&x, 1, false);
        ++stats_.n_forward;
        last_.assign(logits, logits + n_vocab_);
        last_pos_ = ctx_.n_past();
    }
    stats_.seconds += now_seconds() - t0;
}

namespace {

// Pointers to the n + 1 logits rows a verifier needs, from the kept last row and/or rows_.
void collect_rows(int64_t n_past_before, int64_t base, int64_t n, const std::vector<float>& last,
                  const std::vector<float>& rows, int n_vocab, std::vector<const float*>& out) {
    out.clear();
    size_t r = 0;
    if (n_past_before == base) out.push_back(last.data());  // the cache already ended at base
    while ((int64_t)out.size() < n + 1) out.push_back(rows.data() + (r++) * (size_t)n_vocab);
}

}  // namespace

void ModelDrafter::score(const std::vector<TokenId>& seq, int64_t base, const Sampler& sampler,
                         std::vector<float>& p) {
    const double t0 = now_seconds();
    const int64_t n = (int64_t)seq.size() - base;
    const int64_t before = ctx_.n_past();
    if (before > base || (before == base && last_pos_ != base))
        fail(fmt::format("internal error: {} has processed {} tokens, cannot verify drafts from position {}",
                         stats_.name, before, base));
    std::vector<float> first;
    if (before == base) first = last_;  // feed() below overwrites last_
    if (n > 0 || before < base) feed(seq, (int64_t)seq.size(), before == base ? base : base - 1);
    std::vector<const float*> rows;
    collect_rows(before, base, n, first, rows_, n_vocab_, rows);
    p.resize((size_t)(n + 1) * (size_t)n_vocab_);
    for (int64_t t = 0; t <= n; ++t) {
        sampler.probabilities(rows[(size_t)t], probs_);
        std::copy(probs_.begin(), probs_.end(), p.begin() + t * n_vocab_);
    }
    stats_.seconds += now_seconds() - t0;
}

}  // namespace hsd
