// The planner while it generates: the forgetting acceptance estimator, the re-planning
// decision (switch when the predicted gain pays for the switch), acceptance remembered
// across runs, and the property that matters most: switching the hierarchy at any step is
// lossless, greedy (token for token against autoregressive decoding) and sampled (the
// target's exact joint distribution, chi-square).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/error.h"
#include "decoding/generate.h"
#include "model/context.h"
#include "planner/adaptive_decoder.h"
#include "planner/online_planner.h"
#include "planner/optimizer.h"
#include "planner/shadow_verdicts.h"
#include "spec_support.h"
#include "test_support.h"

namespace hsd::test {
namespace {

using planner::AcceptanceEstimator;
using planner::AdaptiveDecoder;
using planner::Chain;
using planner::OnlinePlanner;
namespace fs = std::filesystem;

// ---- the estimator ----

TEST(Acceptance, ConvergesToTheRateAndForgets) {
    AcceptanceEstimator e(2, 32);
    e.set_prior(0, 1, 0.5, 4, true);
    EXPECT_DOUBLE_EQ(e.estimate(0, 1), 0.5);  // no samples: the prior
    std::mt19937_64 rng(5);
    std::bernoulli_distribution hi(0.85), lo(0.3);
    for (int i = 0; i < 2000; ++i) e.observe(0, 1, 1, hi(rng));
    EXPECT_NEAR(e.estimate(0, 1), 0.85, 0.12);
    // The text changes: ~4 half-lives later the estimate has followed.
    for (int i = 0; i < 128; ++i) e.observe(0, 1, 1, lo(rng));
    EXPECT_NEAR(e.estimate(0, 1), 0.3, 0.15);
    EXPECT_EQ(e.run_judged(0, 1), 2128);  // the run's totals are not forgotten
    // Batched observations weigh like single ones.
    AcceptanceEstimator b(2, 32);
    b.set_prior(0, 1, 0.5, 4, true);
    b.observe(0, 1, 10, 7);
    EXPECT_GT(b.estimate(0, 1), 0.6);
    EXPECT_LT(b.estimate(0, 1), 0.7);
    EXPECT_THROW(b.observe(0, 1, 2, 3), InternalError);
}

TEST(Acceptance, UnobservedPairsFollowTheTextsDifficulty) {
    // Nodes: 0 a model, 1 the n-gram drafter, 2 another model, 3 the target.
    AcceptanceEstimator e(4, 32);
    for (int i = 0; i < 3; ++i)
        for (int j = i + 1; j < 4; ++j) e.set_prior(i, j, 0.5, 4, i != 1);
    for (int k = 0; k < 200; ++k) e.observe(0, 3, 1, k % 10 != 0);  // 0.9 against a prior of 0.5
    EXPECT_GT(e.difficulty_shift(), 0.5);
    EXPECT_LE(e.difficulty_shift(), 1.0);          // capped: an unseen pair's prior is a guess
    EXPECT_GT(e.estimate(2, 3), 0.65);             // a model never run: lifted, not to 0.9
    EXPECT_LT(e.estimate(2, 3), 0.8);
    EXPECT_DOUBLE_EQ(e.estimate(1, 3), 0.5);       // the n-gram drafter: its own business
    const auto m = e.matrix();
    ASSERT_EQ(m.size(), 3u);
    ASSERT_EQ(m[0].size(), 4u);
    EXPECT_DOUBLE_EQ(m[2][3], e.estimate(2, 3));
    EXPECT_LE(m[0][3], AcceptanceEstimator::kMax);
}

// ---- the re-planning decision, on synthetic costs ----

// Candidates: the n-gram drafter (free), a small model (0.2 ms per token), the target
// (2 ms + 0.1 ms per row).
planner::Profile synthetic_costs() {
    planner::Profile p;
    p.target_name = "target";
    p.target_layers = 4;
    p.n_max = 16;
    planner::ProfileCandidate ng;
    ng.level = LevelSpec::ngram(3, 1);
    ng.name = "ngram3";
    ng.draft_ms = 0.001;
    ng.cost_ms.assign(16, 0.001);
    planner::ProfileCandidate m;
    m.level = LevelSpec::draft_file("small.gguf", 1);
    m.name = "small";
    m.draft_ms = 0.2;
    for (int n = 1; n <= 16; ++n) m.cost_ms.push_back(0.2 + 0.02 * n);
    p.candidates = {ng, m};
    for (int n = 1; n <= 16; ++n) p.target_cost_ms.push_back(2.0 + 0.1 * n);
    p.target_draft_ms = 2.1;
    return p;
}

std::vector<nlohmann::json> synthetic_ids() { return {{{"ngram", 3}}, {{"model", "small"}}, {{"model", "target"}}}; }

void feed(AcceptanceEstimator& e, int i, int j, double rate, int n) {
    for (int k = 0; k < n; ++k) e.observe(i, j, 1, (double)(k % 20) < rate * 20);
}

TEST(OnlinePlanner, SwitchesToWhatTheTextFavours) {
    planner::CacheStore none("");
    planner::OnlineOptions o;
    o.replan_every = 2;
    OnlinePlanner p(synthetic_costs(), synthetic_ids(), none, o);
    const auto no_lag = [](int) { return (int64_t)0; };
    p.start();
    ASSERT_EQ(p.history().size(), 1u);
    // Copying text: the n-gram drafter is right 95% of the time, the model 10%.
    feed(p.acceptance(), 0, 2, 0.95, 400);
    feed(p.acceptance(), 1, 2, 0.10, 400);
    EXPECT_FALSE(p.after_step(1, 10, 500, no_lag).has_value());  // not a re-planning step
    std::optional<Chain> c = p.after_step(2, 20, 500, no_lag);
    if (!c) c = p.current();  // (the first plan may already be it)
    EXPECT_EQ(c->levels, std::vector<int>({0})) << p.describe(*c);
    // New text: the lookup finds nothing, the model is right 90% of the time.
    feed(p.acceptance(), 0, 2, 0.02, 400);
    feed(p.acceptance(), 1, 2, 0.90, 400);
    c = p.after_step(4, 40, 500, no_lag);
    ASSERT_TRUE(c.has_value());
    EXPECT_NE(std::find(c->levels.begin(), c->levels.end(), 1), c->levels.end()) << p.describe(*c);
    EXPECT_EQ(p.history().size(), p.history().back().step == 4 ? p.history().size() : 0u);
    EXPECT_GT(p.history().back().predicted_tokens_per_second, p.history().back().previous_tokens_per_second);
    // Stable estimates: no further switch.
    EXPECT_FALSE(p.after_step(6, 60, 500, no_lag).has_value());
}

TEST(OnlinePlanner, ASwitchMustPayForTheCatchUp) {
    planner::CacheStore none("");
    planner::OnlineOptions o;
    o.replan_every = 1;
    for (const bool long_lag : {true, false}) {
        OnlinePlanner p(synthetic_costs(), synthetic_ids(), none, o);
        p.force(Chain{{0}, {4}}, 0, 0);
        feed(p.acceptance(), 0, 2, 0.05, 400);
        feed(p.acceptance(), 1, 2, 0.90, 400);
        // Joining costs the model its lag; with 3 tokens left it never pays for 100k tokens.
        const auto lag = [&](int c) { return c == 1 && long_lag ? (int64_t)100000 : (int64_t)0; };
        EXPECT_EQ(p.after_step(1, 10, 3, lag).has_value(), !long_lag);
    }
}

TEST(OnlinePlanner, RemembersAcceptanceForTheNextRun) {
    const fs::path dir = fs::temp_directory_path() / ("hsd-online-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    planner::CacheStore store(dir.string(), [](const std::string& m) { ADD_FAILURE() << m; });
    planner::OnlineOptions o;
    {
        OnlinePlanner p(synthetic_costs(), synthetic_ids(), store, o);
        feed(p.acceptance(), 1, 2, 0.9, 1000);
        p.remember();
    }
    OnlinePlanner q(synthetic_costs(), synthetic_ids(), store, o);
    EXPECT_NEAR(q.acceptance().prior(1, 2), 0.9, 0.01);
    EXPECT_NEAR(q.acceptance().prior(0, 2), o.neutral_ngram, 1e-9);  // never measured
    // Another sampling mode is another pair.
    planner::Profile sampled = synthetic_costs();
    sampled.sampling.temperature = 1;
    OnlinePlanner r(sampled, synthetic_ids(), store, o);
    EXPECT_NEAR(r.acceptance().prior(1, 2), OnlinePlanner::neutral_prior(o, 1, 1), 1e-9);
    fs::remove_all(dir);
}

// ---- shadow verdicts: the target's verdicts on deeper levels' drafts ----

TEST(ShadowVerdicts, JudgesProposalsStillOnTheCommittedSequence) {
    // Pool: 0 = n-gram, 1 = a model, 2 = another model, 3 = the target.
    planner::ShadowVerdicts v(3, 0);
    v.begin_step(true);
    v.on_proposal(1, 2, 4, {10, 11, 12});  // level 1 drafts positions 4..6 for level 2
    v.on_proposal(0, 1, 4, {});            // the n-gram drafter found nothing
    v.on_proposal(2, 3, 4, {10, 11});      // verified by the target: counted directly, not here
    v.on_cut(5);                           // level 2 kept positions 4; position 6's draft is gone
    const std::vector<TokenId> seq = {1, 2, 3, 4, 10, 99};
    const std::vector<planner::ShadowSample>& out = v.end_step(seq);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].level, 1);
    EXPECT_TRUE(out[0].agreed);   // position 4: 10 committed
    EXPECT_EQ(out[1].level, 1);
    EXPECT_FALSE(out[1].agreed);  // position 5: 99 committed
    EXPECT_EQ(out[2].level, 0);   // the empty proposal: one failure, after the proposals
    EXPECT_FALSE(out[2].agreed);

