// Architectures beyond plain Llama: qwen2 (q/k/v biases, NEOX rotary halves, tied head),
// Llama 3.1 rope frequency factors, explicit head sizes, linear rope scaling. The forward is
// checked against the float64 reference of ../shared/models/arch/ at every position of the
// 16 short prompts and of the 1461-token one; then batch invariance, early exits, and what the
// loader refuses rather than runs without.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/error.h"
#include "decoding/generate.h"
#include "gguf/gguf_writer.h"
#include "kernels/ops.h"
#include "model/context.h"
#include "model/model.h"
#include "spec_support.h"
#include "test_support.h"

using namespace hsd;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kArchModels = {"arch-qwen2.gguf", "arch-llama3.gguf", "arch-headdim.gguf"};

std::string arch_path(const std::string& file) { return test::shared_path("models/arch/" + file); }

const json& arch_reference() {
    static const json ref = [] {
        std::ifstream in(arch_path("reference-arch.json"));
        return json::parse(in);
    }();
    return ref;
}

const Model& arch_model(const std::string& file) {
    static std::map<std::string, std::unique_ptr<Model>> models;
    auto& m = models[file];
    if (!m) m = Model::load(arch_path(file));
    return *m;
}

using hsd::test::log_softmax;

struct Agreement {
    double max_diff = 0;
    int64_t positions = 0, argmax_checked = 0, argmax_equal = 0;
};

// Teacher-forced: every position's top-5 (reference ids) within 2e-3, and the same argmax
// wherever the reference's top-2 gap is at least 1e-3. Chunks of `chunk` tokens.
Agreement compare(const Model& m, const std::vector<TokenId>& tokens, const json& top5, int64_t chunk,
                  const std::string& what, bool check = true) {
    const int V = m.config().n_vocab;
    Context ctx(m, test::pool());
    Agreement a;
    EXPECT_EQ(top5.size(), tokens.size()) << what;
    for (size_t p0 = 0; p0 < tokens.size(); p0 += (size_t)chunk) {
        const int64_t n = std::min<int64_t>(chunk, (int64_t)(tokens.size() - p0));
        const float* logits = ctx.eval(tokens.data() + p0, n, true);
        for (int64_t t = 0; t < n; ++t) {
            const size_t pos = p0 + (size_t)t;
            const std::vector<double> lp = log_softmax(logits + t * V, V);
            const json& ref = top5.at(pos);
            for (const json& e : ref) {
                const int id = e.at(0).get<int>();
                const double d = std::abs(lp[(size_t)id] - e.at(1).get<double>());
                a.max_diff = std::max(a.max_diff, d);
                if (check) {
                    EXPECT_LT(d, 2e-3) << what << " position " << pos << " id " << id;
                }
            }
            ++a.positions;
            if (ref.at(0).at(1).get<double>() - ref.at(1).at(1).get<double>() >= 1e-3) {
                int best = 0;
                for (int i = 1; i < V; ++i)
                    if (lp[(size_t)i] > lp[(size_t)best]) best = i;
                ++a.argmax_checked;
                a.argmax_equal += best == ref.at(0).at(0).get<int>();
                if (check) {
                    EXPECT_EQ(best, ref.at(0).at(0).get<int>()) << what << " position " << pos;
                }
            }
        }
    }
    return a;
}

void report(const std::string& what, const Agreement& a) {
    std::printf("[ arch ] %-34s positions %5lld  max |dlogprob| %.3g  argmax %lld/%lld\n", what.c_str(),
                (long long)a.positions, a.max_diff, (long long)a.argmax_equal, (long long)a.argmax_checked);
}

class ArchReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchReference, ShortPromptsEveryPosition) {
    HSD_REQUIRE_SHARED("models/arch/reference-arch.json");
    const std::string file = GetParam();
    const Model& m = arch_model(file);
    Agreement all;
    int i = 0;
    for (const json& p : arch_reference().at("models").at(file).at("prompts")) {
        const auto tokens = p.at("tokens").get<std::vector<TokenId>>();
        const Agreement a = compare(m, tokens, p.at("top5"), (int64_t)tokens.size(), file + " prompt " + std::to_string(i++));
        all.max_diff = std::max(all.max_diff, a.max_diff);
        all.positions += a.positions;
        all.argmax_checked += a.argmax_checked;
        all.argmax_equal += a.argmax_equal;
    }
    report(file + " short", all);
}

