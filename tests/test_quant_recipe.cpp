// The per-tensor type plan of `hsd quantize` (quant/quant_recipe.*) against llama-quantize:
//  * on hsd-m1 (4 layers, FFN 704: ffn_down rows fall back to 32-blocks) the plan gives every
//    tensor of llama.cpp's Q4_K_M, Q5_K_M, Q3_K_M, Q2_K and IQ4_XS files exactly its type, in
//    the file's order, with the per-type counts of reference-quant.json;
//  * on synthetic Llama tensor lists (32 and 80 layers, rows divisible by 256, with and
//    without grouped-query attention) the _S/_M/_L rules, use_more_bits layers, GQA and 70B
//    promotions, tied embeddings, fallbacks and the override options behave as in llama.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "quant/quant_recipe.h"
#include "test_support.h"

using namespace hsd;
using gguf::TensorType;
using quant::PlannedTensor;
using quant::RecipeTensor;

namespace {

const quant::Scheme& scheme(const std::string& name) {
    const quant::Scheme* s = quant::find_scheme(name);
    if (!s) throw std::runtime_error("no scheme " + name);
    return *s;
}

// A Llama model's tensors as convert_hf_to_gguf writes them (F16 matrices, F32 norms).
std::vector<RecipeTensor> llama_tensors(int n_layer, uint64_t d, uint64_t ff, uint64_t kv, uint64_t vocab,
                                        bool with_output = true) {
    std::vector<RecipeTensor> t;
    t.push_back({"token_embd.weight", {d, vocab}, TensorType::F16});
    for (int i = 0; i < n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        t.push_back({b + "attn_norm.weight", {d}, TensorType::F32});
        t.push_back({b + "attn_q.weight", {d, d}, TensorType::F16});
        t.push_back({b + "attn_k.weight", {d, kv}, TensorType::F16});
        t.push_back({b + "attn_v.weight", {d, kv}, TensorType::F16});
        t.push_back({b + "attn_output.weight", {d, d}, TensorType::F16});
        t.push_back({b + "ffn_norm.weight", {d}, TensorType::F32});
        t.push_back({b + "ffn_gate.weight", {d, ff}, TensorType::F16});
        t.push_back({b + "ffn_up.weight", {d, ff}, TensorType::F16});
        t.push_back({b + "ffn_down.weight", {ff, d}, TensorType::F16});
    }
    t.push_back({"output_norm.weight", {d}, TensorType::F32});
    if (with_output) t.push_back({"output.weight", {d, vocab}, TensorType::F16});
    return t;
}

quant::RecipeModel llama_model(int n_layer, int n_head, int n_head_kv) {
    quant::RecipeModel m;
    m.n_layer = n_layer;
    m.n_head = n_head;
    m.n_head_kv = n_head_kv;
    m.is_70b = n_layer == 80 && n_head != n_head_kv;
    return m;
}

// name -> planned type.
std::map<std::string, TensorType> plan_types(const std::vector<RecipeTensor>& t, const quant::RecipeModel& m,
                                             const std::string& s, const quant::RecipeOptions& o = {}) {
    std::map<std::string, TensorType> out;
    for (const PlannedTensor& p : quant::plan_quantization(t, m, scheme(s), o)) out[t[p.index].name] = p.to;
    return out;
}

std::string blk(int i, const char* what) { return "blk." + std::to_string(i) + "." + what + ".weight"; }

// Checks one per-layer tensor kind: layers in `promoted` get `hi`, the others `lo`.
void expect_layers(const std::map<std::string, TensorType>& types, int n_layer, const char* what,
                   const std::set<int>& promoted, TensorType hi, TensorType lo) {
    for (int i = 0; i < n_layer; ++i)
        EXPECT_EQ(gguf::tensor_type_name(types.at(blk(i, what))), gguf::tensor_type_name(promoted.count(i) ? hi : lo))
            << blk(i, what);
}

void expect_norms_f32(const std::map<std::string, TensorType>& types) {
    for (const auto& [name, type] : types)
        if (name.find("_norm.weight") != std::string::npos) {
            EXPECT_EQ(type, TensorType::F32) << name;
        }
}

// Llama-2-7B-like: 32 layers, d 4096, FFN 11008 (a multiple of 256), 32 heads.
constexpr int kL = 32;
const std::vector<RecipeTensor>& llama7b() {
    static const auto t = llama_tensors(kL, 4096, 11008, 4096, 32000);
    return t;
}
// The same with 8 KV heads (GQA 4), like Llama-3-8B.
const std::vector<RecipeTensor>& llama8b() {
    static const auto t = llama_tensors(kL, 4096, 14336, 1024, 128256);
    return t;
}
// use_more_bits(i, 32): the first and last 4 layers and every third in between.
const std::set<int> kMoreBits32 = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};

}  // namespace

