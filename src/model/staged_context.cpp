#include "model/staged_context.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "common/error.h"

namespace hsd {

StagedContext::StagedContext(const Model& model, ThreadPool& pool, int64_t n_ctx)
    : ctx_(model, pool, n_ctx),
      n_layer_(model.config().n_layer),
      n_embd_(model.config().n_embd),
      layer_evals_((size_t)model.config().n_layer, 0) {
    add_depth(n_layer_);
}

void StagedContext::add_depth(int depth) {
    if (depth < 1 || depth > n_layer_)
        fail(fmt::format("depth {} is out of range for {} ({} layers)", depth, model().path(), n_layer_));
    if (std::find(depths_.begin(), depths_.end(), depth) != depths_.end()) return;
    HSD_ASSERT(length(1) == 0, "a depth view was added after the shared context started");
    const auto at = std::lower_bound(depths_.begin(), depths_.end(), depth);
    hidden_.insert(hidden_.begin() + (at - depths_.begin()), std::vector<float>());
    depths_.insert(at, depth);
}

int64_t StagedContext::length(int depth) const {
    return depth <= 0 ? INT64_MAX : ctx_.cache().length(depth - 1);
}

float* StagedContext::hidden_row(int depth, int64_t pos) {
    const size_t i = (size_t)(std::lower_bound(depths_.begin(), depths_.end(), depth) - depths_.begin());
    std::vector<float>& h = hidden_[i];
    if (h.empty()) h.resize((size_t)(n_ctx() * n_embd_));
    return h.data() + pos * n_embd_;
}

void StagedContext::run(int a, int b, float* h, int64_t n, int64_t pos0, int64_t max_batch, const TokenId* tokens) {
    const int64_t step = max_batch > 0 ? max_batch : n;
    for (int64_t i = 0; i < n; i += step) {
        const int64_t m = std::min(step, n - i);
        ctx_.run_layers(a, b, h + i * n_embd_, m, pos0 + i);
        for (int l = a; l < b; ++l) layer_evals_[(size_t)l] += m;
        if (on_run) on_run(a, b, pos0 + i, m, tokens);
    }
}

void StagedContext::prefill(const std::vector<TokenId>& prompt) {
    if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
    if (prefilled_ == prompt && length(1) == (int64_t)prompt.size() && length(n_layer_) == (int64_t)prompt.size())
        return;
    truncate(0);
    advance(prompt.data(), (int64_t)prompt.size(), n_layer_, 0);
    prefilled_ = prompt;
}

void StagedContext::advance(const TokenId* tokens, int64_t end, int depth, int64_t max_batch) {
    if (end > n_ctx())
        fail(fmt::format("context overflow: {} positions requested, context size is {} ({})", end, n_ctx(),
                         model().path()));
    // Rows [lo, end) are being carried at depth `cur`: first the positions no layer has seen.
    int64_t lo = std::min(length(1), end);
    work_.resize((size_t)((end - lo) * n_embd_));
    if (end > lo) ctx_.embed(tokens + lo, end - lo, work_.data());
    int cur = 0;
    for (int e : depths_) {
        if (e > depth) break;
        // Positions that stopped at depth `cur` (kept hidden state) join in front.
        const int64_t from = std::min(length(cur + 1), lo);
        if (from < lo) {  // (never for cur == 0: then from == lo, as lo <= length(1))
            work_.insert(work_.begin(), (size_t)((lo - from) * n_embd_), 0.0f);
            for (int64_t p = from; p < lo; ++p)
                std::memcpy(work_.data() + (p - from) * n_embd_, hidden_row(cur, p), (size_t)n_embd_ * sizeof(float));
            lo = from;
        }
        if (lo < end) {
            run(cur, e, work_.data(), end - lo, lo, max_batch, tokens);
            for (int64_t p = lo; p < end; ++p)
                std::memcpy(hidden_row(e, p), work_.data() + (p - lo) * n_embd_, (size_t)n_embd_ * sizeof(float));
        }
        cur = e;
    }
    HSD_ASSERT(cur == depth, fmt::format("depth {} of {} was never registered", depth, model().path()));
}

const float* StagedContext::logits(int depth, int64_t first, int64_t count, int64_t max_batch) {
    HSD_ASSERT(first >= 0 && count >= 1 && first + count <= length(depth),
               fmt::format("logits after {} layers asked for positions [{}, {}) of {} processed", depth, first,
                           first + count, length(depth)));
    const int64_t V = model().config().n_vocab;
    work_.resize((size_t)(count * n_embd_));
    for (int64_t i = 0; i < count; ++i)
        std::memcpy(work_.data() + i * n_embd_, hidden_row(depth, first + i), (size_t)n_embd_ * sizeof(float));
    logits_.resize((size_t)(count * V));
    const int64_t step = max_batch > 0 ? max_batch : count;
    for (int64_t i = 0; i < count; i += step)
        ctx_.head(work_.data() + i * n_embd_, std::min(step, count - i), logits_.data() + i * V);
    return logits_.data();
}

void StagedContext::truncate(int64_t len) {
    if (on_truncate) on_truncate(len);
    ctx_.truncate(len);
    if (len < (int64_t)prefilled_.size()) prefilled_.clear();
}

}  // namespace hsd
