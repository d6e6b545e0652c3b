// The hierarchy planner's math: the exact evaluator against closed forms, the validation
// table of shared/papers/hsd-paper.md §3.2 and a Monte-Carlo of the executor's recursion
// (testing/latency_oracle.h); the shortest-path DP against exhaustive search on randomized
// problems; rank_plans' invariants; cost tables; and the error messages for bad inputs. Every
// random stream is seeded, so runs are reproducible.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "planner/latency_model.h"
#include "planner/optimizer.h"
#include "testing/latency_oracle.h"

namespace hsd::planner {
namespace {

// Drafters 0..K-1 and the target K; chain neighbours i -> i+1 accept with a[i] (others 0.5).
Problem chain_problem(const std::vector<double>& a, std::function<double(int, int, int)> cost) {
    Problem p;
    p.n_drafters = (int)a.size();
    for (int i = 0; i <= p.n_drafters; ++i) p.names.push_back(i < p.n_drafters ? fmt::format("m{}", i) : "target");
    p.accept.assign((size_t)p.n_drafters, std::vector<double>((size_t)p.n_drafters + 1, 0.5));
    for (size_t i = 0; i < a.size(); ++i) p.accept[i][i + 1] = a[i];
    p.cost = std::move(cost);
    return p;
}

std::function<double(int, int, int)> constant_cost(std::vector<double> c) {
    return [c](int, int level, int) { return c[(size_t)level]; };
}

// CPU-like: a pass over n tokens costs more than over one; a verifier fed by the level just
// below it is cheaper (an early-exit view only runs the layers above it).
std::function<double(int, int, int)> batch_cost(std::vector<double> c, double per_token = 0.12) {
    return [c, per_token](int below, int level, int n) {
        const double view = below >= 0 && below == level - 1 ? 0.85 : 1.0;
        return c[(size_t)level] * view * (1.0 + per_token * (n - 1));
    };
}

Chain full_chain(const std::vector<int>& thresholds) {
    Chain c;
    for (size_t i = 0; i < thresholds.size(); ++i) c.levels.push_back((int)i);
    c.thresholds = thresholds;
    return c;
}

// Runs f, expects hsd::Error whose message contains every fragment.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one containing '" << fragments.front() << "'";
    } catch (const Error& e) {
        for (const auto& s : fragments)
            EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << "'" << e.what() << "' lacks '" << s << "'";
    }
}

TEST(LatencyModel, NotesValidationTable) {
    struct Row {
        std::vector<int> t;
        std::vector<double> c, a;
        double latency;
    };
    const Row rows[] = {
        {{4}, {0.05, 1}, {0.7}, 0.43273},
        {{3, 6}, {0.02, 0.2, 1}, {0.6, 0.8}, 0.44285},
        {{3, 6, 12}, {0.01, 0.05, 0.25, 1}, {0.5, 0.7, 0.85}, 0.56035},
        {{2, 5}, {0.05, 0.3, 1}, {0.9, 0.6}, 0.77529},
    };
    for (const Row& r : rows) {
        const Problem p = chain_problem(r.a, constant_cost(r.c));
        const Prediction pr = evaluate(p, full_chain(r.t), Variant::Overshoot);
        EXPECT_NEAR(pr.seconds_per_token, r.latency, 1e-4) << describe(p, full_chain(r.t));
        EXPECT_NEAR(pr.speedup, 1.0 / r.latency, 1e-3);
        EXPECT_DOUBLE_EQ(pr.tokens_per_second * pr.seconds_per_token, 1.0);
    }
}

TEST(LatencyModel, SingleDrafterClosedForm) {
    const std::vector<double> base = {0.04, 1.0};
    for (double a : {0.0, 0.3, 0.7, 0.95, 1.0}) {
        for (int t : {1, 3, 8}) {
            const Problem p = chain_problem({a}, batch_cost(base));
            const double c0 = p.cost(-1, 0, 1), c1 = p.cost(0, 1, t + 1);
            const double out = a == 1.0 ? t + 1.0 : (1 - std::pow(a, t + 1)) / (1 - a);
            const double expected = (t * c0 + c1) / out;  // = (T0 c0 + c1(T0+1)) (1-a) / (1-a^(T0+1))
            for (Variant v : {Variant::Overshoot, Variant::Truncate}) {
                const Prediction pr = evaluate(p, {{0}, {t}}, v);
                EXPECT_NEAR(pr.seconds_per_token, expected, 1e-12 * expected) << "a=" << a << " T0=" << t;
                EXPECT_NEAR(pr.tokens_per_step, out, 1e-12 * out);
                ASSERT_EQ(pr.mean_batch.size(), 1u);
                EXPECT_EQ(pr.mean_batch[0], t);
                ASSERT_EQ(pr.forwards_per_step.size(), 2u);
                EXPECT_EQ(pr.forwards_per_step[0], t);
                EXPECT_EQ(pr.forwards_per_step[1], 1.0);
            }
        }
    }
}

