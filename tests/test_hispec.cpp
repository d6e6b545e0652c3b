// HiSpec and early-exit levels (src/model/staged_context, src/speculative/hispec):
//  * zero recomputation: every (layer, position) is evaluated at most once per distinct
//    prefix of tokens, and every committed token goes through every layer exactly once;
//  * greedy exactness on all reference prompts for a grid of (exit-draft, exit-verify, N_d,
//    N_i) on hsd-ee-small and hsd-target, and for single-exit self-speculation;
//  * sampling: the chi-square test of test_speculative on a tiny early-exit model, which a
//    broken verifier must fail;
//  * the shared cache after rejections equals a fresh context fed the committed tokens;
//  * defaults and errors of --hispec / --self-spec / @k levels.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "decoding/generate.h"
#include "model/context.h"
#include "model/staged_context.h"
#include "speculative/hierarchy.h"
#include "speculative/hispec.h"
#include "speculative/hierarchy_syntax.h"
#include "spec_support.h"
#include "test_support.h"
#include "testing/broken_verify.h"

using namespace hsd;
using namespace hsd::test;

namespace {

// ---------------------------------------------------------------------------------------
// Layer evaluations: each (layer, position, prefix) once.

// Follows every token-layer evaluation of a hierarchy's shared context: which token each
// (layer, position) currently holds, and what truncations discard.
struct EvalLog {
    std::vector<std::vector<TokenId>> live;  // [layer][position]: token evaluated there, -1 = none
    int64_t total = 0, discarded = 0, repeated = 0, bad_cuts = 0;

    void attach(Hierarchy& h) {
        StagedContext& s = h.target_state();
        live.assign((size_t)s.n_layer(), std::vector<TokenId>((size_t)s.n_ctx(), -1));
        s.on_run = [this](int a, int b, int64_t pos0, int64_t n, const TokenId* tokens) {
            for (int l = a; l < b; ++l)
                for (int64_t p = pos0; p < pos0 + n; ++p) {
                    TokenId& slot = live[(size_t)l][(size_t)p];
                    repeated += slot != -1;  // (the cache layout makes this impossible; checked anyway)
                    slot = tokens[p];
                    ++total;
                }
        };
        // A cut must only discard rejected work: the token that was at the cut position is
        // never the one the sequence continues with (HSD replaces a rejected token by one drawn
        // from the residual, which excludes it; greedy replaces it by a different argmax).
        s.on_truncate = [this, &h](int64_t len) {
            const std::vector<TokenId>& seq = h.sequence();
            for (auto& layer : live)
                for (int64_t p = len; p < (int64_t)layer.size() && layer[(size_t)p] != -1; ++p) {
                    if (p == len && len < (int64_t)seq.size() && layer[(size_t)p] == seq[(size_t)len]) ++bad_cuts;
                    layer[(size_t)p] = -1;
                    ++discarded;
                }
        };
    }
};

struct EvalCheck {
    int64_t committed_evals = 0, rejected_evals = 0;
};

// Runs a generation with the log attached and checks that the work is exactly: every
// committed token through every layer once, plus the layers rejected tokens went through.
EvalCheck check_minimal_evals(const Model& target, const std::string& levels, const std::vector<TokenId>& prompt,
                              const SamplingParams& sp, int n_predict) {
    Hierarchy h(target, parse_levels(levels), pool());
    EvalLog log;
    log.attach(h);
    Sampler s(sp, target.config().n_vocab);
    const SpeculativeResult r = generate_speculative(h, s, prompt, n_predict, true);
    EXPECT_EQ((int)r.tokens.size(), n_predict) << levels;
    std::vector<TokenId> committed = prompt;
    committed.insert(committed.end(), r.tokens.begin(), r.tokens.end());

    EXPECT_EQ(log.repeated, 0) << levels;
    EXPECT_EQ(log.bad_cuts, 0) << levels << ": a cut discarded a token that was not rejected";
    StagedContext& st = h.target_state();
    const int L = target.config().n_layer;
    const int64_t done = st.length(L);
    EXPECT_GE(done, (int64_t)committed.size() - 1) << levels;
    EvalCheck c;
    int64_t live = 0;
    for (int l = 0; l < L; ++l)
        for (int64_t p = 0; p < st.n_ctx(); ++p) {
            const TokenId t = log.live[(size_t)l][(size_t)p];
            if (t == -1) continue;
            ++live;
            if (p < done) {
                if (t != committed[(size_t)p]) {
                    ADD_FAILURE() << levels << ": layer " << l << " position " << p << " holds a token that was not committed";
                    return c;
                }
                ++c.committed_evals;
            }
        }
    EXPECT_EQ(c.committed_evals, done * L) << levels << ": a committed token missed a layer";
    // What ran = what is held + what was discarded at cuts; nothing else.
    EXPECT_EQ(log.total, live + log.discarded) << levels;
    c.rejected_evals = log.discarded;
    // The context's own counters agree with the log (prefill included), and the per-level
    // reports add up to what ran after the prefill.
    int64_t counted = 0;
    for (int64_t v : st.layer_evals()) counted += v;
    EXPECT_EQ(counted, log.total) << levels;
    int64_t reported = 0;
    for (int i = 0; i < h.n_levels(); ++i) {
        ModelDrafter* m = h.model_level(i);
        if (m && &m->model() == &target) reported += r.levels[(size_t)i].layer_evals;
    }
    EXPECT_EQ(reported, log.total - (int64_t)prompt.size() * L) << levels;
    return c;
}

TEST(HiSpecEvals, NoLayerRunsTwiceOnSharedModels) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const int n = sanitizer_build() ? 24 : 96;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"hsd-target", "@2:2,@4:4"},          {"hsd-target", "@4:3,@8:6"},     {"hsd-target", "@4:4"},
        {"hsd-target", "ngram3:3,@4:4,@12:8"}, {"hsd-target", "@4:3,m2:8"},     {"hsd-target", "m0:3,@8:6"},
        {"hsd-ee-small", "@1:2,@2:4"},        {"hsd-ee-small", "@2:3,@4:3,@6:6"},
    };
    for (const auto& [model, levels] : cases)
        for (float temp : {0.0f, 1.0f}) {
            if (sanitizer_build() && temp > 0 && model == "hsd-target") continue;
            SamplingParams sp = temp > 0 ? pure_sampling(5) : greedy_params();
            // hsd-ee-small's exits are views of hsd-ee-small: parse_levels resolves m* names only.
            const EvalCheck c = check_minimal_evals(shared_model(model), levels, reference_prompts().at(4), sp, n);
            const int L = shared_model(model).config().n_layer;
            std::printf("    %-12s %-22s T=%.0f: %lld layer evaluations on committed tokens (%d layers each), %lld "
                        "on rejected ones\n",
                        model.c_str(), levels.c_str(), temp, (long long)c.committed_evals, L,
                        (long long)c.rejected_evals);
            EXPECT_GT(c.rejected_evals, 0) << model << " " << levels << ": the run had no rejection to test";
        }
}

