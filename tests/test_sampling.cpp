// The sampler: parameter validation, greedy decoding, each transform (top-k, top-p, min-p,
// temperature) against a plain re-implementation, seeded reproducibility, and draw
// frequencies (chi-square against fixed critical values at significance 1e-4; the seeds are
// fixed, so every run draws the same numbers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "sampling/sampler.h"

namespace hsd {
namespace {

// Upper 1e-4 quantiles of the chi-square distribution, by degrees of freedom (1..11).
constexpr double kChi2Crit1e4[] = {0, 15.137, 18.421, 21.108, 23.513, 25.745, 27.856,
                                   29.878, 31.828, 33.720, 35.564, 37.367};

// Pearson's statistic of observed counts against expected probabilities (cells with p > 0).
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t n, int* dof) {
    double chi2 = 0;
    int cells = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] <= 0) continue;
        const double e = p[i] * (double)n;
        chi2 += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
        ++cells;
    }
    *dof = cells - 1;
    return chi2;
}

SamplingParams plain_params(float temperature = 1.0f, uint64_t seed = 0) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

// ---- validation -----------------------------------------------------------------------------

// The message must name the parameter (either spelling: "top-k" or "top_k").
bool names(const std::string& msg, const std::string& param) {
    std::string alt = param;
    std::replace(alt.begin(), alt.end(), '-', '_');
    return msg.find(param) != std::string::npos || msg.find(alt) != std::string::npos;
}

void expect_invalid(const SamplingParams& p, const std::string& param, const std::string& what) {
    SCOPED_TRACE(what);
    try {
        p.validate();
        ADD_FAILURE() << "validate() accepted " << what;
    } catch (const Error& e) {
        EXPECT_TRUE(names(e.what(), param)) << "message does not name " << param << ": " << e.what();
    }
    try {
        Sampler s(p, 10);
        ADD_FAILURE() << "Sampler accepted " << what;
    } catch (const Error& e) {
        EXPECT_TRUE(names(e.what(), param)) << "message does not name " << param << ": " << e.what();
    }
}

TEST(SamplingParams, InvalidValuesThrowNamingTheParameter) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    for (float t : {-1.0f, -1e-7f, nan, inf, -inf}) {
        SamplingParams p;
        p.temperature = t;
        expect_invalid(p, "temperature", "temperature " + std::to_string(t));
    }
    for (int k : {-1, -100}) {
        SamplingParams p;
        p.top_k = k;
        expect_invalid(p, "top-k", "top_k " + std::to_string(k));
    }
    for (float v : {0.0f, -0.5f, 1.5f, 1.0000001f, nan, inf}) {
        SamplingParams p;
        p.top_p = v;
        expect_invalid(p, "top-p", "top_p " + std::to_string(v));
    }
    for (float v : {-0.1f, 1.1f, nan, -inf}) {
        SamplingParams p;
        p.min_p = v;
        expect_invalid(p, "min-p", "min_p " + std::to_string(v));
    }
}

TEST(SamplingParams, BoundaryValuesAreAccepted) {
    EXPECT_NO_THROW(SamplingParams{}.validate());
    SamplingParams p;
    p.temperature = 0.0f;  // greedy
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    EXPECT_NO_THROW(p.validate());
    EXPECT_TRUE(p.greedy());
    p.temperature = 100.0f;
    p.top_k = 1000000;
    p.top_p = 1e-6f;
    p.min_p = 1.0f;
    EXPECT_NO_THROW(p.validate());
    EXPECT_FALSE(p.greedy());
    EXPECT_NO_THROW(Sampler(p, 5));
}

// ---- greedy -----------------------------------------------------------------------------------

TEST(Sampling, ArgmaxTiesResolveToLowestIndex) {
    const std::vector<float> a = {0.5f, 2.0f, -1.0f, 2.0f};
    EXPECT_EQ(argmax(a.data(), 4), 1);
    const std::vector<float> b = {3.0f, 3.0f, 3.0f};
    EXPECT_EQ(argmax(b.data(), 3), 0);
    const std::vector<float> c = {-5.0f, -4.0f, -4.5f, -4.0f};
    EXPECT_EQ(argmax(c.data(), 4), 1);
    const std::vector<float> d = {-std::numeric_limits<float>::infinity(), -1e30f};
    EXPECT_EQ(argmax(d.data(), 2), 1);
    EXPECT_EQ(argmax(a.data(), 1), 0);
}