TEST(LatencyModel, NoSpeculationIsThePlainTarget) {
    const Problem p = chain_problem({0.8, 0.9}, batch_cost({0.01, 0.1, 0.7}));
    const Prediction pr = evaluate(p, Chain{}, Variant::Overshoot);
    EXPECT_DOUBLE_EQ(pr.seconds_per_token, 0.7);
    EXPECT_DOUBLE_EQ(pr.speedup, 1.0);
    EXPECT_DOUBLE_EQ(pr.tokens_per_step, 1.0);
    EXPECT_TRUE(pr.mean_batch.empty());
    EXPECT_EQ(describe(p, Chain{}), "none");
    EXPECT_EQ(describe(p, full_chain({3, 6})), "m0:3,m1:6");
}

// All drafts accepted: every quantity is deterministic, and 1/(1-a) must not appear.
TEST(LatencyModel, CertainAcceptance) {
    const Problem p = chain_problem({1.0, 1.0}, batch_cost({0.02, 0.2, 1.0}));
    const auto c = p.cost;
    // Level 0 returns 2, level 1 emits 3 per round: 2 rounds -> 6 held (overshoot) or 5 (truncated).
    const double level1 = 2 * (2 * c(-1, 0, 1) + c(0, 1, 3));
    const Prediction over = evaluate(p, full_chain({2, 5}), Variant::Overshoot);
    EXPECT_NEAR(over.seconds_per_step, level1 + c(1, 2, 7), 1e-12);
    EXPECT_DOUBLE_EQ(over.tokens_per_step, 7);
    EXPECT_DOUBLE_EQ(over.mean_batch[1], 6);
    const Prediction trunc = evaluate(p, full_chain({2, 5}), Variant::Truncate);
    EXPECT_NEAR(trunc.seconds_per_step, level1 + c(1, 2, 6), 1e-12);
    EXPECT_DOUBLE_EQ(trunc.tokens_per_step, 6);
    EXPECT_DOUBLE_EQ(trunc.mean_batch[1], 5);
    EXPECT_EQ(over.forwards_per_step, (std::vector<double>{4, 2, 1}));
}

TEST(LatencyModel, ExpectedRounds) {
    // Batches of 2 drafts, a = 0.5: a round emits 1, 2, 3 tokens w.p. 1/2, 1/4, 1/4.
    const std::vector<double> r = expected_rounds(2, 0.5, 3);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_DOUBLE_EQ(r[0], 0);
    EXPECT_DOUBLE_EQ(r[1], 1);
    EXPECT_DOUBLE_EQ(r[2], 1.5);             // one more round iff the first emitted 1
    EXPECT_DOUBLE_EQ(r[3], 1 + 0.5 + 0.5);  // f(1) = 1/2, f(2) = 1/4 + 1/4
    EXPECT_DOUBLE_EQ(expected_round_output(2, 0.5), 1.75);
    EXPECT_DOUBLE_EQ(expected_round_output(3, 1.0), 4);
}

struct SimCase {
    std::vector<int> t;
    std::vector<double> a;
    bool batch_dependent;
};

TEST(LatencyModel, MatchesMonteCarlo) {
    const SimCase cases[] = {
        {{4}, {0.95}, false},
        {{6}, {0.3}, true},
        {{3, 6}, {0.6, 0.8}, true},
        {{2, 5}, {0.95, 0.3}, false},
        {{4, 4}, {0.3, 0.95}, true},
        {{3, 6, 12}, {0.5, 0.7, 0.85}, true},
        {{2, 3, 9}, {0.95, 0.3, 0.9}, false},
        {{1, 4, 7}, {0.0, 1.0, 0.6}, true},
    };
    const std::vector<double> base = {0.01, 0.05, 0.25, 1.0};
    uint64_t seed = 1;
    for (const SimCase& sc : cases) {
        std::vector<double> c(base.end() - (long)sc.t.size() - 1, base.end());
        const Problem p = chain_problem(sc.a, sc.batch_dependent ? batch_cost(c) : constant_cost(c));
        const Chain chain = full_chain(sc.t);
        for (Variant v : {Variant::Overshoot, Variant::Truncate}) {
            const Prediction e = evaluate(p, chain, v);
            const Prediction s = simulate(p, chain, v, 100000, seed++);
            const std::string what = describe(p, chain) + (v == Variant::Truncate ? " truncate" : " overshoot");
            EXPECT_NEAR(s.seconds_per_token, e.seconds_per_token, 0.01 * e.seconds_per_token) << what;
            EXPECT_NEAR(s.tokens_per_step, e.tokens_per_step, 0.01 * e.tokens_per_step) << what;
            EXPECT_NEAR(s.seconds_per_step, e.seconds_per_step, 0.01 * e.seconds_per_step) << what;
            ASSERT_EQ(s.mean_batch.size(), e.mean_batch.size());
            for (size_t k = 0; k < e.mean_batch.size(); ++k)
                EXPECT_NEAR(s.mean_batch[k], e.mean_batch[k], 0.01 * e.mean_batch[k]) << what << " level " << k;
            ASSERT_EQ(s.forwards_per_step.size(), e.forwards_per_step.size());
            for (size_t k = 0; k < e.forwards_per_step.size(); ++k)
                EXPECT_NEAR(s.forwards_per_step[k], e.forwards_per_step[k], 0.01 * e.forwards_per_step[k])
                    << what << " level " << k;
        }
    }
}