// ---------------------------------------------------------------------------------------
// Greedy exactness on a grid of HiSpec settings.

struct GridCase {
    std::string model;
    std::string levels;
};

std::vector<GridCase> greedy_grid() {
    std::vector<GridCase> g;
    // hsd-ee-small: exits 1, 2, 4, 6 of 8 layers.
    for (auto [d, v] : std::vector<std::pair<int, int>>{{1, 2}, {1, 4}, {2, 4}, {2, 6}, {4, 6}, {1, 6}})
        for (auto [nd, ni] : std::vector<std::pair<int, int>>{{1, 2}, {2, 4}, {4, 4}, {3, 8}})
            g.push_back({"hsd-ee-small", fmt::format("@{}:{},@{}:{}", d, nd, v, ni)});
    for (int e : {1, 2, 4, 6})
        for (int nd : {2, 5}) g.push_back({"hsd-ee-small", fmt::format("@{}:{}", e, nd)});
    // hsd-target: exits 2, 4, 8, 12 of 16 layers (more at 512 tokens in test_speculative).
    for (auto [d, v] : std::vector<std::pair<int, int>>{{2, 4}, {2, 8}, {4, 8}, {4, 12}, {8, 12}})
        for (auto [nd, ni] : std::vector<std::pair<int, int>>{{2, 4}, {4, 8}})
            g.push_back({"hsd-target", fmt::format("@{}:{},@{}:{}", d, nd, v, ni)});
    for (int e : {2, 8, 12}) g.push_back({"hsd-target", fmt::format("@{}:4", e)});
    return g;
}

class HiSpecGreedy : public ::testing::TestWithParam<int> {};