TEST(Sampling, GreedyIsOneHotAtArgmax) {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (int trial = 0; trial < 50; ++trial) {
        const int n = 1 + trial * 7;
        std::vector<float> logits((size_t)n);
        for (float& v : logits) v = nd(rng);
        if (n > 3 && trial % 2 == 0) logits[(size_t)n - 1] = logits[(size_t)n / 2] = 100.0f;  // a tie at the top
        const int want = (int)(std::max_element(logits.begin(), logits.end()) - logits.begin());  // first max
        SamplingParams p;
        p.temperature = 0.0f;
        p.seed = (uint64_t)trial;
        Sampler s(p, n);
        std::vector<float> probs;
        s.probabilities(logits.data(), probs);
        ASSERT_EQ(probs.size(), (size_t)n);
        for (int i = 0; i < n; ++i) ASSERT_EQ(probs[(size_t)i], i == want ? 1.0f : 0.0f) << "trial " << trial << " i " << i;
        for (int rep = 0; rep < 5; ++rep) ASSERT_EQ(s.sample(logits.data()), want) << "trial " << trial;
    }
}

// ---- the transforms -----------------------------------------------------------------------------

// A plain implementation of the documented order: sort by logit (ties: lower id first),
// keep top_k, softmax at temperature 1, keep the shortest prefix reaching top_p, drop
// tokens below min_p * p_max, then softmax of the survivors' logits / temperature.
std::vector<double> expected_probs(const std::vector<float>& logits, const SamplingParams& p) {
    const size_t n = logits.size();
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[(size_t)a] > logits[(size_t)b]; });
    size_t keep = (p.top_k > 0 && (size_t)p.top_k < n) ? (size_t)p.top_k : n;
    const double mx = logits[(size_t)idx[0]];
    std::vector<double> q(keep);
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += (q[i] = std::exp((double)logits[(size_t)idx[i]] - mx));
    for (double& v : q) v /= z;
    if (p.top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < keep; ++i) {
            cum += q[i];
            if (cum >= (double)p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < keep; ++i)
        if (q[i] >= (double)p.min_p * q[0]) kept = i + 1;  // q is sorted: survivors form a prefix
    std::vector<double> out(n, 0.0);
    z = 0;
    for (size_t i = 0; i < kept; ++i) z += std::exp(((double)logits[(size_t)idx[i]] - mx) / (double)p.temperature);
    for (size_t i = 0; i < kept; ++i)
        out[(size_t)idx[i]] = std::exp(((double)logits[(size_t)idx[i]] - mx) / (double)p.temperature) / z;
    return out;
}

TEST(Sampling, ProbabilitiesMatchPlainImplementation) {
    std::mt19937 rng(3);
    int combos = 0;
    for (int n_vocab : {1, 7, 64, 1000})
        for (float spread : {0.5f, 3.0f}) {
            std::normal_distribution<float> nd(0.0f, spread);
            std::vector<float> logits((size_t)n_vocab);
            for (float& v : logits) v = nd(rng);
            if (n_vocab >= 7) logits[3] = logits[5];  // a tie somewhere
            for (float temperature : {0.1f, 0.5f, 1.0f, 1.7f, 5.0f})
                for (int top_k : {0, 1, 2, 5, 40, n_vocab, n_vocab + 5})
                    for (float top_p : {1.0f, 0.95f, 0.5f, 0.1f, 1e-6f})
                        for (float min_p : {0.0f, 0.05f, 0.3f, 1.0f}) {
                            SamplingParams p;
                            p.temperature = temperature;
                            p.top_k = top_k;
                            p.top_p = top_p;
                            p.min_p = min_p;
                            SCOPED_TRACE(::testing::Message() << "n_vocab " << n_vocab << " spread " << spread << " T "
                                                              << temperature << " top_k " << top_k << " top_p " << top_p
                                                              << " min_p " << min_p);
                            Sampler s(p, n_vocab);
                            std::vector<float> probs;
                            s.probabilities(logits.data(), probs);
                            ASSERT_EQ(probs.size(), (size_t)n_vocab);
                            const std::vector<double> want = expected_probs(logits, p);
                            double sum = 0;
                            int nonzero = 0;
                            for (int i = 0; i < n_vocab; ++i) {
                                const double got = probs[(size_t)i];
                                ASSERT_NEAR(got, want[(size_t)i], 1e-6 + 1e-5 * want[(size_t)i]) << "token " << i;
                                // Filtered tokens are exactly 0; kept ones are > 0 unless they underflow a float.
                                if (want[(size_t)i] == 0.0) {
                                    ASSERT_EQ(got, 0.0) << "token " << i << " should have been filtered out";
                                } else if (want[(size_t)i] > 1e-37) {
                                    ASSERT_GT(got, 0.0) << "token " << i << " should have been kept";
                                }
                                ASSERT_GE(got, 0.0);
                                sum += got;
                                nonzero += got > 0;
                            }
                            ASSERT_NEAR(sum, 1.0, 1e-5);
                            if (top_k > 0) {
                                ASSERT_LE(nonzero, top_k);
                            }
                            ASSERT_GE(nonzero, 1);
                            ++combos;
                        }
        }
    EXPECT_GT(combos, 1000);
}

