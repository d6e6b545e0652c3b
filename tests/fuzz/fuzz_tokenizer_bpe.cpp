// libFuzzer target: byte-level BPE tokenizers (one vocabulary per pre-tokenizer family of
// ../shared/tokenizers). The first input byte picks the vocabulary, the rest is the text.
// Build and run (CI runs a fixed number of iterations through CTest):
//   scripts/fuzz.sh                                # builds build-fuzz/ with clang-14, runs both briefly
//   build-fuzz/fuzz_tokenizer_bpe -max_total_time=600 -max_len=4096 build-fuzz/corpus-bpe
// Any crash, hang or sanitizer report (ASan + UBSan) is a bug; the reproducer is written to ./crash-*.
#include "fuzz_common.h"

namespace {
const std::vector<hsd::fuzz::Vocab>& vocabs() {
    static const auto v = hsd::fuzz::load_vocabs(
        {"ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2-as-llama-bpe.gguf", "ggml-vocab-gpt-2-as-qwen2.gguf",
         "ggml-vocab-gpt-2-as-tekken.gguf", "ggml-vocab-gpt-2-as-gpt-4o.gguf", "ggml-vocab-gpt-2-as-deepseek-v3.gguf",
         "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-falcon.gguf", "ggml-vocab-gpt-neox.gguf",
         "ggml-vocab-starcoder.gguf"});
    return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const auto& v = vocabs();
    const size_t which = data[0] % v.size();
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    // The GPT-2 vocabulary holds all 256 byte-level characters and merges only: valid UTF-8 must
    // come back exactly (invalid bytes become U+FFFD, as in llama.cpp).
    const bool exact = which <= 5 && hsd::fuzz::valid_utf8(text);
    hsd::fuzz::check(v[which].tok, data + 1, size - 1, exact);
    return 0;
}