// Costs grow with the model index and with n (and depend on the level below); acceptance
// grows with the drafter's size and falls with the verifier's; a few entries are exactly 0
// or 1 to exercise the edges.
Problem random_problem(std::mt19937_64& rng, int drafters) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    Problem p;
    p.n_drafters = drafters;
    for (int i = 0; i <= drafters; ++i) p.names.push_back(fmt::format("c{}", i));
    std::vector<double> base((size_t)drafters + 1), slope((size_t)drafters + 1), quality((size_t)drafters + 1);
    base[(size_t)drafters] = 1.0;
    quality[(size_t)drafters] = 1.0;
    for (int i = drafters - 1; i >= 0; --i) {
        base[(size_t)i] = base[(size_t)i + 1] * (0.05 + 0.5 * u(rng));
        quality[(size_t)i] = quality[(size_t)i + 1] * (0.6 + 0.4 * u(rng));
    }
    for (double& s : slope) s = 0.3 * u(rng);
    std::vector<std::vector<double>> view((size_t)drafters + 1, std::vector<double>((size_t)drafters + 1));
    for (auto& row : view)
        for (double& f : row) f = 0.6 + 0.4 * u(rng);
    p.cost = [base, slope, view](int below, int level, int n) {
        const double f = below < 0 ? 1.0 : view[(size_t)below][(size_t)level];
        return base[(size_t)level] * f * (1 + slope[(size_t)level] * (n - 1));
    };
    const double gamma = 0.3 + 0.9 * u(rng);
    p.accept.assign((size_t)drafters, std::vector<double>((size_t)drafters + 1, 0.0));
    for (int i = 0; i < drafters; ++i)
        for (int j = i + 1; j <= drafters; ++j) {
            double a = std::pow(quality[(size_t)i] / quality[(size_t)j], gamma);
            const double edge = u(rng);
            if (edge < 0.03) a = 1.0;
            else if (edge < 0.05) a = 0.0;
            p.accept[(size_t)i][(size_t)j] = a;
        }
    return p;
}

TEST(Optimizer, ShortestPathMatchesExhaustive) {
    std::mt19937_64 rng(20250611);
    int deep = 0;
    const int problems = 240;
    for (int k = 0; k < problems; ++k) {
        const int drafters = 1 + k % 5;
        const int t_max = drafters <= 3 ? 8 : drafters == 4 ? 7 : 5;
        const Problem p = random_problem(rng, drafters);
        const Chain dp = optimize_shortest_path(p, t_max);
        const Chain ex = optimize_exhaustive(p, t_max, Variant::Truncate);
        const double l_dp = evaluate(p, dp, Variant::Truncate).seconds_per_token;
        const double l_ex = evaluate(p, ex, Variant::Truncate).seconds_per_token;
        EXPECT_NEAR(l_dp, l_ex, 1e-9 * l_ex) << "problem " << k << ": dp " << describe(p, dp) << ", exhaustive "
                                             << describe(p, ex);
        for (int t : dp.thresholds) EXPECT_LE(t, t_max);
        deep += dp.levels.size() >= 2;
    }
    EXPECT_GE(deep, problems / 5);  // the generator makes multi-level chains win often
}