    v.begin_step(true);  // a new step forgets the last one's proposals
    EXPECT_TRUE(v.end_step(seq).empty());
}

TEST(ShadowVerdicts, SampledStepsJudgeOnlyTheNgramDrafter) {
    planner::ShadowVerdicts v(3, 0);
    v.begin_step(false);
    v.on_proposal(1, 2, 2, {7});  // a sampled model draft agreeing is not its acceptance
    v.on_proposal(0, 1, 2, {7});  // the deterministic n-gram drafter's is
    v.on_proposal(0, 1, 3, {});
    const std::vector<planner::ShadowSample>& out = v.end_step({1, 2, 7, 8});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].level, 0);
    EXPECT_TRUE(out[0].agreed);
    EXPECT_EQ(out[1].level, 0);
    EXPECT_FALSE(out[1].agreed);
}

// ---- lossless switching ----

// Costs for a pool of real levels (what they are does not matter: the chains are forced).
planner::Profile pool_costs(const std::vector<LevelSpec>& pool_levels) {
    planner::Profile p;
    p.target_name = "target";
    p.n_max = 16;
    for (const LevelSpec& s : pool_levels) {
        planner::ProfileCandidate c;
        c.level = s;
        c.name = s.name();
        c.draft_ms = 0.1;
        c.cost_ms.assign(16, 0.5);
        p.candidates.push_back(c);
    }
    p.target_cost_ms.assign(16, 2.0);
    p.target_draft_ms = 2.0;
    return p;
}