// 1461 tokens in chunks of 200 (so later chunks attend to a long cache): the Llama 3.1
// frequency factors change log-probs by up to 6.5 here; ignoring them fails by far.
TEST_P(ArchReference, LongPromptEveryPosition) {
    HSD_REQUIRE_SHARED("models/arch/reference-arch.json");
    const std::string file = GetParam();
    const json& lp = arch_reference().at("models").at(file).at("long_prompt");
    const auto tokens = lp.at("tokens").get<std::vector<TokenId>>();
    const Model& m = arch_model(file);
    EXPECT_EQ(m.tokenizer().encode(lp.at("text").get<std::string>(), true), tokens) << file;
    report(file + " long", compare(m, tokens, lp.at("top5"), 200, file + " long prompt"));
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param.substr(0, info.param.find('.'));
    for (char& ch : s)
        if (ch == '-') ch = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(ArchModels, ArchReference, ::testing::ValuesIn(kArchModels), test_name);

TEST(ArchConfig, FilesDescribeTheirArchitecture) {
    HSD_REQUIRE_SHARED("models/arch/arch-qwen2.gguf");
    const ModelConfig& q = arch_model("arch-qwen2.gguf").config();
    EXPECT_EQ(q.arch, "qwen2");
    EXPECT_EQ(q.rope_layout, RopeLayout::Neox);
    EXPECT_FALSE(arch_model("arch-qwen2.gguf").layer(0).bq.empty());
    EXPECT_EQ(arch_model("arch-qwen2.gguf").output().data, arch_model("arch-qwen2.gguf").token_embd().data);  // tied
    const ModelConfig& l3 = arch_model("arch-llama3.gguf").config();
    EXPECT_EQ(l3.rope_layout, RopeLayout::Normal);
    EXPECT_EQ(l3.rope_freq_factors.size(), (size_t)l3.rope_dim / 2);
    const ModelConfig& hd = arch_model("arch-headdim.gguf").config();
    EXPECT_EQ(hd.head_dim, 24);
    EXPECT_EQ(hd.q_dim(), 96);
}

// ---------------------------------------------------------------------------------------
// A token's logits do not depend on the batch it is in: bit-identical to a single-token
// forward for batches of 2..16, after a long prefix (rope factors matter there).

TEST_P(ArchReference, BatchInvariance) {
    HSD_REQUIRE_SHARED("models/arch/reference-arch.json");
    const std::string file = GetParam();
    const Model& m = arch_model(file);
    const int V = m.config().n_vocab;
    const auto all = arch_reference().at("models").at(file).at("long_prompt").at("tokens").get<std::vector<TokenId>>();
    const std::vector<TokenId> prefix(all.begin(), all.begin() + 1000);
    const std::vector<TokenId> block(all.begin() + 1000, all.begin() + 1016);

    Context single(m, test::pool());
    single.eval(prefix, false);
    std::vector<float> want;
    for (TokenId t : block) {
        const float* l = single.eval(&t, 1, false);
        want.insert(want.end(), l, l + V);
    }
    Context batched(m, test::pool());
    batched.eval(prefix, false);
    for (int n = 2; n <= 16; ++n) {
        batched.truncate((int64_t)prefix.size());
        const float* l = batched.eval(block.data(), n, true);
        for (int t = 0; t < n; ++t)
            EXPECT_EQ(std::memcmp(l + (size_t)t * V, want.data() + (size_t)t * V, (size_t)V * sizeof(float)), 0)
                << file << " batch of " << n << " row " << t;
    }
}

// ---------------------------------------------------------------------------------------
// Rotary variants against a float64 evaluation of the formula in ops.h.

void rope_reference(std::vector<float>& x, int n_heads, int head_dim, const RopeSpec& r, int64_t pos) {
    const int half = r.rope_dim / 2;
    for (int h = 0; h < n_heads; ++h)
        for (int i = 0; i < half; ++i) {
            double theta = (double)pos / r.position_scale * std::pow((double)r.base, -2.0 * i / r.rope_dim);
            if (!r.freq_factors.empty()) theta /= r.freq_factors[(size_t)i];
            const size_t a = (size_t)(h * head_dim + (r.layout == RopeLayout::Neox ? i : 2 * i));
            const size_t b = r.layout == RopeLayout::Neox ? a + (size_t)half : a + 1;
            const std::complex<double> z = std::complex<double>(x[a], x[b]) * std::polar(1.0, theta);
            x[a] = (float)z.real();
            x[b] = (float)z.imag();
        }
}

TEST(ArchRope, VariantsMatchTheFormulaAndTheTable) {
    std::vector<RopeSpec> specs;
    for (RopeLayout layout : {RopeLayout::Normal, RopeLayout::Neox}) {
        specs.push_back({16, 1e6f, layout, {}, 1.0});
        specs.push_back({16, 5e5f, layout, {1, 1, 1.5f, 2, 3, 5, 8, 8}, 1.0});
        specs.push_back({12, 1e4f, layout, {}, 4.0});  // partial rotation of 24-wide heads
    }
    for (const RopeSpec& s : specs) {
        RopeTable table(s);
        for (int64_t pos : {0, 1, 7, 1000, 4095}) {
            std::vector<float> x(3 * 24);
            for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * (float)i + 0.1f * (float)pos);
            std::vector<float> want = x, direct = x, tab = x;
            rope_reference(want, 3, 24, s, pos);
            rope(direct.data(), 3, 24, s, pos);
            table.apply(tab.data(), 3, 24, pos);
            for (size_t i = 0; i < x.size(); ++i) {
                EXPECT_NEAR(direct[i], want[i], 2e-6) << "rope_dim " << s.rope_dim << " pos " << pos << " i " << i;
                EXPECT_EQ(direct[i], tab[i]) << "table differs at pos " << pos;
            }
        }
    }
    // Linear scaling divides the position: factor 4 at position 8 is position 2 unscaled.
    std::vector<float> a(24, 0.5f), b(24, 0.5f);
    rope(a.data(), 1, 24, RopeSpec{24, 1e4f, RopeLayout::Normal, {}, 4.0}, 8);
    rope(b.data(), 1, 24, RopeSpec{24, 1e4f, RopeLayout::Normal, {}, 1.0}, 2);
    EXPECT_EQ(a, b);
}

