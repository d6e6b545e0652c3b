#include "spec_support.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "decoding/generate.h"
#include "gguf_writer.h"
#include "model/context.h"
#include "speculative/hierarchy_syntax.h"
#include "test_support.h"

namespace hsd::test {

using json = nlohmann::json;

bool sanitizer_build() {
    const char* e = std::getenv("HSD_SANITIZER_BUILD");
    return e && std::string(e) == "1";
}

namespace {
int test_threads() {
    const char* e = std::getenv("HSD_TEST_THREADS");
    return e && std::atoi(e) > 0 ? std::atoi(e) : 2;
}
}  // namespace

ThreadPool& pool() {
    static ThreadPool p(test_threads());
    return p;
}

const Model& shared_model(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Model>> models;
    auto& m = models[name];
    if (!m) m = Model::load(shared_path("models/" + name + ".gguf"));
    return *m;
}

std::vector<std::vector<TokenId>> reference_prompts() {
    std::ifstream in(shared_path("models/reference.json"));
    const json ref = json::parse(in);
    std::vector<std::vector<TokenId>> out;
    for (const json& p : ref.at("prompts")) out.push_back(p.at("tokens").get<std::vector<TokenId>>());
    return out;
}

SamplingParams greedy_params() {
    SamplingParams s;
    s.temperature = 0.0f;
    return s;
}

// A hierarchy written as "m0:3,m1:6" (shared model names), "ngram<N>:<T>" as bottom level,
// "@<k>:<T>" for the target's early exit after k layers.
std::vector<LevelSpec> parse_levels(const std::string& spec) {
    std::vector<LevelSpec> out = parse_level_list(spec);
    for (LevelSpec& s : out)
        if (s.is_model()) s.model = &shared_model("hsd-" + s.path);
    return out;
}

// Writes a llama GGUF with random F32 weights.
void write_tiny_model(const std::string& path, const TinySpec& t) {
    const int V = (int)t.pieces.size(), d = t.n_embd, ff = t.n_ff;
    GgufWriter w;
    w.str("general.architecture", "llama");
    w.u32("llama.context_length", 64);
    w.u32("llama.embedding_length", (uint32_t)d);
    w.u32("llama.block_count", (uint32_t)t.n_layer);
    w.u32("llama.feed_forward_length", (uint32_t)ff);
    w.u32("llama.attention.head_count", (uint32_t)t.n_head);
    w.u32("llama.attention.head_count_kv", (uint32_t)t.n_head);
    w.f32("llama.rope.freq_base", 10000.0f);
    w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.str("tokenizer.ggml.model", "llama");
    std::vector<float> scores((size_t)V);
    std::vector<int32_t> types((size_t)V);
    for (int i = 0; i < V; ++i) {
        scores[(size_t)i] = -(float)i;
        types[(size_t)i] = i == 0 ? 2 : i < 3 ? 3 : 1;  // <unk>, then <s> </s> as control pieces
    }
    w.array("tokenizer.ggml.tokens", t.pieces);
    w.array("tokenizer.ggml.scores", scores);
    w.array("tokenizer.ggml.token_type", types);
    w.u32("tokenizer.ggml.bos_token_id", 1);
    w.u32("tokenizer.ggml.eos_token_id", 2);
    w.u32("tokenizer.ggml.unknown_token_id", 0);
    if (!t.exits.empty()) w.array("hsd.early_exit.layers", t.exits);

    // Drawn in file order, so a seed always gives the same weights.
    std::mt19937_64 rng(t.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto matrix = [&](const std::string& name, int cols, int rows, float s) {
        std::vector<float> x((size_t)cols * (size_t)rows);
        for (float& v : x) v = s * normal(rng);
        w.tensor_f32(name, {(uint64_t)cols, (uint64_t)rows}, x);
    };
    auto norm = [&](const std::string& name) {
        std::vector<float> x((size_t)d);
        for (float& v : x) v = 1.0f + 0.1f * normal(rng);
        w.tensor_f32(name, {(uint64_t)d}, x);
    };
    matrix("token_embd.weight", d, V, 1.0f);
    norm("output_norm.weight");
    matrix("output.weight", d, V, t.scale);
    for (int l = 0; l < t.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        norm(p + "attn_norm.weight");
        matrix(p + "attn_q.weight", d, d, t.scale);
        matrix(p + "attn_k.weight", d, d, t.scale);
        matrix(p + "attn_v.weight", d, d, t.scale);
        matrix(p + "attn_output.weight", d, d, t.scale);
        norm(p + "ffn_norm.weight");
        matrix(p + "ffn_gate.weight", d, ff, t.scale);
        matrix(p + "ffn_up.weight", d, ff, t.scale);
        matrix(p + "ffn_down.weight", ff, d, t.scale);
    }
    w.write(path);
}

const Model& TempModels::add(const std::string& name, const TinySpec& spec) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("hsd_spec_" + std::to_string(::getpid()) + "_" + name + ".gguf"))
                                 .string();
    write_tiny_model(path, spec);
    paths.push_back(path);
    models.push_back(Model::load(path));
    return *models.back();
}

TempModels::~TempModels() {
    models.clear();
    for (const std::string& p : paths) std::filesystem::remove(p);
}

TinySpec tiny_target_spec(uint64_t seed, int n_layer, std::vector<uint32_t> exits) {
    TinySpec t;
    t.seed = seed;
    t.n_layer = n_layer;
    t.n_embd = 16;
    t.n_head = 4;
    t.n_ff = 32;
    t.exits = std::move(exits);
    return t;
}