std::vector<nlohmann::json> pool_ids(size_t n) {
    std::vector<nlohmann::json> ids;
    for (size_t i = 0; i <= n; ++i) ids.push_back({{"node", i}});
    return ids;
}

// A random increasing subset of the pool with thresholds 1..6 (possibly empty: the target alone).
Chain random_chain(std::mt19937_64& rng, int n_candidates) {
    Chain c;
    for (int i = 0; i < n_candidates; ++i)
        if (rng() % 2) {
            c.levels.push_back(i);
            c.thresholds.push_back(1 + (int)(rng() % 6));
        }
    return c;
}

TEST(OnlineSwitching, GreedyRandomSwitchesMatchAutoregressive) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    const Model& target = shared_model("hsd-target");
    // The planner's kind of pool: the n-gram drafter, independent models, early exits.
    const std::vector<LevelSpec> pool_levels = parse_levels("ngram3:1,m0:1,@2:1,@4:1,m1:1,@8:1");
    const planner::Profile costs = pool_costs(pool_levels);
    planner::CacheStore none("");
    planner::OnlineOptions o;
    o.replan_every = 3;  // the planner's own switches too, between the forced ones
    Hierarchy h(target, pool_levels, pool(), {.pool_of_candidates = true});
    OnlinePlanner planner(costs, pool_ids(pool_levels.size()), none, o);
    AdaptiveDecoder d(h, planner);
    Context ctx(target, pool());
    const std::vector<std::vector<TokenId>> prompts = reference_prompts();
    const int n_predict = sanitizer_build() ? 40 : 96;
    int switches = 0, steps = 0;
    for (size_t k = 0; k < std::min<size_t>(prompts.size(), sanitizer_build() ? 2 : 4); ++k) {
        std::mt19937_64 rng(100 + k);
        d.force = [&](int64_t) -> std::optional<Chain> {
            ++steps;
            if (rng() % 2) return std::nullopt;
            ++switches;
            return random_chain(rng, (int)pool_levels.size());
        };
        Sampler sd(greedy_params(), target.config().n_vocab), sa(greedy_params(), target.config().n_vocab);
        Generation g(d, sd, prompts[k], n_predict, true);
        while (!g.done()) g.step();
        const GenerationResult ar = generate(ctx, sa, prompts[k], n_predict, true);
        EXPECT_EQ(g.result().tokens, ar.tokens) << "prompt " << k;
    }
    // About every other step was forced to a new chain (the sanitizer run has fewer steps).
    EXPECT_GE(switches, std::max(3, steps / 4)) << steps << " steps";
}