TEST(Sampling, TopKKeepsTheKLargestAndTopK1IsOneHot) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::vector<float> logits(200);
    for (float& v : logits) v = nd(rng);
    std::vector<float> sorted = logits;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    for (int k : {1, 2, 10, 199}) {
        SamplingParams p = plain_params(0.9f);
        p.top_k = k;
        Sampler s(p, 200);
        std::vector<float> probs;
        s.probabilities(logits.data(), probs);
        for (size_t i = 0; i < logits.size(); ++i) {
            if (logits[i] >= sorted[(size_t)k - 1]) EXPECT_GT(probs[i], 0.0f) << "k " << k << " token " << i;
            else EXPECT_EQ(probs[i], 0.0f) << "k " << k << " token " << i;
        }
        if (k == 1) {
            const int top = argmax(logits.data(), 200);
            EXPECT_EQ(probs[(size_t)top], 1.0f);
            for (int rep = 0; rep < 20; ++rep) EXPECT_EQ(s.sample(logits.data()), top);
        }
    }
    // Ties at the cut keep the lower ids.
    const std::vector<float> tied = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f};
    SamplingParams p = plain_params();
    p.top_k = 2;
    Sampler s(p, 5);
    std::vector<float> probs;
    s.probabilities(tied.data(), probs);
    EXPECT_EQ(probs, (std::vector<float>{0.0f, 0.5f, 0.5f, 0.0f, 0.0f}));
}

TEST(Sampling, TopPKeepsTheShortestPrefixReachingP) {
    // Temperature-1 probabilities 0.5, 0.3, 0.15, 0.05.
    const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};
    struct Case {
        float top_p;
        std::vector<int> kept;
    };
    for (const Case& c : {Case{0.3f, {1}}, Case{0.49f, {1}}, Case{0.51f, {1, 3}}, Case{0.79f, {1, 3}},
                          Case{0.81f, {1, 3, 0}}, Case{0.94f, {1, 3, 0}}, Case{0.96f, {1, 3, 0, 2}}}) {
        SamplingParams p = plain_params();
        p.top_p = c.top_p;
        Sampler s(p, 4);
        std::vector<float> probs;
        s.probabilities(logits.data(), probs);
        double kept_mass = 0;
        for (int id : c.kept) kept_mass += std::exp((double)logits[(size_t)id]);
        for (int i = 0; i < 4; ++i) {
            const bool kept = std::find(c.kept.begin(), c.kept.end(), i) != c.kept.end();
            const double want = kept ? std::exp((double)logits[(size_t)i]) / kept_mass : 0.0;
            EXPECT_NEAR(probs[(size_t)i], want, 1e-6) << "top_p " << c.top_p << " token " << i;
        }
    }
}

TEST(Sampling, TopPAndMinPBoundariesAreInclusive) {
    // Four equal logits: exactly 0.25 each, so cumulative masses are exact.
    const std::vector<float> flat = {1.0f, 1.0f, 1.0f, 1.0f};
    std::vector<float> probs;
    for (int k = 1; k <= 4; ++k) {
        SamplingParams p = plain_params();
        p.top_p = 0.25f * (float)k;  // reached exactly by the first k tokens
        Sampler s(p, 4);
        s.probabilities(flat.data(), probs);
        for (int i = 0; i < 4; ++i)
            EXPECT_EQ(probs[(size_t)i], i < k ? 1.0f / (float)k : 0.0f) << "top_p " << p.top_p << " token " << i;
    }
    // min_p = 1 keeps every token tied with the maximum (p >= min_p * p_max).
    const std::vector<float> tied = {2.0f, 1.0f, 2.0f, 2.0f};
    SamplingParams p = plain_params();
    p.min_p = 1.0f;
    Sampler s(p, 4);
    s.probabilities(tied.data(), probs);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(probs[(size_t)i], i == 1 ? 0.0f : 1.0f / 3, 1e-7) << "token " << i;
    EXPECT_EQ(probs[1], 0.0f);
}

