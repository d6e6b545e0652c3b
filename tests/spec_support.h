#pragma once
// Helpers shared by the speculative-decoding tests: the shared models and reference prompts,
// hierarchy specs in the CLI syntax, tiny random GGUF models written by the test (optionally
// with early exits), and the chi-square test of a sampled distribution against the target's.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "speculative/hierarchy.h"
#include "speculative/verify.h"

namespace hsd::test {

bool sanitizer_build();                 // HSD_SANITIZER_BUILD=1: the ASan/UBSan run, ~30x slower
// The shared models' pool: 2 threads, or HSD_TEST_THREADS. scripts/test.sh sets 1: ctest
// already runs two tests at once on the 2-core machine, and two 1-thread tests finish ~25%
// sooner than two 2-thread ones (spinning workers compete for the cores). Thread counts
// themselves are tested with pools of their own (test_kernels, test_batching, test_engine).
ThreadPool& pool();
const Model& shared_model(const std::string& name);  // ../shared/models/<name>.gguf, loaded once
std::vector<std::vector<TokenId>> reference_prompts();
SamplingParams greedy_params();
SamplingParams pure_sampling(uint64_t seed);  // temperature 1, no truncation
// "m0:3,m1:6" with shared model names (hsd-m0, ...), "ngramN:T", "@k:T" (target exits).
std::vector<LevelSpec> parse_levels(const std::string& spec);

struct TinySpec {
    uint64_t seed = 1;
    std::vector<std::string> pieces = {"<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"};
    int n_layer = 1, n_embd = 8, n_head = 2, n_ff = 16;
    float scale = 0.7f;  // weight standard deviation (logits spread over a few units)
    std::vector<uint32_t> exits;  // hsd.early_exit.layers (empty: not an early-exit model)
};

// Writes a llama GGUF with random F32 weights.
void write_tiny_model(const std::string& path, const TinySpec& t);

// Temporary model files, removed at the end of the test.
struct TempModels {
    std::vector<std::string> paths;
    std::vector<std::unique_ptr<Model>> models;
    const Model& add(const std::string& name, const TinySpec& spec);
    ~TempModels();
};

ThreadPool& tiny_pool();  // 1 thread

// A tiny target 16 wide (4 heads, FFN 32), with early exits after `exits` layers.
TinySpec tiny_target_spec(uint64_t seed, int n_layer, std::vector<uint32_t> exits);

// The tiny family the speculative, planner and engine tests share: a 2-layer target (seed 11;
// with target_exit, an early exit after layer 1) and two 1-layer drafts of its vocabulary, d1
// (seed 22) and d0 (seed 33).
struct TinyFamily {
    explicit TinyFamily(bool target_exit = true);
    TempModels files;
    const Model* target = nullptr;
    const Model* d1 = nullptr;  // intermediate draft
    const Model* d0 = nullptr;  // smallest draft
    std::string target_path, d1_path, d0_path;
};

// Q(a, x): regularized upper incomplete gamma (the chi-square survival function at 2x, df 2a).
double gamma_q(double a, double x);
// Exact joint distribution of the first n_tok tokens of the target (temperature 1).
std::vector<double> exact_joint(const Model& target, const std::vector<TokenId>& prompt, int n_tok);
// p-value of Pearson's chi-square test (cells with expected count < 5 pooled).
double chi_square_p(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t n, int* df_out);
// Runs n_runs seeded generations of n_predict tokens and tests the joint distribution of
// the first n_tok tokens against the target's exact one. Returns the p-value.
double sampled_distribution_p(const Model& target, const std::vector<LevelSpec>& levels, VerifyRule rule,
                              int n_runs, int n_tok, int n_predict, std::vector<LevelStats>* stats_out = nullptr);

constexpr double kAlpha = 1e-4;  // p below this fails the distribution test
int sampling_runs();             // 40,000 (20,000 under sanitizers)

}  // namespace hsd::test