TEST(OnlineSwitching, SampledRandomSwitchesMatchTargetDistribution) {
    const TinyFamily f;
    const Model &target = *f.target, &d1 = *f.d1, &d0 = *f.d0;
    const std::vector<LevelSpec> pool_levels = {LevelSpec::ngram(2, 1), LevelSpec::draft_model(d0, 1),
                                                LevelSpec::early_exit(1, 1), LevelSpec::draft_model(d1, 1)};
    planner::CacheStore none("");
    planner::OnlineOptions o;
    o.replan_every = 0;  // only the forced switches
    Hierarchy h(target, pool_levels, tiny_pool(), {.pool_of_candidates = true});
    planner::Profile costs = pool_costs(pool_levels);
    costs.sampling = pure_sampling(0);
    OnlinePlanner planner(costs, pool_ids(pool_levels.size()), none, o);
    AdaptiveDecoder d(h, planner);

    const std::vector<TokenId> prompt = {1, 3, 4};
    const int V = target.config().n_vocab, n_tok = 3;
    const std::vector<double> exact = exact_joint(target, prompt, n_tok);
    std::vector<int64_t> counts(exact.size(), 0);
    const int runs = sampling_runs();
    for (int r = 0; r < runs; ++r) {
        std::mt19937_64 rng(7919ULL * (uint64_t)r + 1);
        d.force = [&](int64_t) -> std::optional<Chain> { return random_chain(rng, (int)pool_levels.size()); };
        Sampler s(pure_sampling(1000003ULL * (uint64_t)r + 17), V);
        Generation g(d, s, prompt, n_tok + 1, true);
        while (!g.done()) g.step();
        const std::vector<TokenId>& tok = g.result().tokens;
        ASSERT_GE((int)tok.size(), n_tok);
        size_t cell = 0;
        for (int k = 0; k < n_tok; ++k) cell = cell * (size_t)V + (size_t)tok[(size_t)k];
        ++counts[cell];
    }
    int df = 0;
    const double p = chi_square_p(counts, exact, runs, &df);
    std::printf("    chi-square over %d runs, %d df: p = %.3g\n", runs, df, p);
    EXPECT_GT(p, kAlpha);
}

}  // namespace
}  // namespace hsd::test