// ---- llama.cpp's own files ---------------------------------------------------------------

TEST(QuantRecipe, MatchesLlamaQuantizeOnHsdM1) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    HSD_REQUIRE_SHARED("models/quant/reference-quant.json");
    const auto in = gguf::File::open(test::shared_path("models/hsd-m1.gguf"));
    const std::vector<RecipeTensor> tensors = quant::recipe_tensors(*in);
    const quant::RecipeModel model = quant::RecipeModel::from_file(*in);
    EXPECT_EQ(model.n_layer, 4);
    EXPECT_EQ(model.n_gqa(), 1);

    std::ifstream js(test::shared_path("models/quant/reference-quant.json"));
    const nlohmann::json ref = nlohmann::json::parse(js);
    for (const std::string type : {"Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"}) {
        SCOPED_TRACE(type);
        const std::string file = "models/quant/hsd-m1-" + type + ".gguf";
        HSD_REQUIRE_SHARED(file);
        const auto q = gguf::File::open(test::shared_path(file));
        EXPECT_EQ(q->get_uint("general.file_type"), scheme(type).file_type);

        const std::vector<PlannedTensor> plan = quant::plan_quantization(tensors, model, scheme(type));
        ASSERT_EQ(plan.size(), q->tensors().size());
        std::map<std::string, int> counts;
        for (size_t i = 0; i < plan.size(); ++i) {
            const gguf::TensorInfo& t = q->tensors()[i];
            EXPECT_EQ(tensors[plan[i].index].name, t.name) << "tensor order differs at " << i;
            EXPECT_STREQ(gguf::tensor_type_name(plan[i].to), gguf::tensor_type_name(q->tensor(tensors[plan[i].index].name).ggml_type))
                << tensors[plan[i].index].name;
            EXPECT_EQ(plan[i].from, in->tensor(tensors[plan[i].index].name).type());
            ++counts[gguf::tensor_type_name(plan[i].to)];
        }
        std::map<std::string, int> want;
        for (const auto& [k, v] : ref.at("models").at("hsd-m1-" + type + ".gguf").at("tensor_types").items())
            want[k] = v.get<int>();
        EXPECT_EQ(counts, want);
    }
}

TEST(QuantRecipe, FfnDownOf704FallsBackTo32Blocks) {
    const auto t = llama_tensors(4, 256, 704, 256, 8192);
    const auto m = llama_model(4, 4, 4);
    // Q4_K_M: layers 2, 3 are use_more_bits(i, 4) -> Q6_K -> Q8_0; 0, 1 Q4_K -> Q5_0.
    const auto q4 = plan_types(t, m, "Q4_K_M");
    expect_layers(q4, 4, "ffn_down", {2, 3}, TensorType::Q8_0, TensorType::Q5_0);
    expect_layers(q4, 4, "attn_v", {2, 3}, TensorType::Q6_K, TensorType::Q4_K);
    expect_layers(plan_types(t, m, "Q5_K_S"), 4, "ffn_down", {}, TensorType::Q5_1, TensorType::Q5_1);
    expect_layers(plan_types(t, m, "Q3_K_S"), 4, "ffn_down", {}, TensorType::Q4_0, TensorType::Q4_0);
    expect_layers(plan_types(t, m, "Q6_K"), 4, "ffn_down", {}, TensorType::Q8_0, TensorType::Q8_0);
    expect_layers(plan_types(t, m, "IQ4_NL"), 4, "ffn_down", {}, TensorType::IQ4_NL, TensorType::IQ4_NL);
    // 32-block types fit 704 as they are.
    expect_layers(plan_types(t, m, "Q4_1"), 4, "ffn_down", {}, TensorType::Q4_1, TensorType::Q4_1);
    int n_fallback = 0;
    for (const PlannedTensor& p : quant::plan_quantization(t, m, scheme("Q4_K_M"))) n_fallback += p.fallback;
    EXPECT_EQ(n_fallback, 4);
}

