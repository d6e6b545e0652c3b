// The forward pass (llama / qwen2), readable top to bottom: embed, then per layer
//   h += Wo * attention(rope(Wq x + bq), rope(Wk x + bk), Wv x + bv) + bo   with x = rmsnorm(h)
//   h += Wdown * (silu(Wgate x) * Wup x)                 with x = rmsnorm(h)
// then logits = Wout * rmsnorm(h). Every matmul handles all n tokens in one weight pass; biases
// and rope are per-token, so a token's logits never depend on the batch it is in.
#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "common/error.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/forward_batcher.h"

namespace hsd {

namespace {
// row += bias (a no-op for an absent bias).
void add_bias(float* row, const std::vector<float>& bias) {
    if (!bias.empty()) add(row, bias.data(), (int64_t)bias.size());
}
}  // namespace

Context::Context(const Model& model, ThreadPool& pool, int64_t n_ctx)
    : model_(model), pool_(pool), rope_(model.config().rope()) {
    const ModelConfig& c = model.config();
    if (n_ctx <= 0) n_ctx = c.n_ctx_train;
    cache_ = KVCache(c.n_layer, n_ctx, c.n_head_kv, c.head_dim);
}

void Context::ensure_scratch(int64_t n) {
    const ModelConfig& c = model_.config();
    auto fit = [n](std::vector<float>& v, int64_t width) {
        if ((int64_t)v.size() < n * width) v.resize((size_t)(n * width));
    };
    fit(xn_, c.n_embd);
    fit(q_, c.q_dim());
    fit(k_, c.kv_dim());
    fit(v_, c.kv_dim());
    fit(att_, c.q_dim());
    fit(tmp_, c.n_embd);
    fit(gate_, c.n_ff);
    fit(up_, c.n_ff);
}

void Context::embed(const TokenId* tokens, int64_t n, float* h) const {
    const ModelConfig& c = model_.config();
    for (int64_t t = 0; t < n; ++t) {
        if (tokens[t] < 0 || tokens[t] >= c.n_vocab)
            fail(fmt::format("token id {} is out of range for {} (vocabulary of {})", tokens[t], model_.path(), c.n_vocab));
        decode_row(model_.token_embd(), tokens[t], 0, c.n_embd, h + t * c.n_embd);
    }
}

void Context::check_layers(int a, int b, int64_t n, int64_t pos0) const {
    const ModelConfig& c = model_.config();
    if (a < 0 || b > c.n_layer || a > b) fail(fmt::format("layer range [{}, {}) is invalid for {} layers", a, b, c.n_layer));
    if (pos0 + n > cache_.n_ctx())
        fail(fmt::format("context overflow: {} positions requested, context size is {} ({})", pos0 + n, cache_.n_ctx(),
                         model_.path()));
    for (int l = a; l < b; ++l)
        if (cache_.length(l) != pos0)
            fail(fmt::format("layer {} holds {} positions but the batch starts at position {}", l, cache_.length(l), pos0));
}

void Context::run_layers(int a, int b, float* h, int64_t n, int64_t pos0) {
    check_layers(a, b, n, pos0);
    if (ForwardBatcher* batcher = ForwardBatcher::current()) return batcher->run_layers(*this, a, b, h, n, pos0);
    const LayerSegment one{this, h, n, pos0};
    run_layers_fused({&one, 1}, a, b);
}

void Context::run_layers_fused(std::span<const LayerSegment> segs, int a, int b) {
    Context& s0 = *segs[0].ctx;  // scratch and pool
    const Model& model = s0.model_;
    const ModelConfig& c = model.config();
    int64_t n = 0;
    for (const LayerSegment& g : segs) {
        HSD_ASSERT(&g.ctx->model_ == &model, "a fused pass mixes models");
        n += g.n;
    }
    s0.ensure_scratch(n);
    ThreadPool& pool = s0.pool_;
    const int64_t d = c.n_embd, kvd = c.kv_dim(), qd = c.q_dim();
    std::vector<AttentionSeq> att_seqs;
    att_seqs.reserve(segs.size());
    float *xn = s0.xn_.data(), *q = s0.q_.data(), *k = s0.k_.data(), *v = s0.v_.data(), *att = s0.att_.data(),
          *tmp = s0.tmp_.data();

    for (int l = a; l < b; ++l) {
        const LayerWeights& L = model.layer(l);

        // Attention block: projections for all rows at once, then per sequence (one parallel
        // region for all of them).
        int64_t t = 0;
        att_seqs.clear();
        for (const LayerSegment& g : segs)
            for (int64_t i = 0; i < g.n; ++i, ++t) rmsnorm(g.h + i * d, L.attn_norm.data(), d, c.rms_eps, xn + t * d);
        const MatmulJob qkv[3] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
        matmul_multi(pool, qkv, 3, xn, n);
        t = 0;
        for (const LayerSegment& g : segs) {
            KVCache& cache = g.ctx->cache_;
            RopeTable& rope = g.ctx->rope_;  // (apply() extends its table as needed)
            for (int64_t i = 0; i < g.n; ++i) {
                const int64_t r = t + i;
                add_bias(q + r * qd, L.bq);
                add_bias(k + r * kvd, L.bk);
                add_bias(v + r * kvd, L.bv);
                rope.apply(q + r * qd, c.n_head, c.head_dim, g.pos0 + i);
                rope.apply(k + r * kvd, c.n_head_kv, c.head_dim, g.pos0 + i);
                cache.store(l, g.pos0 + i, k + r * kvd, v + r * kvd);
            }
            cache.set_length(l, g.pos0 + g.n);
            att_seqs.push_back({q + t * qd, cache.keys(l), cache.values(l), cache.capacity(), g.n, g.pos0, att + t * qd});
            t += g.n;
        }
        attention_multi(pool, att_seqs, c.n_head, c.n_head_kv, c.head_dim);
        matmul(pool, L.wo, att, n, tmp);
        t = 0;
        for (const LayerSegment& g : segs)
            for (int64_t i = 0; i < g.n; ++i, ++t) {
                add_bias(tmp + t * d, L.bo);
                add(g.h + i * d, tmp + t * d, d);
            }

        // Feed-forward block (SwiGLU).
        t = 0;
        for (const LayerSegment& g : segs)
            for (int64_t i = 0; i < g.n; ++i, ++t) rmsnorm(g.h + i * d, L.ffn_norm.data(), d, c.rms_eps, xn + t * d);
        matmul_swiglu(pool, L.gate, L.up, xn, n, s0.gate_.data(), s0.up_.data());
        matmul(pool, L.down, s0.gate_.data(), n, tmp);
        t = 0;
        for (const LayerSegment& g : segs)
            for (int64_t i = 0; i < g.n; ++i, ++t) add(g.h + i * d, tmp + t * d, d);
    }
}

void Context::head(const float* h, int64_t n, float* logits) {
    if (ForwardBatcher* batcher = ForwardBatcher::current()) return batcher->head(*this, h, n, logits);
    const HeadSegment one{this, h, n, logits};
    head_fused({&one, 1});
}

void Context::head_fused(std::span<const HeadSegment> segs) {
    Context& s0 = *segs[0].ctx;
    const Model& model = s0.model_;
    const ModelConfig& c = model.config();
    int64_t n = 0;
    for (const HeadSegment& g : segs) {
        HSD_ASSERT(&g.ctx->model_ == &model, "a fused head pass mixes models");
        n += g.n;
    }
    s0.ensure_scratch(n);
    int64_t t = 0;
    for (const HeadSegment& g : segs)
        for (int64_t i = 0; i < g.n; ++i, ++t)
            rmsnorm(g.h + i * c.n_embd, model.output_norm().data(), c.n_embd, c.rms_eps, s0.xn_.data() + t * c.n_embd);
    if (segs.size() == 1) return matmul(s0.pool_, model.output(), s0.xn_.data(), n, segs[0].logits);
    s0.fused_logits_.resize((size_t)(n * c.n_vocab));
    matmul(s0.pool_, model.output(), s0.xn_.data(), n, s0.fused_logits_.data());
    t = 0;
    for (const HeadSegment& g : segs) {
        std::memcpy(g.logits, s0.fused_logits_.data() + t * c.n_vocab, (size_t)(g.n * c.n_vocab) * sizeof(float));
        t += g.n;
    }
}

const float* Context::eval(const TokenId* tokens, int64_t n, bool all_logits) {
    const ModelConfig& c = model_.config();
    if (n <= 0) fail("eval: no tokens given");
    const int64_t pos0 = n_past();
    if (pos0 + n > cache_.n_ctx())
        fail(fmt::format("context overflow: {} tokens held + {} new > context size {} ({})", pos0, n, cache_.n_ctx(),
                         model_.path()));
    cache_.truncate(pos0);  // layers that ran ahead (early exits) are realigned first
    ensure_scratch(n);
    hidden_.resize((size_t)(n * c.n_embd));
    embed(tokens, n, hidden_.data());
    run_layers(0, c.n_layer, hidden_.data(), n, pos0);
    const int64_t rows = all_logits ? n : 1;
    logits_.resize((size_t)(rows * c.n_vocab));
    head(hidden_.data() + (n - rows) * c.n_embd, rows, logits_.data());
    return logits_.data();
}

}  // namespace hsd
