// make_bench_model: writes a random-weight F16 Llama model of a realistic shape, with the
// shared family's tokenizer, for the quantization benchmark (bench/bench_quant.sh quantizes
// it with `hsd quantize` and times every type). Random weights cost the same bytes and
// multiply-adds as trained ones; the text they produce is noise, which timing does not mind.
//
//   make_bench_model --tokenizer-from hsd-m1.gguf --out bench-1b-F16.gguf
//                    [--embd 2048 --layers 22 --heads 32 --kv-heads 4 --ffn 5632] [--seed 1]
//   make_bench_model --widen-ffn-of hsd-target.gguf --ffn 12288 --out hsd-target-xl.gguf
//       the same function bit for bit at a big model's cost (testing/widen_ffn.h)
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "testing/widen_ffn.h"

using namespace hsd;

namespace {

gguf::Value f32_value(float x) {
    gguf::Value v;
    v.type = gguf::ValueType::FLOAT32;
    v.f = x;
    return v;
}

// splitmix64: fast, seedable, good enough for benchmark weights.
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform() { return (float)((next() >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f; }  // [-1, 1)
};

}  // namespace

int main(int argc, char** argv) {
    std::string tok_from, out, widen_from;
    int embd = 2048, layers = 22, heads = 32, kv_heads = 4, ffn = 5632;
    uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) { fmt::print(stderr, "{} needs a value\n", a); std::exit(2); }
            return argv[++i];
        };
        if (a == "--tokenizer-from") tok_from = next();
        else if (a == "--widen-ffn-of") widen_from = next();
        else if (a == "--out") out = next();
        else if (a == "--embd") embd = std::stoi(next());
        else if (a == "--layers") layers = std::stoi(next());
        else if (a == "--heads") heads = std::stoi(next());
        else if (a == "--kv-heads") kv_heads = std::stoi(next());
        else if (a == "--ffn") ffn = std::stoi(next());
        else if (a == "--seed") seed = std::stoull(next());
        else { fmt::print(stderr, "unknown option {}\n", a); return 2; }
    }
    if (!widen_from.empty() && !out.empty()) {
        try {
            write_widened_ffn(widen_from, out, ffn, seed);
            fmt::print("{}: {} with every FFN widened to {} (inert units)\n", out, widen_from, ffn);
        } catch (const Error& e) {
            fmt::print(stderr, "error: {}\n", e.what());
            return 1;
        }
        return 0;
    }
    if (tok_from.empty() || out.empty()) {
        fmt::print(stderr, "usage: make_bench_model --tokenizer-from MODEL.gguf --out OUT.gguf [shape options]\n");
        return 2;
    }
    try {
        auto src = gguf::File::open(tok_from);
        const uint64_t vocab = src->get_string_array("tokenizer.ggml.tokens").size();
        const int head_dim = embd / heads;

        gguf::Writer w(out);
        for (const auto& [key, value] : src->metadata())
            if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
        w.set("general.architecture", gguf::value_string("llama"));
        w.set("general.name", gguf::value_string(fmt::format("bench-{}x{}-ffn{}", layers, embd, ffn)));
        w.set("general.file_type", gguf::value_u32(1));  // mostly F16
        w.set("llama.context_length", gguf::value_u32(2048));
        w.set("llama.embedding_length", gguf::value_u32((uint32_t)embd));
        w.set("llama.block_count", gguf::value_u32((uint32_t)layers));
        w.set("llama.feed_forward_length", gguf::value_u32((uint32_t)ffn));
        w.set("llama.attention.head_count", gguf::value_u32((uint32_t)heads));
        w.set("llama.attention.head_count_kv", gguf::value_u32((uint32_t)kv_heads));
        w.set("llama.rope.dimension_count", gguf::value_u32((uint32_t)head_dim));
        w.set("llama.rope.freq_base", f32_value(10000.0f));
        w.set("llama.attention.layer_norm_rms_epsilon", f32_value(1e-5f));
        w.set("llama.vocab_size", gguf::value_u32((uint32_t)vocab));

        struct T {
            std::string name;
            uint64_t cols, rows;  // rows = 0: a 1-D norm vector of `cols`
        };
        std::vector<T> ts = {{"token_embd.weight", (uint64_t)embd, vocab}};
        const uint64_t q = (uint64_t)embd, kv = (uint64_t)(kv_heads * head_dim), f = (uint64_t)ffn;
        for (int l = 0; l < layers; ++l) {
            const std::string p = fmt::format("blk.{}.", l);
            ts.push_back({p + "attn_norm.weight", q, 0});
            ts.push_back({p + "attn_q.weight", q, q});
            ts.push_back({p + "attn_k.weight", q, kv});
            ts.push_back({p + "attn_v.weight", q, kv});
            ts.push_back({p + "attn_output.weight", q, q});
            ts.push_back({p + "ffn_norm.weight", q, 0});
            ts.push_back({p + "ffn_gate.weight", q, f});
            ts.push_back({p + "ffn_up.weight", q, f});
            ts.push_back({p + "ffn_down.weight", f, q});
        }
        ts.push_back({"output_norm.weight", q, 0});
        ts.push_back({"output.weight", q, vocab});
        for (const T& t : ts) {
            if (t.rows == 0) w.add_tensor(t.name, {t.cols}, gguf::TensorType::F32);
            else w.add_tensor(t.name, {t.cols, t.rows}, gguf::TensorType::F16);
        }
        w.begin();
        Rng rng{seed};
        std::vector<uint16_t> row;
        uint64_t params = 0;
        for (const T& t : ts) {
            if (t.rows == 0) {
                const std::vector<float> ones(t.cols, 1.0f);
                w.write(ones.data(), ones.size() * sizeof(float));
                continue;
            }
            // Uniform with standard deviation 1/sqrt(cols): activations keep their scale.
            const float a = std::sqrt(3.0f / (float)t.cols);
            row.resize(t.cols);
            for (uint64_t r = 0; r < t.rows; ++r) {
                for (uint64_t k = 0; k < t.cols; ++k) row[k] = f32_to_f16(a * rng.uniform());
                w.write(row.data(), row.size() * sizeof(uint16_t));
            }
            params += t.rows * t.cols;
        }
        w.finish();
        fmt::print("{}: {:.3f} B parameters, {:.2f} GB\n", out, (double)params / 1e9, (double)w.file_bytes() / 1e9);
    } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
    return 0;
}