TEST_P(HiSpecGreedy, MatchesAutoregressiveTarget) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const int prompt_index = GetParam();
    if (sanitizer_build() && prompt_index != 0 && prompt_index != 2)
        GTEST_SKIP() << "sanitizer build: prompts 0 and 2 only";
    const int n = sanitizer_build() ? 24 : 128;
    const std::vector<TokenId> prompt = reference_prompts().at((size_t)prompt_index);
    std::map<std::string, GenerationResult> ar;
    for (const char* name : {"hsd-ee-small", "hsd-target"}) {
        Context ctx(shared_model(name), pool());
        Sampler s(greedy_params(), shared_model(name).config().n_vocab);
        ar[name] = generate(ctx, s, prompt, n, false);
    }
    int runs = 0;
    for (const GridCase& g : greedy_grid()) {
        if (sanitizer_build() && runs++ % 4 != 0) continue;
        const Model& target = shared_model(g.model);
        Hierarchy h(target, parse_levels(g.levels), pool());
        Sampler s(greedy_params(), target.config().n_vocab);
        const SpeculativeResult r = generate_speculative(h, s, prompt, n, false);
        EXPECT_EQ(r.tokens, ar[g.model].tokens) << g.model << " " << g.levels << " prompt " << prompt_index;
        EXPECT_EQ(r.stop_reason, ar[g.model].stop_reason) << g.model << " " << g.levels;
    }
}

INSTANTIATE_TEST_SUITE_P(ReferencePrompts, HiSpecGreedy, ::testing::Range(0, 16));

// ---------------------------------------------------------------------------------------
// Sampling on a tiny early-exit model.

struct TinyEarlyExit {
    TempModels files;
    const Model* target = nullptr;
    const Model* draft = nullptr;  // an independent tiny model with the same vocabulary
    TinyEarlyExit() {
        target = &files.add("ee_target", tiny_target_spec(44, 3, {1, 2}));
        TinySpec d;
        d.seed = 55;
        draft = &files.add("ee_draft", d);
    }
};

LevelSpec exit_level(int layer, int threshold) { return LevelSpec::early_exit(layer, threshold); }

TEST(HiSpecSampling, HiSpecMatchesTargetDistribution) {
    TinyEarlyExit f;
    std::vector<LevelStats> st;
    const double p = sampled_distribution_p(*f.target, {exit_level(1, 2), exit_level(2, 3)}, VerifyRule::Exact,
                                            sampling_runs(), 2, 6, &st);
    EXPECT_GT(p, kAlpha);
    ASSERT_EQ(st.size(), 3u);
    EXPECT_LT(st[0].acceptance_rate(), 0.9);  // rejections at both levels were exercised
    EXPECT_LT(st[1].acceptance_rate(), 0.9);
}

TEST(HiSpecSampling, SelfSpeculationAndMixedLevelsMatchTargetDistribution) {
    TinyEarlyExit f;
    EXPECT_GT(sampled_distribution_p(*f.target, {exit_level(2, 3)}, VerifyRule::Exact, sampling_runs(), 2, 5), kAlpha);
    EXPECT_GT(sampled_distribution_p(*f.target, {LevelSpec::draft_model(*f.draft, 2), exit_level(2, 3)}, VerifyRule::Exact,
                                     sampling_runs(), 2, 6),
              kAlpha);
}

TEST(HiSpecSampling, BrokenVerifierIsDetected) {
    TinyEarlyExit f;
    EXPECT_LT(sampled_distribution_p(*f.target, {exit_level(1, 2), exit_level(2, 3)}, kBrokenResidualAsQ,
                                     sampling_runs(), 2, 6),
              kAlpha);
}

