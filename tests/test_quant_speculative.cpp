// Quantized models inside the speculative machinery, in both activation formats:
//  * batch invariance of a whole forward: a token's logits are bit-identical whether it is
//    evaluated alone or inside a batch of 2..16 (what makes greedy speculation exact);
//  * greedy exactness: hierarchies whose levels mix types (F16 target with llama.cpp's
//    Q4_K_M / IQ4_XS / Q2_K drafts; `hsd quantize`d Q8_0 and Q4_K_M targets with F16, quantized,
//    n-gram and early-exit levels) return exactly the target's autoregressive tokens.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "decoding/generate.h"
#include "kernels/matmul.h"
#include "model/context.h"
#include "model/model.h"
#include "speculative/hierarchy.h"
#include "spec_support.h"
#include "test_support.h"

using namespace hsd;
using namespace hsd::test;

namespace {

const char* mode_name(QuantActivations a) { return a == QuantActivations::F32 ? "F32" : "Int8"; }

// Sets the activation format for one test and restores the previous one.
struct ActivationsScope {
    QuantActivations saved = quant_activations();
    explicit ActivationsScope(QuantActivations a) { set_quant_activations(a); }
    ~ActivationsScope() { set_quant_activations(saved); }
};

// `hsd quantize` of a shared model into a temporary file (once per process and type).
const Model& quantized_shared(const std::string& name, const std::string& type) {
    static std::map<std::string, std::unique_ptr<Model>> models;
    const std::string key = name + "-" + type;
    auto& m = models[key];
    if (!m) {
        const std::string out = (std::filesystem::temp_directory_path() /
                                 ("hsd_quant_spec_" + std::to_string(::getpid()) + "_" + key + ".gguf"))
                                    .string();
        const std::string args = "quantize " + shared_path("models/" + name + ".gguf") + " " + out + " " + type;
        const CliRun r = run_cli(HSD_CLI_PATH, args);
        if (r.status != 0) ADD_FAILURE() << "hsd " << args << " failed:\n" << r.out;
        m = Model::load(out);
        std::filesystem::remove(out);  // the map stays valid after the name is gone
    }
    return *m;
}

std::vector<TokenId> prompt_with_continuation(int i) {
    std::vector<TokenId> p = reference_prompts().at((size_t)i);
    // A few more ordinary ids so batches start at many positions.
    for (int k = 0; k < 24; ++k) p.push_back((TokenId)(300 + 37 * k % 4000));
    return p;
}

class QuantBatchInvariance
    : public ::testing::TestWithParam<std::tuple<std::string, QuantActivations>> {};

TEST_P(QuantBatchInvariance, LogitsDoNotDependOnTheBatch) {
    const auto& [file, mode] = GetParam();
    HSD_REQUIRE_SHARED("models/" + file + ".gguf");
    HSD_REQUIRE_SHARED("models/reference.json");
    ActivationsScope scope(mode);
    const Model& m = shared_model(file);
    const int V = m.config().n_vocab;
    const std::vector<TokenId> seq = prompt_with_continuation(3);
    const int64_t n = std::min<int64_t>((int64_t)seq.size(), sanitizer_build() ? 24 : 80);

    // One token at a time.
    Context single(m, pool());
    std::vector<float> want((size_t)(n * V));
    for (int64_t t = 0; t < n; ++t) std::memcpy(&want[(size_t)(t * V)], single.eval(&seq[(size_t)t], 1, false), V * 4);

    // Random batches of 1..16.
    std::mt19937 rng(7);
    Context batched(m, pool());
    for (int64_t t = 0; t < n;) {
        const int64_t b = std::min<int64_t>(n - t, 1 + (int64_t)(rng() % 16));
        const float* got = batched.eval(&seq[(size_t)t], b, true);
        for (int64_t i = 0; i < b; ++i)
            ASSERT_EQ(std::memcmp(got + i * V, &want[(size_t)((t + i) * V)], (size_t)V * 4), 0)
                << file << " (" << mode_name(mode) << " activations): logits of position " << t + i
                << " differ when computed in a batch of " << b;
        t += b;
    }
}

INSTANTIATE_TEST_SUITE_P(
    SharedQuant, QuantBatchInvariance,
    ::testing::Combine(::testing::Values("quant/hsd-m1-Q4_K_M", "quant/hsd-m1-Q5_K_M", "quant/hsd-m1-Q3_K_M",
                                         "quant/hsd-m1-Q2_K", "quant/hsd-m1-IQ4_XS"),
                       ::testing::Values(QuantActivations::F32, QuantActivations::Int8)),
    [](const auto& info) {
        std::string s = std::get<0>(info.param).substr(13) + "_" + mode_name(std::get<1>(info.param));
        return s;
    });

// Greedy exactness of one target and a list of hierarchies on a few reference prompts.
struct Case {
    std::string what;
    std::vector<LevelSpec> levels;
};

void expect_exact(const Model& target, const std::vector<Case>& cases, QuantActivations mode) {
    ActivationsScope scope(mode);
    const int n = sanitizer_build() ? 24 : 160;
    for (int pi : {0, 2, 5}) {
        if (sanitizer_build() && pi != 0) continue;
        const std::vector<TokenId> prompt = reference_prompts().at((size_t)pi);
        Context ctx(target, pool());
        Sampler ar_sampler(greedy_params(), target.config().n_vocab);
        const GenerationResult ar = generate(ctx, ar_sampler, prompt, n, false);
        for (const Case& c : cases) {
            Hierarchy h(target, c.levels, pool());
            Sampler s(greedy_params(), target.config().n_vocab);
            const SpeculativeResult r = generate_speculative(h, s, prompt, n, false, nullptr);
            EXPECT_EQ(r.tokens, ar.tokens) << c.what << ", prompt " << pi << ", " << mode_name(mode) << " activations";
            EXPECT_EQ(r.stop_reason, ar.stop_reason) << c.what;
            int64_t accepted = 0;
            for (size_t i = 0; i + 1 < r.levels.size(); ++i) accepted += r.levels[i].draft_n_accepted;
            EXPECT_GT(accepted, 0) << c.what << ": drafts should be accepted at all";
        }
    }
}

class QuantGreedyExact : public ::testing::TestWithParam<QuantActivations> {};

TEST_P(QuantGreedyExact, F16TargetWithQuantizedDrafts) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const Model& q4 = shared_model("quant/hsd-m1-Q4_K_M");
    const Model& iq4 = shared_model("quant/hsd-m1-IQ4_XS");
    const Model& q2 = shared_model("quant/hsd-m1-Q2_K");
    expect_exact(shared_model("hsd-target"),
                 {{"m1-Q4_K_M:5", {LevelSpec::draft_model(q4, 5)}},
                  {"m1-Q2_K:3,m1-IQ4_XS:6", {LevelSpec::draft_model(q2, 3), LevelSpec::draft_model(iq4, 6)}},
                  {"ngram3:3,m1-Q4_K_M:6", {LevelSpec::ngram(3, 3), LevelSpec::draft_model(q4, 6)}}},
                 GetParam());
}

