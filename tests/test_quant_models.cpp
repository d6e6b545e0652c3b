// The quantized hsd-m1 files against their float reference (../shared/models/quant/
// reference-quant.json: a float32 forward over weights dequantized by gguf-py). Teacher-forced on
// prompt + the reference's greedy tokens (one batch forward per prompt, and again one token at
// a time after the prompt); at every generated
// position our log-probs of the reference's top-5 tokens are compared with the reference's.
// - F32 activations: the weights decode to exactly the reference's values, so only float
//   summation order differs: top-5 log-probs within 2e-3, argmax equal unless a near tie.
// - Int8 activations (as GGML's CPU backend): at least as close as llama.cpp itself, using the
//   llama.cpp figures the reference file records.
// Measured figures are printed per model (docs quote them).
// - Repacking at load (kernels/quant_pack.h): logits close to the file layout's (the same
//   integer products summed in another order; the int8 rounding of later activations amplifies
//   last-bit differences), and bit-identical between one batch and one token at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant_pack.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "test_support.h"

using namespace hsd;
using json = nlohmann::json;

namespace {

const json& load_json(const std::string& rel) {
    static std::map<std::string, json> cache;
    auto it = cache.find(rel);
    if (it == cache.end()) {
        std::ifstream in(test::shared_path(rel));
        it = cache.emplace(rel, json::parse(in)).first;
    }
    return it->second;
}

ThreadPool& pool() {
    static ThreadPool p(2);
    return p;
}

using hsd::test::log_softmax;

// numpy's default percentile (linear interpolation between order statistics).
double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const double pos = p / 100.0 * (double)(v.size() - 1);
    const size_t lo = (size_t)pos;
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

struct Figures {
    int positions = 0, argmax_equal = 0;
    int tie_free = 0, tie_free_equal = 0;  // positions whose reference top-2 gap >= 1e-3
    std::vector<double> abs_dlp;            // over every position's reference top 5

    double agreement() const { return (double)argmax_equal / positions; }
};

// Restores the process-wide activation mode however the test ends.
struct ActivationsGuard {
    QuantActivations saved = quant_activations();
    explicit ActivationsGuard(QuantActivations a) { set_quant_activations(a); }
    ~ActivationsGuard() { set_quant_activations(saved); }
};

// batch: one forward over prompt + greedy tokens (the prefill path); else the prompt, then one
// token per forward (the decode path, where small-batch kernels run).
Figures measure(const std::string& name, QuantActivations mode, bool batch) {
    const json& ref = load_json("models/reference.json");
    const json& mref = load_json("models/quant/reference-quant.json").at("models").at(name);
    const auto model = Model::load(test::shared_path("models/" + mref.at("file").get<std::string>()));
    const int V = model->config().n_vocab;
    const ActivationsGuard guard(mode);
    Context ctx(*model, pool());
    Figures f;
    for (const json& res : mref.at("results")) {
        const int pid = res.at("prompt").get<int>();
        std::vector<TokenId> seq = ref.at("prompts").at((size_t)pid).at("tokens").get<std::vector<TokenId>>();
        const auto greedy = res.at("greedy_tokens").get<std::vector<TokenId>>();
        const json& top5 = res.at("top5");
        const size_t n_prompt = seq.size();
        // The logits after the last token are not needed: position s predicts greedy[s].
        seq.insert(seq.end(), greedy.begin(), greedy.end() - 1);
        ctx.truncate(0);
        std::vector<float> logits;
        if (batch) {
            const float* all = ctx.eval(seq, true);
            logits.assign(all + (n_prompt - 1) * (size_t)V, all + seq.size() * (size_t)V);
        } else {
            const float* last = ctx.eval(seq.data(), (int64_t)n_prompt, false);
            logits.assign(last, last + V);
            for (size_t i = n_prompt; i < seq.size(); ++i) {
                last = ctx.eval(&seq[i], 1, false);
                logits.insert(logits.end(), last, last + V);
            }
        }
        for (size_t s = 0; s < greedy.size(); ++s) {
            const std::vector<double> lp = log_softmax(logits.data() + s * (size_t)V, V);
            const int best = (int)(std::max_element(lp.begin(), lp.end()) - lp.begin());
            const json& t = top5.at(s);
            ++f.positions;
            f.argmax_equal += best == greedy[s];
            if (t.at(0).at(1).get<double>() - t.at(1).at(1).get<double>() >= 1e-3) {
                ++f.tie_free;
                f.tie_free_equal += best == t.at(0).at(0).get<int>();
            }
            for (const json& e : t) f.abs_dlp.push_back(std::abs(lp[e.at(0).get<size_t>()] - e.at(1).get<double>()));
        }
    }
    std::printf("  %s %s %s: argmax agreement %.4f (%d/%d), |dlogprob| median %.2e p99 %.2e max %.2e\n", name.c_str(),
                mode == QuantActivations::F32 ? "F32 " : "Int8", batch ? "batch" : "incremental", f.agreement(),
                f.argmax_equal, f.positions, percentile(f.abs_dlp, 50), percentile(f.abs_dlp, 99),
                percentile(f.abs_dlp, 100));
    return f;
}

class QuantModel : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantModel, F32ActivationsMatchTheFloatReference) {
    HSD_REQUIRE_SHARED("models/quant/reference-quant.json");
    for (bool batch : {true, false}) {
        const Figures f = measure(GetParam(), QuantActivations::F32, batch);
        EXPECT_EQ(f.tie_free_equal, f.tie_free) << "argmax differs at a position without a near tie";
        EXPECT_LE(percentile(f.abs_dlp, 100), 2e-3) << (batch ? "batch" : "incremental");
    }
}