TinyFamily::TinyFamily(bool target_exit) {
    target = &files.add("target", tiny_target_spec(11, 2, target_exit ? std::vector<uint32_t>{1} : std::vector<uint32_t>{}));
    target_path = files.paths.back();
    TinySpec d;
    d.seed = 22;
    d1 = &files.add("d1", d);
    d1_path = files.paths.back();
    d.seed = 33;
    d0 = &files.add("d0", d);
    d0_path = files.paths.back();
}


ThreadPool& tiny_pool() {
    static ThreadPool p(1);
    return p;
}

SamplingParams pure_sampling(uint64_t seed) {
    SamplingParams s;
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 0.0f;
    s.seed = seed;
    return s;
}

// Q(a, x): regularized upper incomplete gamma (Numerical Recipes' series / continued fraction).
double gamma_q(double a, double x) {
    if (x <= 0) return 1.0;
    const double gln = std::lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; ++n) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (std::abs(del) < std::abs(sum) * 1e-15) break;
        }
        return 1.0 - sum * std::exp(-x + a * std::log(x) - gln);
    }
    double b = x + 1 - a, c = 1.0 / 1e-300, dd = 1.0 / b, h = dd;
    for (int i = 1; i < 1000; ++i) {
        const double an = -i * (i - a);
        b += 2;
        dd = an * dd + b;
        if (std::abs(dd) < 1e-300) dd = 1e-300;
        c = b + an / c;
        if (std::abs(c) < 1e-300) c = 1e-300;
        dd = 1.0 / dd;
        const double del = dd * c;
        h *= del;
        if (std::abs(del - 1.0) < 1e-15) break;
    }
    return std::exp(-x + a * std::log(x) - gln) * h;
}

// Exact joint distribution of the first n_tok tokens of the target (temperature 1).
std::vector<double> exact_joint(const Model& target, const std::vector<TokenId>& prompt, int n_tok) {
    const int V = target.config().n_vocab;
    Context ctx(target, tiny_pool(), 0);
    Sampler s(pure_sampling(0), V);
    std::vector<double> joint;
    std::vector<float> probs;
    std::function<void(std::vector<TokenId>&, double)> rec = [&](std::vector<TokenId>& seq, double mass) {
        if ((int)(seq.size() - prompt.size()) == n_tok) {
            joint.push_back(mass);
            return;
        }
        ctx.truncate(0);
        s.probabilities(ctx.eval(seq, false), probs);
        const std::vector<float> p = probs;
        for (int x = 0; x < V; ++x) {
            seq.push_back(x);
            rec(seq, mass * p[(size_t)x]);
            seq.pop_back();
        }
    };
    std::vector<TokenId> seq = prompt;
    rec(seq, 1.0);
    return joint;  // index = x1 * V^(n-1) + ... + x_n
}

// p-value of Pearson's chi-square test of the counts against the expected probabilities
// (cells with expected count < 5 pooled).
double chi_square_p(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t n, int* df_out) {
    double stat = 0, pooled_e = 0;
    int64_t pooled_o = 0;
    int cells = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        const double e = probs[i] * (double)n;
        if (e < 5) {
            pooled_e += e;
            pooled_o += counts[i];
            continue;
        }
        stat += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
        ++cells;
    }
    if (pooled_e > 0) {
        stat += ((double)pooled_o - pooled_e) * ((double)pooled_o - pooled_e) / pooled_e;
        ++cells;
    }
    *df_out = cells - 1;
    return gamma_q((cells - 1) / 2.0, stat / 2.0);
}

// Runs n_runs seeded generations of n_predict tokens and tests the joint distribution of
// the first n_tok tokens against the target's exact one. Returns the p-value.
double sampled_distribution_p(const Model& target, const std::vector<LevelSpec>& levels, VerifyRule rule,
                              int n_runs, int n_tok, int n_predict, std::vector<LevelStats>* stats_out) {
    const std::vector<TokenId> prompt = {1, 3, 4};
    const int V = target.config().n_vocab;
    const std::vector<double> exact = exact_joint(target, prompt, n_tok);
    std::vector<int64_t> counts(exact.size(), 0);
    Hierarchy h(target, levels, tiny_pool(), {.rule = rule});
    std::vector<LevelStats> total;
    for (int r = 0; r < n_runs; ++r) {
        Sampler s(pure_sampling(1000003ULL * (uint64_t)r + 17), V);
        const SpeculativeResult res = generate_speculative(h, s, prompt, n_predict, true);
        if ((int)res.tokens.size() < n_tok) {
            ADD_FAILURE() << "run " << r << " produced " << res.tokens.size() << " tokens";
            return 0;
        }
        size_t cell = 0;
        for (int k = 0; k < n_tok; ++k) cell = cell * (size_t)V + (size_t)res.tokens[(size_t)k];
        ++counts[cell];
        if (total.empty()) total = res.levels;
        else
            for (size_t i = 0; i < total.size(); ++i) {
                total[i].draft_n += res.levels[i].draft_n;
                total[i].draft_n_accepted += res.levels[i].draft_n_accepted;
            }
    }
    if (stats_out) *stats_out = total;
    int df = 0;
    const double p = chi_square_p(counts, exact, n_runs, &df);
    std::printf("    chi-square over %d runs, %d df: p = %.3g\n", n_runs, df, p);
    return p;
}

int sampling_runs() { return sanitizer_build() ? 20000 : 40000; }


}  // namespace hsd::test
