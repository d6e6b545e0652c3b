// Speculative and hierarchical speculative decoding (src/speculative/):
//  * greedy exactness: every drafter / hierarchy returns exactly the target's autoregressive
//    greedy tokens (and stop reason) on all 16 reference prompts;
//  * rollback: after steps with rejections every level's KV cache and next-token logits
//    equal those of a fresh context fed the committed sequence;
//  * limits: n_predict, context limit and EOS behave exactly as generate();
//  * sampling: chi-square test of the joint distribution of the first tokens against the
//    target's exact distribution, on tiny random models written here as GGUF files; a
//    deliberately broken verifier must fail the same test;
//  * vocabulary mismatch errors name both files and the first differing token.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "decoding/generate.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "speculative/hierarchy.h"
#include "speculative/hierarchy_syntax.h"
#include "speculative/ngram_drafter.h"
#include "spec_support.h"
#include "test_support.h"
#include "testing/broken_verify.h"

using namespace hsd;
using json = nlohmann::json;
using namespace hsd::test;

namespace {

// ---------------------------------------------------------------------------------------
// Greedy exactness on the shared models.

struct GreedyConfig {
    std::string levels;
    int n_tokens;  // tokens generated (before the sanitizer reduction)
};

// Each reference prompt runs the target autoregressively once (512 tokens), then every
// configuration, each to 512 tokens (or the target's EOS): single drafters, the n-gram
// drafter, hierarchies of depth 2 and 3 with different thresholds, early exits of the target
// (self-speculation, HiSpec's exit-verifies-exit, exits mixed with independent models).
// About 10-20 s per prompt in the -O3 build on 2 cores (timings are printed per
// configuration). Under the sanitizer build (HSD_SANITIZER_BUILD=1, ~30x slower) only
// prompts 0 and 2 run, with 48 tokens for every configuration.
const std::vector<GreedyConfig>& greedy_configs() {
    static const std::vector<GreedyConfig> c = {
        {"m0:5", 512},
        {"m1:5", 512},
        {"m2:5", 512},
        {"m0:1", 512},
        {"ngram3:5", 512},
        {"m0:3,m1:6", 512},
        {"m0:2,m2:8", 512},
        {"m1:4,m2:8", 512},
        {"m0:3,m1:6,m2:12", 512},
        {"ngram3:3,m0:4,m1:8", 512},
        {"ngram2:4,m0:3,m1:6,m2:12", 512},
        {"@4:4", 512},
        {"@2:2,@4:4", 512},
        {"@4:3,@8:6", 512},
        {"ngram3:3,@4:4,@12:8", 512},
        {"@4:3,m2:8", 512},
        {"m0:3,@8:6", 512},
    };
    return c;
}

class GreedyExact : public ::testing::TestWithParam<int> {};

TEST_P(GreedyExact, MatchesAutoregressiveTarget) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const int prompt_index = GetParam();
    // (Prompt 1's first greedy token is EOS, so the sanitizer build uses prompts 0 and 2.)
    if (sanitizer_build() && prompt_index != 0 && prompt_index != 2)
        GTEST_SKIP() << "sanitizer build: prompts 0 and 2 only";
    const std::vector<TokenId> prompt = reference_prompts().at((size_t)prompt_index);
    const Model& target = shared_model("hsd-target");

    int max_tokens = 0;
    for (const GreedyConfig& c : greedy_configs()) max_tokens = std::max(max_tokens, c.n_tokens);
    if (sanitizer_build()) max_tokens = 48;

    Context ctx(target, pool());
    Sampler ar_sampler(greedy_params(), target.config().n_vocab);
    const GenerationResult ar = generate(ctx, ar_sampler, prompt, max_tokens, false);