TEST_P(QuantModel, Int8ActivationsAtLeastAsCloseAsLlamaCpp) {
    HSD_REQUIRE_SHARED("models/quant/reference-quant.json");
    const json& lc = load_json("models/quant/reference-quant.json").at("models").at(GetParam()).at("llamacpp");
    for (bool batch : {true, false}) {
        const Figures f = measure(GetParam(), QuantActivations::Int8, batch);
        const char* how = batch ? "batch" : "incremental";
        constexpr double kRounding = 5e-5;  // the llama.cpp figures are printed to 4 decimals
        EXPECT_GE(f.agreement() + kRounding, lc.at("argmax_agreement").get<double>()) << how;
        EXPECT_LE(percentile(f.abs_dlp, 50) - kRounding, lc.at("median_abs_dlogprob").get<double>()) << how;
        EXPECT_LE(percentile(f.abs_dlp, 99) - kRounding, lc.at("p99_abs_dlogprob").get<double>()) << how;
        // The maximum is one sample out of 3840: the float accumulation order alone moves it
        // (same weights and activations: 0.325 with the AVX-512 VNNI kernels, 0.365 with AVX2 on
        // Q3_K_M), so it gets a 15% margin; the median and p99 above carry the comparison.
        EXPECT_LE(percentile(f.abs_dlp, 100) - kRounding, 1.15 * lc.at("max_abs_dlogprob").get<double>()) << how;
    }
}

TEST_P(QuantModel, RepackedWeightsAgreeWithTheFileLayoutAndStayBatchInvariant) {
    HSD_REQUIRE_SHARED("models/quant/reference-quant.json");
    const std::string path = test::shared_path("models/quant/" + GetParam());
    const auto repacked = Model::load(path), as_mapped = Model::load(path, false);
    // Which matrices are packed depends on the build: on one that packs, the FFN's are.
    const WeightView& gate = repacked->layer(0).gate;
    EXPECT_EQ(gate.packed != nullptr, qk::packing_supported(gate.type)) << gguf::tensor_type_name(gate.type);
    EXPECT_EQ(as_mapped->layer(0).gate.packed, nullptr);
    // The process-wide default (`--no-repack`) decides for load(path).
    Model::set_repack_default(false);
    EXPECT_EQ(Model::load(path)->layer(0).gate.packed, nullptr);
    Model::set_repack_default(true);
    EXPECT_EQ(Model::load(path)->layer(0).gate.packed != nullptr, qk::packing_supported(gate.type));
    const ActivationsGuard guard(QuantActivations::Int8);
    const json& ref = load_json("models/reference.json");
    const auto tokens = ref.at("prompts").at(0).at("tokens").get<std::vector<TokenId>>();
    const size_t V = (size_t)repacked->config().n_vocab;
    Context a(*repacked, pool()), b(*as_mapped, pool());
    const float* la = a.eval(tokens, true);
    const std::vector<float> batch(la, la + tokens.size() * V);
    const float* lb = b.eval(tokens, true);
    double worst = 0;
    for (size_t i = 0; i < batch.size(); ++i) worst = std::max(worst, (double)std::fabs(batch[i] - lb[i]));
    std::printf("  %s: max |logit difference| repacked vs file layout %.2e\n", GetParam().c_str(), worst);
    // Not float rounding alone: a last-bit difference in an activation can move its int8
    // rounding by one step, and such steps add up through the layers; measured 0.15-0.20 on
    // these files, the size of the int8 noise itself (the reference tests above: max |dlogprob|
    // 0.2-0.35 either way). A wrong code or scale in the layout would move logits by units.
    EXPECT_LE(worst, 0.5);
    // One token at a time reproduces the batch bit for bit.
    a.truncate(0);
    for (size_t i = 0; i < tokens.size(); ++i) {
        const float* one = a.eval(&tokens[i], 1, false);
        ASSERT_EQ(0, std::memcmp(one, batch.data() + i * V, V * sizeof(float))) << "position " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Files, QuantModel,
                         ::testing::Values("hsd-m1-Q4_K_M.gguf", "hsd-m1-Q5_K_M.gguf", "hsd-m1-Q3_K_M.gguf",
                                           "hsd-m1-Q2_K.gguf", "hsd-m1-IQ4_XS.gguf"),
                         [](const auto& info) {
                             std::string s = info.param.substr(7, info.param.size() - 12);  // "Q4_K_M"
                             return s;
                         });

}  // namespace