TEST(Optimizer, NoSpeculationWhenDraftersDoNotPay) {
    const Problem p = chain_problem({0.2, 0.1}, batch_cost({0.8, 0.9, 1.0}));
    EXPECT_EQ(optimize_shortest_path(p, 8), Chain{});
    EXPECT_EQ(optimize_exhaustive(p, 8, Variant::Truncate), Chain{});
    EXPECT_EQ(optimize_exhaustive(p, 8, Variant::Overshoot), Chain{});
    const std::vector<Ranked> ranked = rank_plans(p, 8, 5);
    ASSERT_FALSE(ranked.empty());
    EXPECT_EQ(ranked[0].chain, Chain{});
    EXPECT_DOUBLE_EQ(ranked[0].prediction.speedup, 1.0);
}

// Larger instance than exhaustive search allows: no Truncate neighbour beats the DP optimum.
TEST(Optimizer, ShortestPathIsLocallyOptimalOnLargeProblems) {
    std::mt19937_64 rng(7);
    for (int k = 0; k < 5; ++k) {
        const Problem p = random_problem(rng, 6);
        const int t_max = 32;
        const Chain best = optimize_shortest_path(p, t_max);
        const double l = evaluate(p, best, Variant::Truncate).seconds_per_token;
        for (size_t i = 0; i < best.levels.size(); ++i)
            for (int step : {-1, 1}) {
                Chain c = best;
                c.thresholds[i] += step;
                if (c.thresholds[i] < 1 || c.thresholds[i] > t_max) continue;
                EXPECT_GE(evaluate(p, c, Variant::Truncate).seconds_per_token, l * (1 - 1e-12)) << describe(p, c);
            }
        for (int d = 0; d < 6; ++d)
            for (int t = 1; t <= t_max; ++t)
                EXPECT_GE(evaluate(p, {{d}, {t}}, Variant::Truncate).seconds_per_token, l * (1 - 1e-12));
    }
}

TEST(Optimizer, RankPlans) {
    std::mt19937_64 rng(99);
    int found_optimum = 0;
    const int problems = 60;
    for (int k = 0; k < problems; ++k) {
        const int drafters = 1 + k % 5;
        const int t_max = drafters <= 3 ? 7 : 5;
        const Problem p = random_problem(rng, drafters);
        const std::vector<Ranked> all = rank_plans(p, t_max, 1000);
        ASSERT_FALSE(all.empty());
        std::set<Chain> seen;
        bool has_none = false;
        for (size_t i = 0; i < all.size(); ++i) {
            EXPECT_TRUE(seen.insert(all[i].chain).second) << "duplicate " << describe(p, all[i].chain);
            if (i > 0) {
                EXPECT_GE(all[i - 1].prediction.tokens_per_second, all[i].prediction.tokens_per_second);
            }
            EXPECT_DOUBLE_EQ(all[i].prediction.seconds_per_token,
                             evaluate(p, all[i].chain, Variant::Overshoot).seconds_per_token);
            has_none |= all[i].chain.levels.empty();
        }
        EXPECT_TRUE(has_none);
        const double top = all[0].prediction.seconds_per_token;
        const Chain dp = optimize_shortest_path(p, t_max);
        EXPECT_LE(top, evaluate(p, dp, Variant::Overshoot).seconds_per_token);
        for (int d = 0; d < drafters; ++d)
            for (int t = 1; t <= t_max; ++t) EXPECT_LE(top, evaluate(p, {{d}, {t}}, Variant::Overshoot).seconds_per_token);
        const Chain ex = optimize_exhaustive(p, t_max, Variant::Overshoot);
        const double l_ex = evaluate(p, ex, Variant::Overshoot).seconds_per_token;
        EXPECT_GE(top, l_ex * (1 - 1e-12));
        EXPECT_LE(top, l_ex * 1.01) << describe(p, all[0].chain) << " vs exhaustive " << describe(p, ex);
        found_optimum += top <= l_ex * (1 + 1e-9);

        const std::vector<Ranked> three = rank_plans(p, t_max, 3);
        ASSERT_EQ(three.size(), std::min<size_t>(3, all.size()));
        EXPECT_EQ(three[0].chain, all[0].chain);
    }
    // The local search is a heuristic (it missed 1 of 300 seeded problems by 0.2% when tuned);
    // it must find the exact Overshoot optimum almost always.
    EXPECT_GE(found_optimum, problems * 9 / 10);
}

