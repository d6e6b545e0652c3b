#include "quant/quant_recipe.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <set>

#include "common/error.h"

namespace hsd::quant {

using gguf::TensorType;

namespace {

// llama_ftype ids: the values llama.cpp stores as general.file_type.
const std::vector<Scheme> kSchemes = {
    {"Q4_0", 2, TensorType::Q4_0},     {"Q4_1", 3, TensorType::Q4_1},     {"Q5_0", 8, TensorType::Q5_0},
    {"Q5_1", 9, TensorType::Q5_1},     {"Q8_0", 7, TensorType::Q8_0},     {"Q2_K", 10, TensorType::Q2_K},
    {"Q3_K_S", 11, TensorType::Q3_K},  {"Q3_K_M", 12, TensorType::Q3_K},  {"Q3_K_L", 13, TensorType::Q3_K},
    {"Q4_K_S", 14, TensorType::Q4_K},  {"Q4_K_M", 15, TensorType::Q4_K},  {"Q5_K_S", 16, TensorType::Q5_K},
    {"Q5_K_M", 17, TensorType::Q5_K},  {"Q6_K", 18, TensorType::Q6_K},    {"IQ4_NL", 25, TensorType::IQ4_NL},
    {"IQ4_XS", 30, TensorType::IQ4_XS}, {"F16", 1, TensorType::F16},      {"BF16", 32, TensorType::BF16},
    {"F32", 0, TensorType::F32},
};

enum class Category { TokenEmbd, Output, AttnQ, AttnK, AttnV, AttnQkv, AttnKvB, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

Category category_of(const std::string& name) {
    if (name == "output.weight") return Category::Output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::TokenEmbd;
    if (contains(name, "attn_qkv.weight")) return Category::AttnQkv;
    if (contains(name, "attn_kv_b.weight")) return Category::AttnKvB;
    if (contains(name, "attn_v.weight")) return Category::AttnV;
    if (contains(name, "attn_k.weight")) return Category::AttnK;
    if (contains(name, "attn_q.weight")) return Category::AttnQ;
    if (contains(name, "attn_output.weight")) return Category::AttnOutput;
    if (contains(name, "ffn_up")) return Category::FfnUp;
    if (contains(name, "ffn_gate")) return Category::FfnGate;
    if (contains(name, "ffn_down")) return Category::FfnDown;
    return Category::Other;
}

// Tensors that feed V (the most quantization-sensitive projection).
bool is_attn_v_like(Category c) { return c == Category::AttnV || c == Category::AttnQkv || c == Category::AttnKvB; }

// ggml_n_dims: trailing dimensions of 1 do not count.
size_t effective_dims(const std::vector<uint64_t>& dims) {
    size_t n = dims.size();
    while (n > 1 && dims[n - 1] == 1) --n;
    return n;
}

// Only matrices named *weight are quantized; norms, MoE routers, position and token-type
// embeddings and a few other small or precision-critical tensors keep their type.
bool allows_quantization(const RecipeTensor& t) {
    if (effective_dims(t.dims) < 2) return false;
    const std::string& n = t.name;
    if (n.size() < 6 || n.compare(n.size() - 6, 6, "weight") != 0) return false;
    for (const char* keep : {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "attn_rel_b.weight", "altup", "laurel"})
        if (contains(n, keep)) return false;
    return n != "position_embd.weight" && n != "token_types.weight";
}

// llama.cpp's layer-index heuristic: the first and last eighth of the layers, and every
// third one in between, get more bits.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// -1 for tensors outside the blocks ("blk.N.").
int layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    size_t k = 4;
    int v = 0;
    bool any = false;
    while (k < name.size() && std::isdigit((unsigned char)name[k]) && v < 1000000) {
        v = v * 10 + (name[k++] - '0');
        any = true;
    }
    return any ? v : -1;
}

struct State {
    const RecipeModel& model;
    std::string scheme;
    bool tied_embeddings = true;
    int n_attention_wv = 0, i_attention_wv = 0;
    int n_ffn_down = 0, i_ffn_down = 0;
};

// llama_tensor_get_type_impl for the schemes above (no importance matrix, not Falcon, no experts).
TensorType refine(State& s, TensorType t, const RecipeTensor& tensor, Category cat, const RecipeOptions& opt) {
    const std::string& f = s.scheme;
    const int gqa = s.model.n_gqa();
    if (cat == Category::Output || (s.tied_embeddings && cat == Category::TokenEmbd)) {
        if (opt.output_type) return *opt.output_type;
        if (tensor.dims[0] % gguf::tensor_block_size(t) != 0) return TensorType::Q8_0;
        return t != TensorType::Q8_0 ? TensorType::Q6_K : t;
    }
    if (cat == Category::TokenEmbd) return t;
    if (is_attn_v_like(cat)) {
        const int i = s.i_attention_wv++;
        if (f == "Q2_K") t = gqa >= 4 ? TensorType::Q4_K : TensorType::Q3_K;
        else if (f == "Q3_K_M") t = i < 2 ? TensorType::Q5_K : TensorType::Q4_K;
        else if (f == "Q3_K_L") t = TensorType::Q5_K;
        else if ((f == "IQ4_NL" || f == "IQ4_XS") && gqa >= 4) t = TensorType::Q5_K;
        else if ((f == "Q4_K_M" || f == "Q5_K_M") && use_more_bits(i, s.n_attention_wv)) t = TensorType::Q6_K;
        else if (f == "Q4_K_S" && i < 4) t = TensorType::Q5_K;
        // 70B: 8 query heads share each V head, so attn_v is 8x smaller than attn_q: more
        // bits there cost almost nothing.
        if (s.model.is_70b && (t == TensorType::Q3_K || t == TensorType::Q4_K)) t = TensorType::Q5_K;
        return t;
    }
    if (cat == Category::FfnDown) {
        const int i = s.i_ffn_down++, n = s.n_ffn_down;
        if (f == "Q2_K") t = TensorType::Q3_K;
        else if (f == "Q3_K_M") t = i < n / 16 ? TensorType::Q5_K : TensorType::Q4_K;
        else if (f == "Q3_K_L") t = TensorType::Q5_K;
        else if (f == "Q4_K_M") { if (use_more_bits(i, n)) t = TensorType::Q6_K; }
        else if (i < n / 8 && (f == "IQ4_NL" || f == "IQ4_XS")) t = TensorType::Q5_K;
        else if (f == "Q5_K_M" && use_more_bits(i, n)) t = TensorType::Q6_K;
        else if (f == "Q4_K_S" && i < n / 8) t = TensorType::Q5_K;
        return t;
    }
    if (cat == Category::AttnOutput) {
        if (f == "Q2_K") return TensorType::Q3_K;
        if (f == "Q3_K_M") return TensorType::Q4_K;
        if (f == "Q3_K_L") return TensorType::Q5_K;
        return t;
    }
    return t;
}

// A type whose blocks do not divide the row length falls back to a 32-block type of similar
// quality; rows that are not even a multiple of 32 stay F16.
TensorType fallback(TensorType t, uint64_t ncols, bool* used) {
    if (ncols % gguf::tensor_block_size(t) == 0) return t;
    *used = true;
    TensorType r = TensorType::F16;
    switch (t) {
        case TensorType::IQ4_XS: r = TensorType::IQ4_NL; break;
        case TensorType::Q2_K: case TensorType::Q3_K: r = TensorType::Q4_0; break;
        case TensorType::Q4_K: r = TensorType::Q5_0; break;
        case TensorType::Q5_K: r = TensorType::Q5_1; break;
        case TensorType::Q6_K: r = TensorType::Q8_0; break;
        default: break;
    }
    return ncols % gguf::tensor_block_size(r) == 0 ? r : TensorType::F16;
}

void check_override(const RecipeTensor& t, TensorType type, const char* flag) {
    if (t.dims[0] % gguf::tensor_block_size(type) != 0)
        fail(fmt::format("{} {}: tensor '{}' has rows of {} values, not a multiple of the {} block size {}", flag,
                         gguf::tensor_type_name(type), t.name, t.dims[0], gguf::tensor_type_name(type),
                         gguf::tensor_block_size(type)));
}

}  // namespace

const std::vector<Scheme>& schemes() { return kSchemes; }

const Scheme* find_scheme(const std::string& name) {
    std::string up = name;
    for (char& c : up) c = (char)std::toupper((unsigned char)c);
    if (up == "Q3_K") up = "Q3_K_M";
    if (up == "Q4_K") up = "Q4_K_M";
    if (up == "Q5_K") up = "Q5_K_M";
    for (const Scheme& s : kSchemes)
        if (up == s.name) return &s;
    return nullptr;
}

std::string scheme_names_text() {
    std::string s;
    for (const Scheme& x : kSchemes) s += std::string(s.empty() ? "" : ", ") + x.name;
    return s;
}

bool is_quantized(TensorType t) { return gguf::tensor_block_size(t) > 1; }

RecipeModel RecipeModel::from_file(const gguf::File& f) {
    RecipeModel m;
    std::string arch = "llama";
    if (const gguf::Value* v = f.find("general.architecture"); v && v->type == gguf::ValueType::STRING) arch = v->str;
    // A scalar integer key, or 0 (absent, or a per-layer array as some models have).
    auto get = [&](const std::string& key) -> int {
        const gguf::Value* v = f.find(arch + "." + key);
        if (!v || v->type == gguf::ValueType::ARRAY || v->type == gguf::ValueType::STRING) return 0;
        return (int)v->u;
    };
    m.n_layer = get("block_count");
    m.n_head = get("attention.head_count");
    m.n_head_kv = get("attention.head_count_kv");
    if (m.n_head_kv == 0) m.n_head_kv = m.n_head;
    if (m.n_layer == 0) {
        std::set<int> layers;
        for (const gguf::TensorInfo& t : f.tensors())
            if (layer_of(t.name) >= 0) layers.insert(layer_of(t.name));
        m.n_layer = (int)layers.size();
    }
    m.is_70b = arch == "llama" && m.n_layer == 80 && m.n_head != m.n_head_kv;
    return m;
}

std::vector<RecipeTensor> recipe_tensors(const gguf::File& f) {
    std::vector<RecipeTensor> out;
    out.reserve(f.tensors().size());
    for (const gguf::TensorInfo& t : f.tensors()) out.push_back({t.name, t.dims, t.type()});
    return out;
}

std::vector<PlannedTensor> plan_quantization(const std::vector<RecipeTensor>& tensors, const RecipeModel& model,
                                             const Scheme& scheme, const RecipeOptions& options) {
    if (options.output_type)
        for (const RecipeTensor& t : tensors)
            if (category_of(t.name) == Category::Output) check_override(t, *options.output_type, "--output-tensor-type");
    if (options.token_embd_type)
        for (const RecipeTensor& t : tensors)
            if (category_of(t.name) == Category::TokenEmbd)
                check_override(t, *options.token_embd_type, "--token-embedding-type");

    // llama.cpp's weight order: (layer, name) with non-block tensors as layer -1.
    std::vector<size_t> order(tensors.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
        return la != lb ? la < lb : tensors[a].name < tensors[b].name;
    });

    State s{model, scheme.name};
    for (const RecipeTensor& t : tensors) {
        const Category c = category_of(t.name);
        if (is_attn_v_like(c)) ++s.n_attention_wv;
        if (c == Category::Output) s.tied_embeddings = false;
    }
    s.n_ffn_down = model.n_layer;

    std::vector<PlannedTensor> plan;
    plan.reserve(tensors.size());
    for (size_t idx : order) {
        const RecipeTensor& t = tensors[idx];
        const Category c = category_of(t.name);
        PlannedTensor p;
        p.index = idx;
        p.from = t.type;
        p.to = t.type;
        if (allows_quantization(t)) {
            if (options.token_embd_type && c == Category::TokenEmbd) p.to = *options.token_embd_type;
            else if (options.output_type && c == Category::Output) p.to = *options.output_type;
            else if (!is_quantized(scheme.base)) p.to = scheme.base;
            else p.to = fallback(refine(s, scheme.base, t, c, options), t.dims[0], &p.fallback);
        }
        plan.push_back(p);
    }
    return plan;
}

}  // namespace hsd::quant