// ---------------------------------------------------------------------------------------
// Modified copies of the arch models, written with the production writer.

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& name)
        : path((std::filesystem::temp_directory_path() / ("hsd_arch_" + std::to_string(::getpid()) + "_" + name))
                   .string()) {}
    ~TempFile() { std::filesystem::remove(path); }
};

struct ExtraTensor {
    std::string name;
    std::vector<uint64_t> dims;
    std::vector<float> data;
};

// Copies `src` to `dst`, editing its metadata and adding F32 tensors.
void write_copy(const std::string& src, const std::string& dst, const std::function<void(gguf::Writer&)>& edit,
                const std::vector<ExtraTensor>& extra = {}, const std::string& drop = "") {
    auto f = gguf::File::open(src);
    gguf::Writer w(dst);
    w.copy_metadata(*f);
    edit(w);
    for (const gguf::TensorInfo& t : f->tensors())
        if (t.name != drop) w.add_tensor(t.name, t.dims, t.type());
    for (const ExtraTensor& e : extra) w.add_tensor(e.name, e.dims, gguf::TensorType::F32);
    w.begin();
    for (const gguf::TensorInfo& t : f->tensors())
        if (t.name != drop) w.write(t.data, t.n_bytes);
    for (const ExtraTensor& e : extra) w.write(e.data.data(), e.data.size() * sizeof(float));
    w.finish();
}