// ---- K-quant variants on a 32-layer model -------------------------------------------------

TEST(QuantRecipe, Q4KSmallAndMedium) {
    const auto m = llama_model(kL, 32, 32);
    const auto s = plan_types(llama7b(), m, "Q4_K_S");
    expect_layers(s, kL, "attn_v", {0, 1, 2, 3}, TensorType::Q5_K, TensorType::Q4_K);
    expect_layers(s, kL, "ffn_down", {0, 1, 2, 3}, TensorType::Q5_K, TensorType::Q4_K);
    for (const char* w : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"})
        expect_layers(s, kL, w, {}, TensorType::Q4_K, TensorType::Q4_K);
    EXPECT_EQ(s.at("output.weight"), TensorType::Q6_K);
    EXPECT_EQ(s.at("token_embd.weight"), TensorType::Q4_K);
    expect_norms_f32(s);

    const auto med = plan_types(llama7b(), m, "Q4_K_M");
    expect_layers(med, kL, "attn_v", kMoreBits32, TensorType::Q6_K, TensorType::Q4_K);
    expect_layers(med, kL, "ffn_down", kMoreBits32, TensorType::Q6_K, TensorType::Q4_K);
    expect_layers(med, kL, "attn_output", {}, TensorType::Q4_K, TensorType::Q4_K);
}

TEST(QuantRecipe, Q5KSmallAndMedium) {
    const auto m = llama_model(kL, 32, 32);
    const auto s = plan_types(llama7b(), m, "Q5_K_S");
    for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
        expect_layers(s, kL, w, {}, TensorType::Q5_K, TensorType::Q5_K);
    EXPECT_EQ(s.at("output.weight"), TensorType::Q6_K);
    const auto med = plan_types(llama7b(), m, "Q5_K_M");
    expect_layers(med, kL, "attn_v", kMoreBits32, TensorType::Q6_K, TensorType::Q5_K);
    expect_layers(med, kL, "ffn_down", kMoreBits32, TensorType::Q6_K, TensorType::Q5_K);
}

TEST(QuantRecipe, Q3KSmallMediumLarge) {
    const auto m = llama_model(kL, 32, 32);
    const auto s = plan_types(llama7b(), m, "Q3_K_S");
    for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
        expect_layers(s, kL, w, {}, TensorType::Q3_K, TensorType::Q3_K);
    EXPECT_EQ(s.at("output.weight"), TensorType::Q6_K);
    EXPECT_EQ(s.at("token_embd.weight"), TensorType::Q3_K);

    const auto med = plan_types(llama7b(), m, "Q3_K_M");
    expect_layers(med, kL, "attn_v", {0, 1}, TensorType::Q5_K, TensorType::Q4_K);
    expect_layers(med, kL, "ffn_down", {0, 1}, TensorType::Q5_K, TensorType::Q4_K);  // i < 32/16
    expect_layers(med, kL, "attn_output", {}, TensorType::Q4_K, TensorType::Q4_K);
    expect_layers(med, kL, "attn_q", {}, TensorType::Q3_K, TensorType::Q3_K);

    const auto l = plan_types(llama7b(), m, "Q3_K_L");
    for (const char* w : {"attn_v", "attn_output", "ffn_down"}) expect_layers(l, kL, w, {}, TensorType::Q5_K, TensorType::Q5_K);
    for (const char* w : {"attn_q", "attn_k", "ffn_gate", "ffn_up"}) expect_layers(l, kL, w, {}, TensorType::Q3_K, TensorType::Q3_K);
}

TEST(QuantRecipe, Q2KDependsOnGqa) {
    const auto mha = plan_types(llama7b(), llama_model(kL, 32, 32), "Q2_K");
    expect_layers(mha, kL, "attn_v", {}, TensorType::Q3_K, TensorType::Q3_K);
    expect_layers(mha, kL, "attn_output", {}, TensorType::Q3_K, TensorType::Q3_K);
    expect_layers(mha, kL, "ffn_down", {}, TensorType::Q3_K, TensorType::Q3_K);
    expect_layers(mha, kL, "attn_q", {}, TensorType::Q2_K, TensorType::Q2_K);
    expect_layers(mha, kL, "ffn_up", {}, TensorType::Q2_K, TensorType::Q2_K);
    EXPECT_EQ(mha.at("token_embd.weight"), TensorType::Q2_K);
    const auto gqa = plan_types(llama8b(), llama_model(kL, 32, 8), "Q2_K");
    expect_layers(gqa, kL, "attn_v", {}, TensorType::Q4_K, TensorType::Q4_K);
    expect_layers(gqa, kL, "attn_k", {}, TensorType::Q2_K, TensorType::Q2_K);
    // GQA 2 (< 4) does not count.
    expect_layers(plan_types(llama8b(), llama_model(kL, 32, 16), "Q2_K"), kL, "attn_v", {}, TensorType::Q3_K,
                  TensorType::Q3_K);
}

TEST(QuantRecipe, Iq4DependsOnGqaAndFirstLayers) {
    for (const char* s : {"IQ4_XS", "IQ4_NL"}) {
        SCOPED_TRACE(s);
        const TensorType base = scheme(s).base;
        const auto mha = plan_types(llama7b(), llama_model(kL, 32, 32), s);
        expect_layers(mha, kL, "attn_v", {}, base, base);
        expect_layers(mha, kL, "ffn_down", {0, 1, 2, 3}, TensorType::Q5_K, base);
        EXPECT_EQ(mha.at("output.weight"), TensorType::Q6_K);
        EXPECT_EQ(mha.at("token_embd.weight"), base);
        const auto gqa = plan_types(llama8b(), llama_model(kL, 32, 8), s);
        expect_layers(gqa, kL, "attn_v", {}, TensorType::Q5_K, TensorType::Q5_K);
    }
}

TEST(QuantRecipe, SeventyBGetsQ5KAttnV) {
    const auto t = llama_tensors(80, 8192, 28672, 1024, 32000);
    const auto m = llama_model(80, 64, 8);
    ASSERT_TRUE(m.is_70b);
    expect_layers(plan_types(t, m, "Q4_K_S"), 80, "attn_v", {}, TensorType::Q5_K, TensorType::Q5_K);
    expect_layers(plan_types(t, m, "Q3_K_S"), 80, "attn_v", {}, TensorType::Q5_K, TensorType::Q5_K);
    // Q6_K promotions are kept, Q4_K ones raised: use_more_bits(i, 80) layers stay Q6_K.
    std::set<int> more;
    for (int i = 0; i < 80; ++i)
        if (i < 10 || i >= 70 || (i - 10) % 3 == 2) more.insert(i);
    expect_layers(plan_types(t, m, "Q4_K_M"), 80, "attn_v", more, TensorType::Q6_K, TensorType::Q5_K);
}

// ---- the rest of the schemes --------------------------------------------------------------

TEST(QuantRecipe, LegacyAndQ6KSchemes) {
    const auto m = llama_model(kL, 32, 32);
    for (const char* s : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K"}) {
        SCOPED_TRACE(s);
        const auto types = plan_types(llama7b(), m, s);
        for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
            expect_layers(types, kL, w, {}, scheme(s).base, scheme(s).base);
        EXPECT_EQ(types.at("output.weight"), TensorType::Q6_K);  // llama.cpp: output gets Q6_K unless Q8_0
        EXPECT_EQ(types.at("token_embd.weight"), scheme(s).base);
        expect_norms_f32(types);
    }
    const auto q8 = plan_types(llama7b(), m, "Q8_0");
    EXPECT_EQ(q8.at("output.weight"), TensorType::Q8_0);
    for (const auto& [name, type] : q8)
        if (name.find("_norm") == std::string::npos) {
            EXPECT_EQ(type, TensorType::Q8_0) << name;
        }
}

TEST(QuantRecipe, FloatSchemesConvertMatricesOnly) {
    const auto m = llama_model(kL, 32, 32);
    for (const char* s : {"F16", "BF16", "F32"}) {
        const auto types = plan_types(llama7b(), m, s);
        for (const auto& [name, type] : types)
            EXPECT_EQ(type, name.find("_norm") != std::string::npos ? TensorType::F32 : scheme(s).base) << s << " " << name;
    }
}

TEST(QuantRecipe, TiedEmbeddingsGetTheOutputRule) {
    const auto t = llama_tensors(kL, 4096, 11008, 4096, 32000, /*with_output=*/false);
    EXPECT_EQ(plan_types(t, llama_model(kL, 32, 32), "Q4_K_M").at("token_embd.weight"), TensorType::Q6_K);
    EXPECT_EQ(plan_types(t, llama_model(kL, 32, 32), "Q8_0").at("token_embd.weight"), TensorType::Q8_0);
}

TEST(QuantRecipe, OutputRowsOutsideTheBlocksGetQ8_0AndOddRowsF16) {
    // d = 288: a multiple of 32, not of 256.
    const auto t = llama_tensors(2, 288, 768, 288, 1000);
    const auto m = llama_model(2, 6, 6);
    const auto types = plan_types(t, m, "Q4_K_M");
    EXPECT_EQ(types.at("output.weight"), TensorType::Q8_0);
    EXPECT_EQ(types.at("token_embd.weight"), TensorType::Q5_0);
    EXPECT_EQ(types.at(blk(0, "attn_q")), TensorType::Q5_0);
    EXPECT_EQ(types.at(blk(0, "ffn_down")), TensorType::Q4_K);  // rows of 768 = 3 * 256
    // Rows of 48 fit no block type: F16.
    const auto odd = plan_types({{"blk.0.attn_q.weight", {48, 48}, TensorType::F32}}, llama_model(1, 1, 1), "Q4_K_S");
    EXPECT_EQ(odd.at("blk.0.attn_q.weight"), TensorType::F16);
}

TEST(QuantRecipe, OverridesForOutputAndTokenEmbeddings) {
    const auto m = llama_model(kL, 32, 32);
    quant::RecipeOptions o;
    o.output_type = TensorType::Q8_0;
    o.token_embd_type = TensorType::F16;
    const auto types = plan_types(llama7b(), m, "Q4_K_M", o);
    EXPECT_EQ(types.at("output.weight"), TensorType::Q8_0);
    EXPECT_EQ(types.at("token_embd.weight"), TensorType::F16);
    expect_layers(types, kL, "attn_v", kMoreBits32, TensorType::Q6_K, TensorType::Q4_K);  // the rest unchanged

    // An override type whose blocks do not fit the rows is refused with a message.
    quant::RecipeOptions bad;
    bad.output_type = TensorType::Q4_K;
    const auto t = llama_tensors(1, 288, 768, 288, 1000);
    try {
        quant::plan_quantization(t, llama_model(1, 6, 6), scheme("Q8_0"), bad);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--output-tensor-type"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("output.weight"), std::string::npos) << e.what();
    }
}

TEST(QuantRecipe, OrderIsLlamaCppsAndCountersFollowIt) {
    // Tensors given blk.0, blk.1, ..., blk.11 then the rest: llama.cpp writes the non-block
    // tensors first, then layers by number (blk.2 before blk.10), names sorted within each.
    const auto t = llama_tensors(12, 256, 512, 256, 1000);
    const auto plan = quant::plan_quantization(t, llama_model(12, 4, 4), scheme("Q3_K_M"));
    std::vector<std::string> names;
    for (const PlannedTensor& p : plan) names.push_back(t[p.index].name);
    EXPECT_EQ(names[0], "output.weight");
    EXPECT_EQ(names[1], "output_norm.weight");
    EXPECT_EQ(names[2], "token_embd.weight");
    EXPECT_EQ(names[3], "blk.0.attn_k.weight");
    EXPECT_EQ(names[3 + 9 * 2], "blk.2.attn_k.weight");
    EXPECT_EQ(names.back(), "blk.11.ffn_up.weight");
    // Q3_K_M: the first two attn_v (layers 0 and 1, not 0 and 10) get Q5_K.
    const auto types = plan_types(t, llama_model(12, 4, 4), "Q3_K_M");
    expect_layers(types, 12, "attn_v", {0, 1}, TensorType::Q5_K, TensorType::Q4_K);
}

TEST(QuantRecipe, SchemeNames) {
    EXPECT_EQ(quant::find_scheme("q4_k_m"), &scheme("Q4_K_M"));
    EXPECT_EQ(quant::find_scheme("Q4_K"), &scheme("Q4_K_M"));
    EXPECT_EQ(quant::find_scheme("Q3_K")->file_type, 12u);
    EXPECT_EQ(quant::find_scheme("Q5_K")->file_type, 17u);
    EXPECT_EQ(quant::find_scheme("Q7_K"), nullptr);
    EXPECT_EQ(quant::find_scheme(""), nullptr);
    EXPECT_EQ(quant::schemes().size(), 19u);
    const std::string names = quant::scheme_names_text();
    for (const quant::Scheme& s : quant::schemes()) EXPECT_NE(names.find(s.name), std::string::npos) << s.name;
}
