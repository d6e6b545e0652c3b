#pragma once
// Per-architecture rules: which general.architecture values hsd runs, their rotary layout,
// and which "<arch>.*" metadata keys hsd implements. A key that would change the math and is
// not implemented (sliding windows, logit soft-capping, yarn, experts, ...) is refused by name
// rather than ignored: running without it would silently give another model's outputs.
#include <string>

#include "gguf/gguf_file.h"
#include "kernels/ops.h"

namespace hsd {

struct ArchRules {
    const char* name;       // general.architecture
    RopeLayout rope_layout;  // llama.cpp: LLAMA_ROPE_TYPE_NORM for llama, NEOX for qwen2
};

// The rules for `arch`; throws naming the file, the architecture and the supported ones.
const ArchRules& arch_rules(const gguf::File& f, const std::string& arch);

// "llama, qwen2".
std::string supported_architectures_text();

// Throws naming the first "<arch>.*" key hsd does not implement (or implements only with
// some values, e.g. expert_count = 0, and the file has another).
void check_arch_keys(const gguf::File& f, const std::string& arch);

}  // namespace hsd
