// The sampler: parameter validation, greedy, each transform against a plain re-implementation,
// seeded reproducibility, and draw frequencies (chi-square at a fixed threshold).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "sampling/sampler.h"

using namespace hsd;

namespace {

void expect_invalid(SamplingParams p, const std::string& name) {
    try {
        p.validate();
        FAIL() << "accepted invalid " << name;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_THROW(Sampler(p, 10), Error);
}

TEST(Sampling, InvalidParametersAreNamed) {
    SamplingParams p;
    p.temperature = -1; expect_invalid(p, "temperature");
    p.temperature = NAN; expect_invalid(p, "temperature");
    p.temperature = INFINITY; expect_invalid(p, "temperature");
    p = {}; p.top_k = -1; expect_invalid(p, "top-k");
    p = {}; p.top_p = 0; expect_invalid(p, "top-p");
    p = {}; p.top_p = 1.5f; expect_invalid(p, "top-p");
    p = {}; p.top_p = NAN; expect_invalid(p, "top-p");
    p = {}; p.min_p = -0.1f; expect_invalid(p, "min-p");
    p = {}; p.min_p = 1.1f; expect_invalid(p, "min-p");
    EXPECT_NO_THROW(SamplingParams{}.validate());
}

TEST(Sampling, GreedyIsOneHotArgmaxLowestIdOnTies) {
    const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
    EXPECT_EQ(argmax(logits.data(), 4), 1);
    SamplingParams p;
    p.temperature = 0;
    Sampler s(p, 4);
    std::vector<float> probs;
    s.probabilities(logits.data(), probs);
    EXPECT_EQ(probs, (std::vector<float>{0, 1, 0, 0}));
    EXPECT_EQ(s.sample(logits.data()), 1);
}

// An independent, plain implementation of the same transform order.
std::vector<double> expected(const std::vector<float>& logits, const SamplingParams& p) {
    const size_t n = logits.size();
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[(size_t)a] > logits[(size_t)b]; });
    size_t keep = p.top_k > 0 ? std::min(n, (size_t)p.top_k) : n;
    std::vector<double> q(keep);
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += q[i] = std::exp((double)logits[(size_t)idx[i]]);
    for (double& v : q) v /= z;
    if (p.top_p < 1) {
        double c = 0;
        for (size_t i = 0; i < keep; ++i)
            if ((c += q[i]) >= p.top_p) { keep = i + 1; break; }
    }
    size_t k2 = 1;
    while (k2 < keep && q[k2] >= p.min_p * q[0]) ++k2;
    keep = k2;
    std::vector<double> out(n, 0.0);
    z = 0;
    for (size_t i = 0; i < keep; ++i) z += std::exp((double)logits[(size_t)idx[i]] / p.temperature);
    for (size_t i = 0; i < keep; ++i) out[(size_t)idx[i]] = std::exp((double)logits[(size_t)idx[i]] / p.temperature) / z;
    return out;
}

TEST(Sampling, TransformsMatchPlainImplementation) {
    std::mt19937 rng(3);
    std::normal_distribution<float> d(0, 2);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<float> logits(50);
        for (float& v : logits) v = d(rng);
        SamplingParams p;
        p.temperature = 0.3f + 0.3f * (float)(trial % 5);
        p.top_k = trial % 4 == 0 ? 0 : 1 + trial % 30;
        p.top_p = trial % 3 == 0 ? 1.0f : 0.5f + 0.1f * (float)(trial % 5);
        p.min_p = trial % 2 == 0 ? 0.0f : 0.02f * (float)(trial % 7);
        Sampler s(p, 50);
        std::vector<float> probs;
        s.probabilities(logits.data(), probs);
        const std::vector<double> ref = expected(logits, p);
        double sum = 0;
        for (size_t i = 0; i < 50; ++i) {
            ASSERT_NEAR(probs[i], ref[i], 1e-6) << "trial " << trial << " token " << i;
            sum += probs[i];
        }
        ASSERT_NEAR(sum, 1.0, 1e-5);
        if (p.top_k > 0) ASSERT_LE(std::count_if(probs.begin(), probs.end(), [](float v) { return v > 0; }), p.top_k);
    }
}

TEST(Sampling, SeededDrawsRepeat) {
    const std::vector<float> logits(20, 0.0f);
    SamplingParams p;
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 42;
    Sampler a(p, 20), b(p, 20);
    p.seed = 43;
    Sampler c(p, 20);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 200; ++i) {
        const TokenId x = a.sample(logits.data());
        same_ab += x == b.sample(logits.data());
        same_ac += x == c.sample(logits.data());
    }
    EXPECT_EQ(same_ab, 200);
    EXPECT_LT(same_ac, 50);
    for (int i = 0; i < 1000; ++i) {
        const double u = a.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
    }
}

TEST(Sampling, DrawFrequenciesPassChiSquare) {
    const std::vector<float> probs = {0.05f, 0.1f, 0.0f, 0.2f, 0.15f, 0.1f, 0.05f, 0.25f, 0.1f, 0.0f};
    SamplingParams p;
    p.seed = 9;
    Sampler s(p, 10);
    const int n = 100000;
    std::vector<int> count(10, 0);
    for (int i = 0; i < n; ++i) count[(size_t)s.sample_from(probs)]++;
    double chi2 = 0;
    for (size_t i = 0; i < 10; ++i) {
        if (probs[i] == 0) {
            EXPECT_EQ(count[i], 0);
            continue;
        }
        const double e = probs[i] * n;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    EXPECT_LT(chi2, 29.88);  // 7 degrees of freedom, significance 1e-4
    EXPECT_THROW(s.sample_from(std::vector<float>(10, 0.0f)), Error);
}

}  // namespace