gguf::Value f32(double x) {
    gguf::Value v;
    v.type = gguf::ValueType::FLOAT32;
    v.f = x;
    return v;
}

gguf::Value int_array(const std::vector<int>& xs) {
    gguf::Value v;
    v.type = gguf::ValueType::ARRAY;
    v.elem_type = gguf::ValueType::INT32;
    for (int x : xs) {
        gguf::Value e;
        e.type = gguf::ValueType::INT32;
        e.i = x;
        e.u = (uint64_t)x;
        v.arr.push_back(e);
    }
    return v;
}

std::string load_error(const std::string& path) {
    try {
        Model::load(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "(loaded)";
}

struct Refusal {
    const char* label;
    const char* base;
    std::function<void(gguf::Writer&)> edit;
    std::vector<ExtraTensor> extra;
    std::vector<std::string> expect;  // substrings of the message
};

TEST(ArchRefusals, UnimplementedTensorsKeysAndArchitecturesAreRefusedByName) {
    HSD_REQUIRE_SHARED("models/arch/arch-qwen2.gguf");
    auto u32 = [](const char* k, uint32_t x) { return [=](gguf::Writer& w) { w.set(k, gguf::value_u32(x)); }; };
    auto flt = [](const char* k, double x) { return [=](gguf::Writer& w) { w.set(k, f32(x)); }; };
    auto str = [](const char* k, const char* x) { return [=](gguf::Writer& w) { w.set(k, gguf::value_string(x)); }; };
    const std::vector<Refusal> cases = {
        {"arch", "arch-llama3.gguf", str("general.architecture", "gemma2"), {}, {"'gemma2'", "llama, qwen2"}},
        {"qk_norm", "arch-qwen2.gguf", [](gguf::Writer&) {}, {{"blk.0.attn_q_norm.weight", {16}, std::vector<float>(16, 1)}},
         {"blk.0.attn_q_norm.weight"}},
        {"yarn", "arch-llama3.gguf", str("llama.rope.scaling.type", "yarn"), {}, {"llama.rope.scaling.type", "yarn"}},
        {"swa", "arch-llama3.gguf", u32("llama.attention.sliding_window", 4096), {}, {"llama.attention.sliding_window"}},
        {"clamp", "arch-llama3.gguf", flt("llama.attention.clamp_kqv", 8.0), {}, {"llama.attention.clamp_kqv"}},
        {"logit_scale", "arch-qwen2.gguf", flt("qwen2.logit_scale", 0.5), {}, {"qwen2.logit_scale"}},
        {"softcap", "arch-llama3.gguf", flt("llama.final_logit_softcapping", 30.0), {}, {"llama.final_logit_softcapping"}},
        {"moe", "arch-llama3.gguf", u32("llama.expert_count", 8), {}, {"llama.expert_count"}},
        {"kv_len", "arch-headdim.gguf", u32("llama.attention.value_length", 16), {}, {"value_length"}},
        {"none_with_factor", "arch-llama3.gguf",
         [](gguf::Writer& w) {
             w.set("llama.rope.scaling.type", gguf::value_string("none"));
             w.set("llama.rope.scaling.factor", f32(4.0));
         },
         {},
         {"llama.rope.scaling.factor"}},
    };
    for (const Refusal& c : cases) {
        TempFile out(std::string(c.label) + ".gguf");
        write_copy(arch_path(c.base), out.path, c.edit, c.extra);
        const std::string msg = load_error(out.path);
        std::printf("[ refused ] %s\n", msg.c_str());
        EXPECT_NE(msg.find(out.path), std::string::npos) << c.label << ": " << msg;
        for (const std::string& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << c.label << ": " << msg;
    }
    // A wrong-sized rope_freqs.weight is refused, not half-applied.
    TempFile bad("bad_freqs.gguf");
    write_copy(arch_path("arch-llama3.gguf"), bad.path, [](gguf::Writer&) {},
               {{"rope_freqs.weight", {4}, std::vector<float>(4, 1)}}, "rope_freqs.weight");
    EXPECT_NE(load_error(bad.path).find("rope_freqs.weight"), std::string::npos) << load_error(bad.path);
}

TEST(ArchRefusals, HarmlessKeysAndLinearScalingLoad) {
    HSD_REQUIRE_SHARED("models/arch/arch-llama3.gguf");
    TempFile out("harmless.gguf");
    write_copy(arch_path("arch-llama3.gguf"), out.path, [](gguf::Writer& w) {
        w.set("llama.expert_count", gguf::value_u32(0));
        w.set("llama.rope.scaling.original_context_length", gguf::value_u32(8192));
        w.set("llama.rope.scaling.type", gguf::value_string("linear"));
        w.set("llama.rope.scaling.factor", f32(4.0));
    });
    auto m = Model::load(out.path);
    EXPECT_EQ(m->config().rope_position_scale, 4.0);
    // The scaling reaches the forward: position 1 onward differs from the unscaled file.
    const std::vector<TokenId> toks = {1, 300, 400};
    Context a(*m, test::pool()), b(arch_model("arch-llama3.gguf"), test::pool());
    const int V = m->config().n_vocab;
    const float* la = a.eval(toks, true);
    std::vector<float> got(la, la + 3 * V);
    const float* lb = b.eval(toks, true);
    EXPECT_EQ(std::memcmp(got.data(), lb, (size_t)V * sizeof(float)), 0);  // position 0: no rotation
    EXPECT_NE(std::memcmp(got.data() + 2 * V, lb + 2 * V, (size_t)V * sizeof(float)), 0);
}

// The long-prompt test can tell: without its rope_freqs.weight arch-llama3 is off by far.
TEST(ArchReferenceSensitivity, IgnoringFrequencyFactorsFailsTheLongPrompt) {
    HSD_REQUIRE_SHARED("models/arch/reference-arch.json");
    TempFile out("no_freqs.gguf");
    write_copy(arch_path("arch-llama3.gguf"), out.path, [](gguf::Writer&) {}, {}, "rope_freqs.weight");
    auto m = Model::load(out.path);
    const json& lp = arch_reference().at("models").at("arch-llama3.gguf").at("long_prompt");
    const Agreement a = compare(*m, lp.at("tokens").get<std::vector<TokenId>>(), lp.at("top5"), 200, "", false);
    report("arch-llama3 without rope_freqs", a);
    EXPECT_GT(a.max_diff, 1.0);
}

// ---------------------------------------------------------------------------------------
// Early exits on each architecture: a copy with hsd.early_exit.layers = [1]; greedy
// speculative decoding from the exit equals the autoregressive target token for token.

TEST_P(ArchReference, EarlyExitGreedyEqualsAutoregressive) {
    HSD_REQUIRE_SHARED("models/arch/reference-arch.json");
    const std::string file = GetParam();
    TempFile out("ee_" + file);
    write_copy(arch_path(file), out.path, [](gguf::Writer& w) { w.set("hsd.early_exit.layers", int_array({1})); });
    auto m = Model::load(out.path);
    ASSERT_EQ(m->config().exit_layers, std::vector<int>{1});
    const json& prompts = arch_reference().at("models").at(file).at("prompts");
    for (size_t i = 0; i < prompts.size(); i += 5) {
        auto prompt = prompts.at(i).at("tokens").get<std::vector<TokenId>>();
        prompt.resize(std::min<size_t>(prompt.size(), 24));
        Context ctx(*m, test::pool());
        Sampler s0(test::greedy_params(), m->config().n_vocab);
        const GenerationResult ar = generate(ctx, s0, prompt, 48, true);
        for (int t : {1, 3, 6}) {
            Hierarchy h(*m, {LevelSpec::early_exit(1, t)}, test::pool());
            Sampler s(test::greedy_params(), m->config().n_vocab);
            const SpeculativeResult r = generate_speculative(h, s, prompt, 48, true);
            EXPECT_EQ(r.tokens, ar.tokens) << file << " prompt " << i << " threshold " << t;
        }
    }
}

}  // namespace
