#pragma once
// Token sampling with llama.cpp's default transform order: top-k, then top-p and min-p on
// the (temperature 1) softmax of the survivors, then temperature. probabilities() exposes
// the full distribution after those transforms, which speculative verification needs
// (p(x) and q(x) for every token). temperature 0 is greedy (argmax, ties -> lowest id).
#include <cstdint>
#include <random>
#include <vector>

#include "common/token_id.h"

namespace hsd {

struct SamplingParams {
    float temperature = 0.8f;
    int top_k = 40;       // 0 = off
    float top_p = 0.95f;  // 1 = off
    float min_p = 0.05f;  // 0 = off
    uint64_t seed = 0;

    bool greedy() const { return temperature <= 0.0f; }
    // Throws hsd::Error naming the parameter and its allowed range.
    void validate() const;
};

// Index of the largest value; ties resolve to the lowest index.
TokenId argmax(const float* logits, int n);

class Sampler {
public:
    Sampler(const SamplingParams& params, int n_vocab);

    const SamplingParams& params() const { return params_; }

    // probs[n_vocab] = the sampling distribution for these logits (one-hot when greedy).
    void probabilities(const float* logits, std::vector<float>& probs) const;
    // Draws a token from the transformed distribution of these logits.
    TokenId sample(const float* logits);
    // Draws a token from a given (not necessarily normalized) non-negative distribution.
    TokenId sample_from(const std::vector<float>& probs);
    // A uniform draw in [0, 1) from the same seeded stream (speculative acceptance tests).
    double uniform();

private:
    SamplingParams params_;
    int n_vocab_;
    std::mt19937_64 rng_;
    mutable std::vector<int> idx_;
};

}  // namespace hsd