TEST(HiSpecSampling, GreedyTinyEarlyExitMatchesAutoregressive) {
    TinyEarlyExit f;
    for (TokenId a = 3; a < 8; ++a) {
        const std::vector<TokenId> prompt = {1, a, 4};
        Context ctx(*f.target, tiny_pool(), 0);
        Sampler s0(greedy_params(), 8);
        const GenerationResult ar = generate(ctx, s0, prompt, 40, false);
        for (const std::vector<LevelSpec>& levels : {std::vector<LevelSpec>{exit_level(1, 2), exit_level(2, 3)},
                                                     std::vector<LevelSpec>{exit_level(1, 4)},
                                                     std::vector<LevelSpec>{LevelSpec::ngram(2, 2), exit_level(2, 3)}}) {
            Hierarchy h(*f.target, levels, tiny_pool());
            Sampler s(greedy_params(), 8);
            const SpeculativeResult r = generate_speculative(h, s, prompt, 40, false);
            EXPECT_EQ(r.tokens, ar.tokens);
            EXPECT_EQ(r.stop_reason, ar.stop_reason);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The shared cache after rejections.

TEST(HiSpecState, SharedCacheEqualsFreshContextAfterRejections) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const Model& target = shared_model("hsd-target");
    const int L = target.config().n_layer;
    for (float temp : {0.0f, 1.0f}) {
        Hierarchy h(target, parse_levels("@2:2,@4:4"), pool());
        Sampler s(temp > 0 ? pure_sampling(3) : greedy_params(), target.config().n_vocab);
        h.start(reference_prompts().at(5));
        const int steps = sanitizer_build() ? 3 : 10;
        for (int step = 0; step < steps; ++step) h.step(s, 24);
        const std::vector<TokenId>& seq = h.sequence();
        StagedContext& st = h.target_state();
        // After a step the shared cache holds committed tokens only, the last one unprocessed.
        const int64_t n = st.length(L);
        ASSERT_EQ(n, (int64_t)seq.size() - 1);
        Context fresh(target, pool(), st.n_ctx());
        fresh.eval(seq.data(), n, false);
        const KVCache& a = st.context().cache();
        const KVCache& b = fresh.cache();
        for (int l = 0; l < L; ++l) {
            ASSERT_EQ(a.length(l), n) << "layer " << l << " temp " << temp;
            for (int64_t p = 0; p < n; ++p)
                for (int64_t i = 0; i < a.kv_dim(); ++i) {
                    ASSERT_NEAR(a.k_at(l, p, i), b.k_at(l, p, i), 1e-4) << "layer " << l << " pos " << p;
                    ASSERT_NEAR(a.v_at(l, p, i), b.v_at(l, p, i), 1e-4) << "layer " << l << " pos " << p;
                }
        }
        const std::vector<LevelStats> stats = h.stats();
        EXPECT_LT(stats[0].draft_n_accepted, stats[0].draft_n) << "no rejection at the verifier exit";
        EXPECT_LT(stats[1].draft_n_accepted, stats[1].draft_n) << "no rejection at the target";
    }
}

// ---------------------------------------------------------------------------------------
// Defaults and errors.

TEST(HiSpecOptions, DefaultsFollowThePaperAndTheModelsExits) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    EXPECT_EQ(format_level_list(hispec_levels(shared_model("hsd-target"), {})), "@2:2,@4:4");
    EXPECT_EQ(format_level_list(hispec_levels(shared_model("hsd-ee-small"), {})), "@1:2,@2:4");
    EXPECT_EQ(format_level_list(self_spec_levels(shared_model("hsd-target"), {})), "@2:4");
    HiSpecOptions o;
    o.exit_draft = 4;
    o.draft_n = 3;
    o.window = 6;
    EXPECT_EQ(format_level_list(hispec_levels(shared_model("hsd-target"), o)), "@4:3,@8:6");
}

TEST(HiSpecOptions, BadExitsAreRefusedWithTheModelsExits) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const Model& target = shared_model("hsd-target");
    auto message = [](auto&& fn) -> std::string {
        try {
            fn();
        } catch (const Error& e) {
            return e.what();
        }
        return "(no error)";
    };
    std::string m = message([&] { Hierarchy h(target, parse_levels("@3:2"), pool()); });
    EXPECT_NE(m.find("no early exit after layer 3"), std::string::npos) << m;
    EXPECT_NE(m.find("2, 4, 8, 12"), std::string::npos) << m;
    m = message([&] { Hierarchy h(target, parse_levels("@8:2,@4:4"), pool()); });
    EXPECT_NE(m.find("shallowest first"), std::string::npos) << m;
    HiSpecOptions o;
    o.exit_draft = 8;
    o.exit_verify = 4;
    m = message([&] { hispec_levels(target, o); });
    EXPECT_NE(m.find("deeper"), std::string::npos) << m;
    m = message([&] { hispec_levels(shared_model("hsd-m0"), {}); });
    EXPECT_NE(m.find("no early exits"), std::string::npos) << m;
    m = message([&] { parse_level_list("@x:2"); });
    EXPECT_NE(m.find("@LAYER"), std::string::npos) << m;
    m = message([&] { parse_level_list("@4:0"); });
    EXPECT_NE(m.find(">= 1"), std::string::npos) << m;
}

}  // namespace
