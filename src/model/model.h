#pragma once
// A decoder-only transformer loaded from GGUF (the llama and qwen2 architectures, model/arch.h):
// hyper-parameters, weight views into the memory map (never copied or expanded), and the
// early-exit layers if the file lists any.
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tokenizer/tokenizer.h"

namespace hsd {

struct ModelConfig {
    std::string name;
    std::string arch;  // general.architecture
    int n_vocab = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;  // attention.key_length (= value_length), else n_embd / n_head
    int rope_dim = 0;
    int n_ff = 0;
    int n_ctx_train = 0;
    float rope_base = 10000.0f;
    RopeLayout rope_layout = RopeLayout::Normal;
    std::vector<float> rope_freq_factors;  // rope_freqs.weight (rope_dim/2 values), or empty
    double rope_position_scale = 1.0;      // linear rope scaling factor
    float rms_eps = 1e-5f;
    std::vector<int> exit_layers;  // hsd.early_exit.layers: exit after layer k; sorted, unique, in 1..n_layer-1

    // "2, 4, 8, 12", or "none".
    std::string exit_layers_text() const;

    RopeSpec rope() const { return {rope_dim, rope_base, rope_layout, rope_freq_factors, rope_position_scale}; }
    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
};

struct LayerWeights {
    std::vector<float> attn_norm, ffn_norm;  // small norm vectors, kept as F32
    WeightView wq, wk, wv, wo, gate, up, down;
    std::vector<float> bq, bk, bv, bo;  // optional biases of wq, wk, wv, wo (qwen2 has q/k/v); empty if absent
};

class Model {
public:
    // Loads and validates a GGUF file: a supported architecture, every tensor present with
    // the expected shape and a supported type, no tensor or "<arch>.*" key that hsd would
    // have to ignore. Throws hsd::Error naming the file and the problem.
    // repack = false keeps every matrix in the map's layout (benchmarks compare the layouts,
    // and metadata probes skip the work); without it, repack_default() decides.
    static std::unique_ptr<Model> load(const std::string& path, bool repack);
    static std::unique_ptr<Model> load(const std::string& path) { return load(path, repack_default()); }
    // Process-wide: whether load(path) repacks (on by default; `--no-repack` turns it off for a
    // faster load and one pass less over the file, at a slower decode).
    static void set_repack_default(bool on);
    static bool repack_default();
    // Files load() has opened in this process (a model should be loaded once: ModelCache).
    static int64_t load_count();

    const ModelConfig& config() const { return config_; }
    const gguf::File& file() const { return *file_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    const std::string& path() const { return file_->path(); }

    const WeightView& token_embd() const { return token_embd_; }
    const std::vector<float>& output_norm() const { return output_norm_; }
    const WeightView& output() const { return output_; }
    const LayerWeights& layer(int i) const { return layers_[(size_t)i]; }

    bool is_exit_layer(int k) const;
    // Bytes of weights one forward pass streams through layers [a, b) (plus the head if with_head).
    size_t weight_bytes(int a, int b, bool with_head) const;
    // Matrix elements (= multiply-adds per token) of layers [a, b) (plus the head).
    size_t weight_elements(int a, int b, bool with_head) const;

private:
    Model() = default;
    // Repacks every matrix a kernel streams faster in another layout (F16 into kPanel-row
    // panels, quantized types into kernels/quant_pack.h's groups) into one anonymous
    // allocation, and releases the mapped originals' pages.
    void repack_weights();

    struct FreeDeleter {
        void operator()(void* p) const;
    };
    std::unique_ptr<uint8_t, FreeDeleter> repacked_;  // all repacked matrices, one allocation
    std::unique_ptr<gguf::File> file_;
    ModelConfig config_;
    Tokenizer tokenizer_;
    WeightView token_embd_, output_;
    std::vector<float> output_norm_;
    std::vector<LayerWeights> layers_;
};

}  // namespace hsd
