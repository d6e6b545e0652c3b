#pragma once
// Which type each tensor gets when a model is quantized to a named scheme (Q4_K_M, ...):
// llama.cpp's llama-quantize recipe for Llama-architecture models without an importance
// matrix, so that `hsd quantize m.gguf out.gguf Q4_K_M` picks exactly the per-tensor types a
// user gets from llama-quantize (tests/test_quant_recipe.cpp checks it against its files).
//
// In short: only 2-D+ "*.weight" tensors that are not norms are quantized; output.weight
// (and token_embd.weight when the embeddings are tied) gets Q6_K (Q8_0 if its rows do not
// fit the scheme's blocks); the _S/_M/_L variants give attn_v, ffn_down and attn_output more
// bits in chosen layers (use_more_bits), some depending on grouped-query attention; a tensor
// whose row length is not a multiple of its type's block size falls back to a 32-block type
// (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL), or F16.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace hsd::quant {

// A quantization scheme: llama.cpp's "file type" (llama_ftype), stored as general.file_type.
struct Scheme {
    const char* name;          // "Q4_K_M"
    uint32_t file_type;        // llama_ftype id (15 for Q4_K_M)
    gguf::TensorType base;     // the type most tensors get
};

// The scheme named `name` (case-insensitive; "Q4_K" = Q4_K_M, "Q3_K" = Q3_K_M, "Q5_K" =
// Q5_K_M as in llama-quantize), if any.
const Scheme* find_scheme(const std::string& name);
const std::vector<Scheme>& schemes();
std::string scheme_names_text();  // "Q4_0, Q4_1, ...": for usage and error messages

// What the recipe needs to know about the model (llama.cpp's hparams).
struct RecipeModel {
    int n_layer = 0;     // {arch}.block_count
    int n_head = 0;      // {arch}.attention.head_count
    int n_head_kv = 0;   // {arch}.attention.head_count_kv (0 = n_head)
    bool is_70b = false; // Llama 2/3 70B: 80 layers with grouped-query attention
    int n_gqa() const { return n_head_kv > 0 && n_head > 0 ? n_head / n_head_kv : 1; }
    // From the file's general.architecture and its {arch}.* keys; n_layer falls back to the
    // number of blk.N indices when block_count is missing.
    static RecipeModel from_file(const gguf::File& f);
};

struct RecipeTensor {
    std::string name;
    std::vector<uint64_t> dims;  // ggml order
    gguf::TensorType type;       // current type
};

struct RecipeOptions {
    std::optional<gguf::TensorType> output_type;      // --output-tensor-type
    std::optional<gguf::TensorType> token_embd_type;  // --token-embedding-type
};

struct PlannedTensor {
    size_t index = 0;            // into the input list
    gguf::TensorType from{};
    gguf::TensorType to{};
    bool fallback = false;       // the row length forced a 32-block (or F16) type
};

// The plan, in llama-quantize's output order (tensors outside blk.N first, then by layer
// number, by name within each; that order also drives its per-layer counters). Throws
// hsd::Error when an override type cannot hold a tensor's rows.
std::vector<PlannedTensor> plan_quantization(const std::vector<RecipeTensor>& tensors, const RecipeModel& model,
                                             const Scheme& scheme, const RecipeOptions& options = {});

// The tensor list of a file, for plan_quantization.
std::vector<RecipeTensor> recipe_tensors(const gguf::File& f);

// Whether a (known ggml) type is block-quantized: not F32/F16/BF16/F64 or an integer type.
bool is_quantized(gguf::TensorType t);

}  // namespace hsd::quant