TEST(Sampling, MinPDropsTokensBelowFractionOfMax) {
    // Temperature-1 probabilities 0.4, 0.3, 0.2, 0.1 (token ids shuffled).
    const std::vector<float> logits = {std::log(0.2f), std::log(0.1f), std::log(0.4f), std::log(0.3f)};
    struct Case {
        float min_p;
        std::vector<int> kept;
    };
    for (const Case& c : {Case{0.0f, {2, 3, 0, 1}}, Case{0.2f, {2, 3, 0, 1}}, Case{0.26f, {2, 3, 0}},
                          Case{0.6f, {2, 3}}, Case{0.76f, {2}}, Case{1.0f, {2}}}) {
        SamplingParams p = plain_params();
        p.min_p = c.min_p;
        Sampler s(p, 4);
        std::vector<float> probs;
        s.probabilities(logits.data(), probs);
        for (int i = 0; i < 4; ++i) {
            const bool kept = std::find(c.kept.begin(), c.kept.end(), i) != c.kept.end();
            EXPECT_EQ(probs[(size_t)i] > 0.0f, kept) << "min_p " << c.min_p << " token " << i;
        }
    }
}

TEST(Sampling, TemperatureIsAppliedAfterFiltering) {
    // p = 0.6, 0.25, 0.15 at temperature 1. top_p 0.5 keeps only the first token even at a
    // temperature that would flatten it below 0.5 if applied first.
    const std::vector<float> logits = {std::log(0.6f), std::log(0.25f), std::log(0.15f)};
    std::vector<float> probs;
    {
        SamplingParams p = plain_params(100.0f);
        p.top_p = 0.5f;
        Sampler s(p, 3);
        s.probabilities(logits.data(), probs);
        EXPECT_EQ(probs, (std::vector<float>{1.0f, 0.0f, 0.0f}));
    }
    {
        // min_p 0.3 keeps tokens with p >= 0.18 (first two); at temperature 3 the third
        // would pass if the cut were taken after the temperature.
        SamplingParams p = plain_params(3.0f);
        p.min_p = 0.3f;
        Sampler s(p, 3);
        s.probabilities(logits.data(), probs);
        const double a = std::pow(0.6, 1.0 / 3), b = std::pow(0.25, 1.0 / 3);
        EXPECT_NEAR(probs[0], a / (a + b), 1e-6);
        EXPECT_NEAR(probs[1], b / (a + b), 1e-6);
        EXPECT_EQ(probs[2], 0.0f);
    }
    {
        // top_p 0.8 keeps two tokens; temperature 0.5 sharpens the survivors: p^2 renormalized.
        SamplingParams p = plain_params(0.5f);
        p.top_p = 0.8f;
        Sampler s(p, 3);
        s.probabilities(logits.data(), probs);
        EXPECT_NEAR(probs[0], 0.36 / (0.36 + 0.0625), 1e-6);
        EXPECT_NEAR(probs[1], 0.0625 / (0.36 + 0.0625), 1e-6);
        EXPECT_EQ(probs[2], 0.0f);
    }
}

TEST(Sampling, MaskedLogitsGetZeroProbability) {
    const float ninf = -std::numeric_limits<float>::infinity();
    const std::vector<float> logits = {ninf, 1.0f, ninf, 0.0f, ninf};
    Sampler s(plain_params(0.7f, 4), 5);
    std::vector<float> probs;
    s.probabilities(logits.data(), probs);
    EXPECT_EQ(probs[0], 0.0f);
    EXPECT_EQ(probs[2], 0.0f);
    EXPECT_EQ(probs[4], 0.0f);
    EXPECT_NEAR(probs[1] + probs[3], 1.0f, 1e-6f);
    for (int i = 0; i < 200; ++i) {
        const TokenId t = s.sample(logits.data());
        ASSERT_TRUE(t == 1 || t == 3) << t;
    }
}

// ---- reproducibility -------------------------------------------------------------------------------

TEST(Sampling, SameSeedSameSequenceDifferentSeedDifferentSequence) {
    const int n_vocab = 100;
    const std::vector<float> flat((size_t)n_vocab, 0.0f);
    auto draws = [&](uint64_t seed) {
        Sampler s(plain_params(1.0f, seed), n_vocab);
        std::vector<TokenId> out;
        for (int i = 0; i < 200; ++i) out.push_back(s.sample(flat.data()));
        return out;
    };
    const std::vector<TokenId> a = draws(42), b = draws(42), c = draws(43), d = draws(0);
    EXPECT_EQ(a, b);
    for (const std::vector<TokenId>* other : {&c, &d}) {
        int same = 0;
        for (size_t i = 0; i < a.size(); ++i) same += a[i] == (*other)[i];
        EXPECT_LT(same, 50) << "sequences from different seeds agree at " << same << " of 200 draws";
    }
    // The draws actually cover the vocabulary (a flat distribution, not a constant).
    std::vector<TokenId> distinct = a;
    std::sort(distinct.begin(), distinct.end());
    EXPECT_GT(std::unique(distinct.begin(), distinct.end()) - distinct.begin(), 50);
    // uniform() and sample_from() come from the same reproducible stream.
    Sampler x(plain_params(1.0f, 7), n_vocab), y(plain_params(1.0f, 7), n_vocab);
    const std::vector<float> probs = {0.1f, 0.2f, 0.3f, 0.4f};
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(x.uniform(), y.uniform());
        ASSERT_EQ(x.sample_from(probs), y.sample_from(probs));
    }
}

