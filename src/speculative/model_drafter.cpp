#include "speculative/model_drafter.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

#include "common/error.h"
#include "common/timer.h"

namespace hsd {

namespace {
std::string level_name(const StagedContext& s, int depth) {
    return depth == s.n_layer() ? s.model().path() : fmt::format("{}@{}", s.model().path(), depth);
}
}  // namespace

ModelDrafter::ModelDrafter(const Model& model, ThreadPool& pool, int64_t n_ctx, int row_vocab)
    : ModelDrafter(std::make_shared<StagedContext>(model, pool, n_ctx), model.config().n_layer) {
    HSD_ASSERT(row_vocab == 0 || row_vocab >= n_vocab_,
               fmt::format("{}: rows of {} ids cannot hold its {}-token vocabulary", stats_.name, row_vocab, n_vocab_));
    if (row_vocab > 0) row_vocab_ = row_vocab;
}

ModelDrafter::ModelDrafter(std::shared_ptr<StagedContext> state, int depth)
    : state_(std::move(state)),
      depth_(depth),
      n_vocab_(state_->model().config().n_vocab),
      row_vocab_(n_vocab_),
      substitute_(state_->model().tokenizer().unk_id()) {
    if (substitute_ < 0 || substitute_ >= n_vocab_) substitute_ = 0;
    state_->add_depth(depth_);
    stats_.name = level_name(*state_, depth_);
    stats_.depth = depth_;
}

void ModelDrafter::prefill(const std::vector<TokenId>& prompt) {
    last_pos_ = -1;
    const TokenId* p = feed(prompt, 0, (int64_t)prompt.size());
    state_->prefill(p == prompt.data() ? prompt : fed_);  // once per shared context
}

const TokenId* ModelDrafter::feed(const std::vector<TokenId>& seq, int64_t from, int64_t end) {
    if (row_vocab_ == n_vocab_) return seq.data();  // no id of the hierarchy is unknown here
    if (std::all_of(seq.begin() + from, seq.begin() + end, [&](TokenId t) { return t < n_vocab_; })) return seq.data();
    fed_.assign(seq.begin(), seq.begin() + end);
    for (TokenId& t : fed_)
        if (t >= n_vocab_) t = substitute_;
    return fed_.data();
}

const float* ModelDrafter::widen(const float* logits) {
    if (row_vocab_ == n_vocab_) return logits;
    wide_.assign((size_t)row_vocab_, -INFINITY);
    std::copy(logits, logits + n_vocab_, wide_.begin());
    return wide_.data();
}

void ModelDrafter::distribution(const Sampler& sampler, const float* logits) {
    sampler.probabilities(widen(logits), probs_);
    // Exactly 0 for ids the model lacks (whatever the sampler's exp gives at -inf).
    std::fill(probs_.begin() + n_vocab_, probs_.end(), 0.0f);
}

void ModelDrafter::rollback(int64_t len) {
    if (last_pos_ > len) last_pos_ = -1;
    if (len < state_->length(1)) state_->truncate(len);
}

void ModelDrafter::advance(const std::vector<TokenId>& seq, int64_t end) {
    HSD_ASSERT(end <= (int64_t)seq.size() && state_->length(depth_) <= end,
               fmt::format("{} holds {} tokens, cannot process up to {} of a {}-token sequence", stats_.name,
                           state_->length(depth_), end, seq.size()));
    if (state_->length(depth_) == end) return;
    const std::vector<int64_t>& ev = state_->layer_evals();
    const int64_t before = std::accumulate(ev.begin(), ev.end(), (int64_t)0);
    state_->advance(feed(seq, std::min(state_->length(1), end), end), end, depth_, kMaxBatch);
    stats_.record_pass(std::accumulate(ev.begin(), ev.end(), (int64_t)0) - before);
}

const float* ModelDrafter::logits_at_end(const std::vector<TokenId>& seq, int64_t end) {
    if (last_pos_ == end && state_->length(depth_) == end) return last_.data();
    advance(seq, end);
    const float* row = state_->logits(depth_, end - 1, 1, kMaxBatch);
    last_.assign(row, row + n_vocab_);
    last_pos_ = end;
    return last_.data();
}

void ModelDrafter::draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) {
    out.n_vocab = row_vocab_;
    out.clear();
    if (n <= 0) return;
    const double t0 = now_seconds();
    work_ = seq;
    const float* logits = logits_at_end(work_, (int64_t)work_.size());
    for (int k = 0; k < n; ++k) {
        TokenId x;
        if (sampler.params().greedy()) {
            x = argmax(logits, n_vocab_);
            out.push_token(x);
        } else {
            distribution(sampler, logits);
            x = sampler.sample_from(probs_);
            out.push(x, probs_.data());
        }
        if (k + 1 == n) break;  // the last draft is processed only if the level above needs it
        work_.push_back(x);
        logits = logits_at_end(work_, (int64_t)work_.size());
    }
    stats_.add_seconds(now_seconds() - t0);
}

void ModelDrafter::score(const std::vector<TokenId>& seq, int64_t base, const Sampler& sampler,
                         std::vector<float>& p, std::vector<TokenId>& best) {
    const double t0 = now_seconds();
    const int64_t end = (int64_t)seq.size();
    const int64_t n = end - base;
    HSD_ASSERT(base >= 1 && state_->length(depth_) <= base,
               fmt::format("{} has processed {} tokens, cannot verify drafts from position {}", stats_.name,
                           state_->length(depth_), base));
    // Rows needed: the logits after seq[0, base + t) for t = 0..n, i.e. positions base-1 .. end-1.
    const bool kept = last_pos_ == base && state_->length(depth_) == base;
    advance(seq, end);
    const int64_t from = kept ? base : base - 1;
    const float* rows = end > from ? state_->logits(depth_, from, end - from, kMaxBatch) : nullptr;
    best.resize((size_t)(n + 1));
    if (!sampler.params().greedy()) p.resize((size_t)(n + 1) * (size_t)row_vocab_);
    for (int64_t t = 0; t <= n; ++t) {
        const float* logits = kept && t == 0 ? last_.data() : rows + (size_t)(base - 1 + t - from) * (size_t)n_vocab_;
        best[(size_t)t] = argmax(logits, n_vocab_);
        if (sampler.params().greedy()) continue;  // greedy verification only compares argmaxes
        distribution(sampler, logits);
        std::copy(probs_.begin(), probs_.end(), p.begin() + t * row_vocab_);
    }
    if (!(kept && n == 0)) {  // (otherwise last_ already holds the logits after seq[0, end))
        const float* last = rows + (size_t)(end - 1 - from) * (size_t)n_vocab_;
        last_.assign(last, last + n_vocab_);
    }
    last_pos_ = end;
    stats_.add_seconds(now_seconds() - t0);
}

}  // namespace hsd
