// libFuzzer target: the SentencePiece tokenizer (ggml-vocab-llama-spm.gguf of ../shared).
// Build and run (CI runs a fixed number of iterations through CTest):
//   scripts/fuzz.sh                                # builds build-fuzz/ with clang-14, runs both briefly
//   build-fuzz/fuzz_tokenizer_spm -max_total_time=600 -max_len=4096 build-fuzz/corpus-spm
// Any crash, hang or sanitizer report (ASan + UBSan) is a bug; the reproducer is written to ./crash-*.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto v = hsd::fuzz::load_vocabs({"ggml-vocab-llama-spm.gguf"});
    // The llama vocabulary has byte fallback: valid UTF-8 comes back exactly, except for the
    // dummy-prefix ambiguity (a leading space) and "▁", which SentencePiece reads as a space.
    const std::string text(reinterpret_cast<const char*>(data), size);
    const bool exact = hsd::fuzz::valid_utf8(text) && (text.empty() || text[0] != ' ') &&
                       text.find("\xE2\x96\x81") == std::string::npos;
    hsd::fuzz::check(v[0].tok, data, size, exact);
    return 0;
}
