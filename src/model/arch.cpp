#include "model/arch.h"

#include <algorithm>
#include <fmt/format.h>
#include <iterator>

#include "common/error.h"

namespace hsd {

namespace {

// Mistral GGUFs are architecture "llama" (the same graph); Qwen2 / Qwen2.5 add q/k/v biases
// (optional tensors of any architecture here) and rotate halves.
constexpr ArchRules kArchs[] = {
    {"llama", RopeLayout::Normal},
    {"qwen2", RopeLayout::Neox},
};

// Keys the loader reads and implements (model.cpp).
constexpr const char* kImplemented[] = {
    "context_length",        "embedding_length",        "block_count",
    "feed_forward_length",   "attention.head_count",    "attention.head_count_kv",
    "attention.key_length",  "attention.value_length",  "attention.layer_norm_rms_epsilon",
    "rope.dimension_count",  "rope.freq_base",          "vocab_size",
    "rope.scaling.type",     "rope.scaling.factor",     "rope.scale_linear",
};

// Keys that do not change the forward pass of what hsd runs: provenance, or parameters of
// scalings whose effect is already in the file (Llama 3.1's original context went into
// rope_freqs.weight) or that only yarn uses (refused through rope.scaling.type).
constexpr const char* kInformational[] = {
    "tensor_data_layout",
    "rope.scaling.original_context_length",
    "rope.scaling.finetuned",
};

// Keys accepted only when they say the feature is off.
bool is_zero_key(const std::string& k) { return k == "expert_count" || k == "expert_used_count"; }

template <size_t N>
bool listed(const char* const (&list)[N], const std::string& k) {
    return std::any_of(std::begin(list), std::end(list), [&](const char* s) { return k == s; });
}

}  // namespace

std::string supported_architectures_text() {
    std::string s;
    for (const ArchRules& a : kArchs) s += fmt::format("{}{}", s.empty() ? "" : ", ", a.name);
    return s;
}

const ArchRules& arch_rules(const gguf::File& f, const std::string& arch) {
    for (const ArchRules& a : kArchs)
        if (arch == a.name) return a;
    fail(fmt::format("{}: general.architecture is '{}', which hsd does not implement (supported: {})", f.path(), arch,
                     supported_architectures_text()));
}

void check_arch_keys(const gguf::File& f, const std::string& arch) {
    const std::string prefix = arch + ".";
    for (const auto& [key, value] : f.metadata()) {
        if (key.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string k = key.substr(prefix.size());
        if (listed(kImplemented, k) || listed(kInformational, k)) continue;
        if (is_zero_key(k) && value.type != gguf::ValueType::ARRAY && value.u == 0 && value.i == 0 &&
            value.f == 0)
            continue;
        fail(fmt::format("{}: metadata '{}' = {} changes the model in a way hsd does not implement; refusing to run "
                         "without it",
                         f.path(), key, value.to_string()));
    }
}

}  // namespace hsd