    for (const GreedyConfig& c : greedy_configs()) {
        int n = sanitizer_build() ? 48 : c.n_tokens;
        std::vector<TokenId> want(ar.tokens.begin(), ar.tokens.begin() + std::min<size_t>(ar.tokens.size(), (size_t)n));
        const std::string want_reason = (int)ar.tokens.size() >= n ? "length" : ar.stop_reason;
        Hierarchy h(target, parse_levels(c.levels), pool());
        Sampler s(greedy_params(), target.config().n_vocab);
        std::vector<TokenId> streamed;
        const SpeculativeResult r =
            generate_speculative(h, s, prompt, n, false, [&](TokenId t) { streamed.push_back(t); });
        std::printf("    %-26s %3d tokens: %7.1f ms (autoregressive %d tokens: %7.1f ms)\n", c.levels.c_str(),
                    (int)r.tokens.size(), r.generation_seconds * 1e3, (int)ar.tokens.size(),
                    ar.generation_seconds * 1e3);
        EXPECT_EQ(r.tokens, want) << "prompt " << prompt_index << ", hierarchy " << c.levels;
        EXPECT_EQ(streamed, r.tokens) << c.levels;
        EXPECT_EQ(r.stop_reason, want_reason) << c.levels;
        ASSERT_EQ(r.levels.size(), parse_levels(c.levels).size() + 1);
        for (size_t i = 0; i + 1 < r.levels.size(); ++i) {
            EXPECT_LE(r.levels[i].draft_n_accepted, r.levels[i].draft_n) << c.levels << " level " << i;
            EXPECT_GE(r.levels[i].draft_n, r.levels[i].n_drafts);
        }
        if (r.stop_reason == "length") {  // (EOS discards committed tokens, with their counts)
            // The target commits accepted drafts + one token per verification, and verifying
            // drafts takes a forward pass.
            const LevelStats& top_drafter = r.levels[r.levels.size() - 2];
            EXPECT_LT(top_drafter.draft_n_accepted, (int64_t)r.tokens.size());
            if (top_drafter.draft_n > 0) {
                EXPECT_GT(r.levels.back().n_forward, 0);
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(ReferencePrompts, GreedyExact, ::testing::Range(0, 16));

// ---------------------------------------------------------------------------------------
// Rollback: every level's cache equals a fresh context fed the committed sequence.

void expect_level_consistent(ModelDrafter& level, const std::vector<TokenId>& seq, const std::string& what) {
    Context& c = level.context();
    const int64_t n = c.n_past();
    ASSERT_LE(n, (int64_t)seq.size()) << what;
    ASSERT_LT(n, (int64_t)seq.size()) << what << ": the last committed token is always new to every level";
    Context fresh(level.model(), pool(), c.n_ctx());
    // Fed in one batch of the prompt-sized prefix, then in small batches (like decoding).
    const int64_t first = std::min<int64_t>(n, 64);
    if (first > 0) fresh.eval(seq.data(), first, false);
    for (int64_t pos = first; pos < n; pos += 16) fresh.eval(seq.data() + pos, std::min<int64_t>(16, n - pos), false);
    const KVCache& a = c.cache();
    const KVCache& b = fresh.cache();
    const int64_t kv_dim = a.kv_dim();
    double max_k = 0, max_v = 0;
    for (int layer = 0; layer < a.n_layer(); ++layer) {
        ASSERT_EQ(a.length(layer), n) << what;
        ASSERT_EQ(b.length(layer), n) << what;
        for (int64_t pos = 0; pos < n; ++pos)
            for (int64_t i = 0; i < kv_dim; ++i) {
                max_k = std::max(max_k, (double)std::abs(a.k_at(layer, pos, i) - b.k_at(layer, pos, i)));
                max_v = std::max(max_v, (double)std::abs(a.v_at(layer, pos, i) - b.v_at(layer, pos, i)));
            }
    }
    EXPECT_LT(max_k, 1e-4) << what;
    EXPECT_LT(max_v, 1e-4) << what;
    // Next-token logits after the committed sequence, from the rolled-back cache (then rolled
    // back again) and from the fresh one.
    const int V = level.model().config().n_vocab;
    const float* la = c.eval(seq.data() + n, (int64_t)seq.size() - n, false);
    const std::vector<float> got(la, la + V);
    c.truncate(n);
    const float* lb = fresh.eval(seq.data() + n, (int64_t)seq.size() - n, false);
    double max_l = 0;
    for (int i = 0; i < V; ++i) max_l = std::max(max_l, (double)std::abs(got[(size_t)i] - lb[i]));
    EXPECT_LT(max_l, 1e-4) << what;
}

TEST(Speculative, RollbackLeavesCachesAsIfNeverSeen) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const std::vector<TokenId> prompt = reference_prompts().at(3);
    const Model& target = shared_model("hsd-target");
    for (const float temp : {0.0f, 0.9f}) {
        Hierarchy h(target, parse_levels("ngram3:2,m0:3,m1:5"), pool());
        SamplingParams sp;
        sp.temperature = temp;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.seed = 7;
        Sampler s(sp, target.config().n_vocab);
        h.start(prompt);
        const int steps = sanitizer_build() ? 4 : 12;
        for (int step = 0; step < steps; ++step) {
            h.step(s, 24);
            if (step % 2 == 1 || step + 1 == steps)
                for (int i = 1; i < h.n_levels(); ++i)
                    expect_level_consistent(*h.model_level(i), h.sequence(),
                                            "temp " + std::to_string(temp) + " step " + std::to_string(step) +
                                                " level " + std::to_string(i));
        }
        const std::vector<LevelStats> st = h.stats();
        // The run had rejections at every verifying level (otherwise this tests nothing).
        for (size_t i = 0; i + 1 < st.size(); ++i) {
            EXPECT_GT(st[i].draft_n, 0) << "level " << i;
            EXPECT_LT(st[i].draft_n_accepted, st[i].draft_n) << "level " << i << " temp " << temp;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Limits: exactly generate()'s tokens and stop reason.

TEST(Speculative, ContextLimitAndLengthMatchGenerate) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    const std::vector<TokenId> prompt = reference_prompts().at(8);  // 61 tokens
    const Model& target = shared_model("hsd-target");
    const int64_t n_ctx = (int64_t)prompt.size() + 37;
    // (The sanitizer build checks the boundary cases only.)
    const std::vector<int> n_predicts = sanitizer_build() ? std::vector<int>{0, 37, 38, 100}
                                                          : std::vector<int>{0, 1, 2, 20, 37, 38, 39, 100};
    for (const int n_predict : n_predicts) {
        Context ctx(target, pool(), n_ctx);
        Sampler a(greedy_params(), target.config().n_vocab);
        const GenerationResult ar = generate(ctx, a, prompt, n_predict, true);
        for (const std::string& spec : {std::string("m0:5"), std::string("m0:3,m1:7"), std::string("ngram3:4,m1:6")}) {
            Hierarchy h(target, parse_levels(spec), pool(), {.n_ctx = n_ctx});
            Sampler s(greedy_params(), target.config().n_vocab);
            const SpeculativeResult r = generate_speculative(h, s, prompt, n_predict, true);
            EXPECT_EQ(r.tokens, ar.tokens) << spec << " n_predict " << n_predict;
            EXPECT_EQ(r.stop_reason, ar.stop_reason) << spec << " n_predict " << n_predict;
            EXPECT_LE(h.target().n_processed(), n_ctx);
        }
    }
    Hierarchy h(target, parse_levels("m0:5"), pool(), {.n_ctx = (int64_t)prompt.size()});
    Sampler s(greedy_params(), target.config().n_vocab);
    EXPECT_THROW(generate_speculative(h, s, prompt, 5, true), Error);
    EXPECT_THROW(generate_speculative(h, s, {}, 5, true), Error);
}

TEST(Speculative, NgramLookup) {
    using V = std::vector<TokenId>;
    // Longest recurring suffix "2 3" -> its latest earlier occurrence is followed by 9 8.
    EXPECT_EQ(NgramDrafter::lookup({1, 2, 3, 4, 5, 2, 3, 9, 8, 7, 2, 3}, 3, 3), (V{9, 8, 7}));
    EXPECT_EQ(NgramDrafter::lookup({1, 2, 3, 4, 5, 2, 3, 9, 8, 7, 2, 3}, 3, 1), (V{9}));
    // The 3-gram "1 2 3" wins over the more recent 1-gram "3".
    EXPECT_EQ(NgramDrafter::lookup({1, 2, 3, 7, 3, 5, 1, 2, 3}, 3, 2), (V{7, 3}));
    EXPECT_EQ(NgramDrafter::lookup({1, 2, 3, 7, 3, 5, 1, 2, 3}, 1, 2), (V{5, 1}));
    // Continuation is cut at the end of the sequence; no recurrence -> nothing.
    EXPECT_EQ(NgramDrafter::lookup({4, 4}, 3, 5), (V{4}));
    EXPECT_EQ(NgramDrafter::lookup({1, 2, 3}, 3, 5), V{});
    EXPECT_EQ(NgramDrafter::lookup({1}, 3, 5), V{});
}

// ---------------------------------------------------------------------------------------
// Tiny random models written as GGUF files.

TEST(ChiSquare, GammaQ) {
    // Chi-square survival function: df 1 at 3.841 -> 0.05; df 10 at 18.307 -> 0.05; df 4 at 2 -> 0.7358.
    EXPECT_NEAR(gamma_q(0.5, 3.841459 / 2), 0.05, 1e-5);
    EXPECT_NEAR(gamma_q(5.0, 18.307038 / 2), 0.05, 1e-5);
    EXPECT_NEAR(gamma_q(2.0, 1.0), 0.7357589, 1e-6);
}

TEST(SpeculativeSampling, ClassicMatchesTargetDistribution) {
    TinyFamily f(/*target_exit=*/false);
    std::vector<LevelStats> st;
    const double p = sampled_distribution_p(*f.target, {LevelSpec::draft_model(*f.d0, 3)}, VerifyRule::Exact,
                                            sampling_runs(), 2, 4, &st);
    EXPECT_GT(p, kAlpha);
    // The drafts were really rejected often (the residual path was exercised).
    ASSERT_EQ(st.size(), 2u);
    EXPECT_LT(st[0].acceptance_rate(), 0.8);
    EXPECT_GT(st[0].acceptance_rate(), 0.1);
}

TEST(SpeculativeSampling, HierarchyMatchesTargetDistribution) {
    TinyFamily f(/*target_exit=*/false);
    std::vector<LevelStats> st;
    const std::vector<LevelSpec> levels = {LevelSpec::draft_model(*f.d0, 2), LevelSpec::draft_model(*f.d1, 3)};
    const double p = sampled_distribution_p(*f.target, levels, VerifyRule::Exact, sampling_runs(), 2, 6, &st);
    EXPECT_GT(p, kAlpha);
    ASSERT_EQ(st.size(), 3u);
    EXPECT_LT(st[0].acceptance_rate(), 0.8);
    EXPECT_LT(st[1].acceptance_rate(), 0.8);
}

TEST(SpeculativeSampling, NgramBottomMatchesTargetDistribution) {
    TinyFamily f(/*target_exit=*/false);
    const std::vector<LevelSpec> levels = {LevelSpec::ngram(2, 3), LevelSpec::draft_model(*f.d0, 3)};
    EXPECT_GT(sampled_distribution_p(*f.target, levels, VerifyRule::Exact, sampling_runs(), 2, 6), kAlpha);
}

// The same tests must catch a verifier that breaks the rule.
TEST(SpeculativeSampling, BrokenVerifiersAreDetected) {
    TinyFamily f(/*target_exit=*/false);
    const std::vector<LevelSpec> hier = {LevelSpec::draft_model(*f.d0, 2), LevelSpec::draft_model(*f.d1, 3)};
    EXPECT_LT(sampled_distribution_p(*f.target, hier, kBrokenResidualAsQ, sampling_runs(), 2, 6), kAlpha)
        << "recording the residual as q of a replaced token must change the distribution";
    EXPECT_LT(sampled_distribution_p(*f.target, {LevelSpec::draft_model(*f.d0, 3)}, kBrokenResampleFromP,
                                     sampling_runs(), 2, 4),
              kAlpha)
        << "drawing replacements from p instead of the residual must change the distribution";
}

TEST(SpeculativeSampling, GreedyTinyModelsMatchAutoregressiveWithEos) {
    // Tiny models often emit EOS (id 2): the speculative run must stop at the same place.
    TinyFamily f(/*target_exit=*/false);
    int eos_stops = 0;
    for (TokenId a = 3; a < 8; ++a)
        for (TokenId b = 3; b < 8; ++b) {
            const std::vector<TokenId> prompt = {1, a, b};
            Context ctx(*f.target, tiny_pool(), 0);
            Sampler s0(greedy_params(), 8);
            const GenerationResult ar = generate(ctx, s0, prompt, 40, false);
            eos_stops += ar.stop_reason == "eos";
            for (const std::vector<LevelSpec>& levels :
                 {std::vector<LevelSpec>{LevelSpec::draft_model(*f.d0, 3)},
                  std::vector<LevelSpec>{LevelSpec::ngram(2, 2), LevelSpec::draft_model(*f.d0, 2),
                                         LevelSpec::draft_model(*f.d1, 4)}}) {
                Hierarchy h(*f.target, levels, tiny_pool());
                Sampler s(greedy_params(), 8);
                const SpeculativeResult r = generate_speculative(h, s, prompt, 40, false);
                EXPECT_EQ(r.tokens, ar.tokens);
                EXPECT_EQ(r.stop_reason, ar.stop_reason);
            }
        }
    std::printf("    %d of 25 prompts stop at EOS\n", eos_stops);
}

TEST(Speculative, VocabularyMismatchNamesFilesAndToken) {
    TempModels files;
    TinySpec t;
    const Model& target = files.add("vocab_target", t);
    TinySpec d = t;
    d.seed = 5;
    d.pieces[5] = "x";
    const Model& draft = files.add("vocab_draft", d);
    try {
        Hierarchy h(target, {LevelSpec::draft_model(draft, 3)}, tiny_pool());
        FAIL() << "expected hsd::Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(files.paths[0]), std::string::npos) << msg;
        EXPECT_NE(msg.find(files.paths[1]), std::string::npos) << msg;
        EXPECT_NE(msg.find("token id 5"), std::string::npos) << msg;
        EXPECT_NE(msg.find("'c'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
    }
    // A draft larger than the level above it is refused, also in the middle of a hierarchy (a
    // smaller draft whose vocabulary is a prefix is fine: test_vocab_compat).
    TinySpec shorter = t;
    shorter.pieces.pop_back();
    const Model& small = files.add("vocab_small", shorter);
    EXPECT_THROW(Hierarchy(target, {LevelSpec::draft_model(target, 2), LevelSpec::draft_model(small, 3)}, tiny_pool()),
                 Error);
    try {
        Hierarchy h(small, {LevelSpec::draft_model(target, 3)}, tiny_pool());
        FAIL() << "expected hsd::Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("8 tokens"), std::string::npos) << msg;
        EXPECT_NE(msg.find("token id 7"), std::string::npos) << msg;
    }
    // Bad configurations.
    EXPECT_THROW(Hierarchy(target, {}, tiny_pool()), Error);
    EXPECT_THROW(Hierarchy(target, {LevelSpec::draft_model(target, 0)}, tiny_pool()), Error);
    EXPECT_THROW(Hierarchy(target, {LevelSpec::draft_model(target, 2), LevelSpec::ngram(3, 2)}, tiny_pool()), Error);
}

}  // namespace