TEST(CostTable, LookupExtrapolationAndOverrides) {
    CostTable table;
    table.seconds = {{0.01, 0.012, 0.013}, {0.5}, {1.0, 1.2, 1.1}};
    table.pairwise[{0, 2}] = {0.4, 0.45};
    const auto cost = cost_from_table(table);
    EXPECT_DOUBLE_EQ(cost(-1, 0, 1), 0.01);
    EXPECT_DOUBLE_EQ(cost(-1, 0, 3), 0.013);
    EXPECT_DOUBLE_EQ(cost(-1, 0, 5), 0.015);  // linear beyond the table
    EXPECT_DOUBLE_EQ(cost(0, 1, 9), 0.5);     // one entry: constant
    EXPECT_DOUBLE_EQ(cost(1, 2, 5), 1.1);     // falling last step: slope clamped at 0
    EXPECT_DOUBLE_EQ(cost(0, 2, 2), 0.45);    // pairwise override
    EXPECT_NEAR(cost(0, 2, 4), 0.55, 1e-15);
    EXPECT_DOUBLE_EQ(cost(1, 2, 2), 1.2);     // other pairs use the level's row
    expect_error([&] { cost(-1, 3, 1); }, {"no row for level 3"});
    expect_error([&] { cost(-1, 0, 0); }, {"0 tokens"});
    expect_error([] { cost_from_table({{{0.1}, {}}, {}}); }, {"row 1", "empty"});
    expect_error([] { cost_from_table({{{0.1, -1.0}}, {}}); }, {"row 0", "n = 2", "-1"});
    CostTable bad_pair;
    bad_pair.pairwise[{0, 1}] = {std::nan("")};
    expect_error([&] { cost_from_table(bad_pair); }, {"pair (0, 1)", "finite"});
}

TEST(Errors, BadInputsNameTheProblem) {
    const Problem good = chain_problem({0.6, 0.8}, constant_cost({0.02, 0.2, 1}));
    const Chain chain = full_chain({3, 6});
    auto eval = [](const Problem& p, const Chain& c) { evaluate(p, c, Variant::Overshoot); };

    Problem p = good;
    p.names.pop_back();
    expect_error([&] { eval(p, chain); }, {"names has 2 entries", "3"});
    p = good;
    p.cost = nullptr;
    expect_error([&] { eval(p, chain); }, {"no cost function"});
    p = good;
    p.accept.pop_back();
    expect_error([&] { eval(p, chain); }, {"accept has 1 rows"});
    p = good;
    p.accept[0].pop_back();
    expect_error([&] { eval(p, chain); }, {"accept[0] ('m0')", "need 3"});
    p = good;
    p.accept[0][2] = 1.5;
    expect_error([&] { eval(p, chain); }, {"'m0' by 'target'", "accept[0][2]", "1.5", "[0, 1]"});
    p.accept[0][2] = -0.1;
    expect_error([&] { eval(p, chain); }, {"accept[0][2]", "-0.1"});
    p.accept[0][2] = std::nan("");
    expect_error([&] { eval(p, chain); }, {"accept[0][2]", "nan"});
    p = good;
    p.cost = [](int, int level, int) { return level == 1 ? -1.0 : 1.0; };
    expect_error([&] { eval(p, chain); }, {"cost of 'm1'", "drafted by 'm0'", "finite and >= 0"});
    p.cost = [](int, int, int) { return 0.0; };
    expect_error([&] { eval(p, Chain{}); }, {"target", "> 0"});

    expect_error([&] { eval(good, {{1, 0}, {3, 6}}); }, {"increasing", "'m0' (0) after 'm1' (1)"});
    expect_error([&] { eval(good, {{0, 0}, {3, 6}}); }, {"increasing"});
    expect_error([&] { eval(good, {{0, 1}, {3, 0}}); }, {"threshold of 'm1' is 0"});
    expect_error([&] { eval(good, {{0, 2}, {3, 6}}); }, {"level 2 is not a drafter"});
    expect_error([&] { eval(good, {{0, 1}, {3}}); }, {"2 levels but 1 thresholds"});
    expect_error([&] { simulate(good, chain, Variant::Overshoot, 0, 1); }, {"steps >= 1"});
    expect_error([&] { optimize_shortest_path(good, 0); }, {"t_max is 0"});
    expect_error([&] { rank_plans(good, 1000, 5); }, {"t_max is 1000"});
    // One limit for every caller (hsd plan --t-max, --hierarchy auto, bench --add-plan).
    static_assert(kDefaultTMax >= 1 && kDefaultTMax <= kMaxTMax);
    EXPECT_NO_THROW(rank_plans(good, kMaxTMax, 1));
    expect_error([&] { rank_plans(good, kMaxTMax + 1, 1); }, {"t_max is 65", "1..64"});
    expect_error([&] { optimize_shortest_path(good, kMaxTMax + 1); }, {"1..64"});
    const Problem big = chain_problem({0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, constant_cost({1, 1, 1, 1, 1, 1, 1}));
    expect_error([&] { optimize_exhaustive(big, 32, Variant::Truncate); }, {"exhaustive search", "optimize_shortest_path"});
}

}  // namespace
}  // namespace hsd::planner