// ---- draw frequencies ------------------------------------------------------------------------------

TEST(Sampling, SampleFromFrequenciesMatchDistribution) {
    const std::vector<float> base = {0.05f, 0.1f, 0.0f, 0.2f, 0.15f, 0.1f, 0.05f, 0.25f, 0.1f, 0.0f};
    for (float scale : {1.0f, 3.7f}) {  // sample_from accepts unnormalized weights
        std::vector<float> probs = base;
        for (float& v : probs) v *= scale;
        Sampler s(plain_params(1.0f, scale == 1.0f ? 9 : 10), 10);
        const int64_t n = 100000;
        std::vector<int64_t> counts(10, 0);
        for (int64_t i = 0; i < n; ++i) {
            const TokenId t = s.sample_from(probs);
            ASSERT_GE(t, 0);
            ASSERT_LT(t, 10);
            counts[(size_t)t]++;
        }
        EXPECT_EQ(counts[2], 0) << "zero-probability outcome drawn";
        EXPECT_EQ(counts[9], 0) << "zero-probability outcome drawn";
        const std::vector<double> p(base.begin(), base.end());
        int dof = 0;
        const double chi2 = chi_square(counts, p, n, &dof);
        ASSERT_EQ(dof, 7);
        EXPECT_LT(chi2, kChi2Crit1e4[dof]) << "scale " << scale;
    }
}

TEST(Sampling, SampleFrequenciesMatchProbabilities) {
    std::mt19937 rng(12);
    std::normal_distribution<float> nd(0.0f, 1.5f);
    std::vector<float> logits(50);
    for (float& v : logits) v = nd(rng);
    SamplingParams p;
    p.temperature = 0.8f;
    p.top_k = 8;
    p.top_p = 0.97f;
    p.min_p = 0.02f;
    p.seed = 77;
    Sampler s(p, 50);
    std::vector<float> probs;
    s.probabilities(logits.data(), probs);
    const int64_t n = 50000;
    std::vector<int64_t> counts(50, 0);
    for (int64_t i = 0; i < n; ++i) counts[(size_t)s.sample(logits.data())]++;
    for (size_t i = 0; i < probs.size(); ++i)
        if (probs[i] == 0.0f) {
            EXPECT_EQ(counts[i], 0) << "token " << i << " is outside the filtered set";
        }
    int dof = 0;
    const double chi2 = chi_square(counts, std::vector<double>(probs.begin(), probs.end()), n, &dof);
    ASSERT_GE(dof, 1);
    ASSERT_LE(dof, 11);
    EXPECT_LT(chi2, kChi2Crit1e4[dof]);
}

TEST(Sampling, SampleFromEdgeCases) {
    Sampler s(plain_params(1.0f, 3), 4);
    const std::vector<float> last_only = {0.0f, 0.0f, 0.0f, 2.0f};
    const std::vector<float> first_only = {1e-30f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(s.sample_from(last_only), 3);
        ASSERT_EQ(s.sample_from(first_only), 0);
    }
    EXPECT_THROW(s.sample_from(std::vector<float>(10, 0.0f)), Error);
    EXPECT_THROW(s.sample_from(std::vector<float>{}), Error);
}

TEST(Sampling, UniformIsInUnitIntervalAndUniform) {
    Sampler s(plain_params(1.0f, 123), 4);
    const int64_t n = 100000;
    std::vector<int64_t> bins(10, 0);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double u = s.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
        bins[(size_t)std::min(9, (int)(u * 10))]++;
    }
    EXPECT_NEAR(sum / (double)n, 0.5, 0.005);
    int dof = 0;
    const double chi2 = chi_square(bins, std::vector<double>(10, 0.1), n, &dof);
    ASSERT_EQ(dof, 9);
    EXPECT_LT(chi2, kChi2Crit1e4[dof]);
}

}  // namespace
}  // namespace hsd
