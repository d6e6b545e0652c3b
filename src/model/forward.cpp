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

void Context::run_layers(int a, int b, float* h, int64_t n, int64_t pos0) {
    const ModelConfig& c = model_.config();
    if (a < 0 || b > c.n_layer || a > b) fail(fmt::format("layer range [{}, {}) is invalid for {} layers", a, b, c.n_layer));
    if (pos0 + n > cache_.n_ctx())
        fail(fmt::format("context overflow: {} positions requested, context size is {} ({})", pos0 + n, cache_.n_ctx(),
                         model_.path()));
    ensure_scratch(n);
    const int64_t d = c.n_embd, kvd = c.kv_dim(), qd = c.q_dim();

    for (int l = a; l < b; ++l) {
        if (cache_.length(l) != pos0)
            fail(fmt::format("layer {} holds {} positions but the batch starts at position {}", l, cache_.length(l), pos0));
        const LayerWeights& L = model_.layer(l);

        // Attention block.
        for (int64_t t = 0; t < n; ++t) rmsnorm(h + t * d, L.attn_norm.data(), d, c.rms_eps, xn_.data() + t * d);
        const MatmulJob qkv[3] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
        matmul_multi(pool_, qkv, 3, xn_.data(), n);
        for (int64_t t = 0; t < n; ++t) {
            add_bias(q_.data() + t * qd, L.bq);
            add_bias(k_.data() + t * kvd, L.bk);
            add_bias(v_.data() + t * kvd, L.bv);
            rope_.apply(q_.data() + t * qd, c.n_head, c.head_dim, pos0 + t);
            rope_.apply(k_.data() + t * kvd, c.n_head_kv, c.head_dim, pos0 + t);
            cache_.store(l, pos0 + t, k_.data() + t * kvd, v_.data() + t * kvd);
        }
        cache_.set_length(l, pos0 + n);
        attention(pool_, q_.data(), cache_.keys(l), cache_.values(l), cache_.capacity(), n, pos0, c.n_head, c.n_head_kv,
                  c.head_dim, att_.data());
        matmul(pool_, L.wo, att_.data(), n, tmp_.data());
        for (int64_t t = 0; t < n; ++t) add_bias(tmp_.data() + t * d, L.bo);
        add(h, tmp_.data(), n * d);

        // Feed-forward block (SwiGLU).
        for (int64_t t = 0; t < n; ++t) rmsnorm(h + t * d, L.ffn_norm.data(), d, c.rms_eps, xn_.data() + t * d);
        matmul_swiglu(pool_, L.gate, L.up, xn_.data(), n, gate_.data(), up_.data());
        matmul(pool_, L.down, gate_.data(), n, tmp_.data());
        add(h, tmp_.data(), n * d);
    }
}

void Context::head(const float* h, int64_t n, float* logits) {
    const ModelConfig& c = model_.config();
    ensure_scratch(n);
    for (int64_t t = 0; t < n; ++t)
        rmsnorm(h + t * c.n_embd, model_.output_norm().data(), c.n_embd, c.rms_eps, xn_.data() + t * c.n_embd);
    matmul(pool_, model_.output(), xn_.data(), n, logits);
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