TEST_P(QuantGreedyExact, QuantizedTargets) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const Model& q4 = shared_model("quant/hsd-m1-Q4_K_M");
    const Model& m0 = shared_model("hsd-m0");
    // A Q8_0 target with Q4_K_M and F16 drafts, and the target's own early exits.
    expect_exact(quantized_shared("hsd-target", "Q8_0"),
                 {{"m1-Q4_K_M:5", {LevelSpec::draft_model(q4, 5)}},
                  {"m0:3,m1-Q4_K_M:6", {LevelSpec::draft_model(m0, 3), LevelSpec::draft_model(q4, 6)}},
                  {"@2:2,@4:4", {LevelSpec::early_exit(2, 2), LevelSpec::early_exit(4, 4)}}},
                 GetParam());
    // A Q4_K_M target (a mixture of Q4_K, Q6_K and 32-block fallbacks).
    expect_exact(quantized_shared("hsd-target", "Q4_K_M"),
                 {{"m0:4", {LevelSpec::draft_model(m0, 4)}},
                  {"@4:4", {LevelSpec::early_exit(4, 4)}},
                  {"ngram3:3,m1-Q4_K_M:6", {LevelSpec::ngram(3, 3), LevelSpec::draft_model(q4, 6)}}},
                 GetParam());
}

INSTANTIATE_TEST_SUITE_P(Activations, QuantGreedyExact,
                         ::testing::Values(QuantActivations::F32, QuantActivations::Int8),
                         [](const auto& info) { return std::string(mode_name(info.param)); });

}  // namespace
