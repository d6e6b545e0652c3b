#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

#include "common/error.h"
#include "kernels/ops.h"

namespace hsd {

void SamplingParams::validate() const {
    if (!std::isfinite(temperature) || temperature < 0)
        fail(fmt::format("invalid sampling parameter: temperature must be a finite number >= 0, got {}", temperature));
    if (top_k < 0) fail(fmt::format("invalid sampling parameter: top-k must be >= 0 (0 = off), got {}", top_k));
    if (!(top_p > 0.0f && top_p <= 1.0f))
        fail(fmt::format("invalid sampling parameter: top-p must be in (0, 1] (1 = off), got {}", top_p));
    if (!(min_p >= 0.0f && min_p <= 1.0f))
        fail(fmt::format("invalid sampling parameter: min-p must be in [0, 1] (0 = off), got {}", min_p));
}

TokenId argmax(const float* logits, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

Sampler::Sampler(const SamplingParams& params, int n_vocab) : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
    params_.validate();
}

void Sampler::probabilities(const float* logits, std::vector<float>& probs) const {
    probs.assign((size_t)n_vocab_, 0.0f);
    if (params_.greedy()) {
        probs[(size_t)argmax(logits, n_vocab_)] = 1.0f;
        return;
    }
    if (params_.top_k == 0 && params_.top_p >= 1.0f && params_.min_p <= 0.0f) {
        // No truncation (pure temperature sampling, the usual speculative setting): a plain
        // softmax, no sort of the vocabulary.
        const float mx = *std::max_element(logits, logits + n_vocab_);
        const float inv_t = 1.0f / params_.temperature;
        for (int i = 0; i < n_vocab_; ++i) probs[(size_t)i] = (logits[i] - mx) * inv_t;
        softmax(probs.data(), n_vocab_);
        return;
    }
    // Candidates sorted by logit (descending; ties by id so results never depend on sort internals).
    idx_.resize((size_t)n_vocab_);
    std::iota(idx_.begin(), idx_.end(), 0);
    auto by_logit = [logits](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    size_t n = idx_.size();
    if (params_.top_k > 0 && (size_t)params_.top_k < n) {
        std::partial_sort(idx_.begin(), idx_.begin() + params_.top_k, idx_.end(), by_logit);
        n = (size_t)params_.top_k;
    } else {
        std::sort(idx_.begin(), idx_.end(), by_logit);
    }
    // Softmax at temperature 1 over the survivors, for top-p and min-p.
    const double mx = logits[idx_[0]];
    std::vector<double> p(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (p[i] = std::exp((double)logits[idx_[i]] - mx));
    for (double& v : p) v /= sum;
    if (params_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += p[i];
            if (cum >= params_.top_p) { keep = i + 1; break; }
        }
        n = keep;
    }
    if (params_.min_p > 0.0f) {
        const double cut = params_.min_p * p[0];
        size_t keep = 1;
        while (keep < n && p[keep] >= cut) ++keep;
        n = keep;
    }
    // Temperature on the surviving logits.
    double z = 0;
    for (size_t i = 0; i < n; ++i) z += (p[i] = std::exp(((double)logits[idx_[i]] - mx) / params_.temperature));
    for (size_t i = 0; i < n; ++i) probs[(size_t)idx_[i]] = (float)(p[i] / z);
}

TokenId Sampler::sample(const float* logits) {
    if (params_.greedy()) return argmax(logits, n_vocab_);
    std::vector<float> probs;
    probabilities(logits, probs);
    return sample_from(probs);
}

TokenId Sampler::sample_from(const std::vector<float>& probs) {
    double total = 0;
    for (float v : probs) total += v;
    if (!(total > 0)) fail("sampling from an empty distribution");
    const double u = uniform() * total;
    double cum = 0;
    int last = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
        if (probs[i] <= 0) continue;
        cum += probs[i];
        last = (int)i;
        if (u < cum) return (TokenId)i;
    }
    return last;  // rounding: u landed at the very top
}

// 53 random bits -> [0, 1): the same stream on every platform for a given seed.
double Sampler::uniform() { return (double)(rng_() >> 11) * 0x1.0p-53; }

}  // namespace hsd
