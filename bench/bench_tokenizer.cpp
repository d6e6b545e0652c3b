// Tokenizer throughput: MB/s of encoding the 890 strings of ../shared/tokenizers/
// tokenizer-tests.txt (one encode call per string, no BOS, no special-token parsing) for each
// vocabulary there. llama.cpp's own speed is not measured here (it is not available).
//   build/bench/bench_tokenizer [DIR]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::path(HSD_SHARED_DIR) / "tokenizers";
    std::ifstream in(dir / "tokenizer-tests.txt", std::ios::binary);
    if (!in) {
        fmt::print(stderr, "cannot read {}\n", (dir / "tokenizer-tests.txt").string());
        return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string all = ss.str(), sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> strings;
    size_t from = 0;
    for (size_t at; (at = all.find(sep, from)) != std::string::npos; from = at + sep.size())
        strings.push_back(all.substr(from, at - from));
    strings.push_back(all.substr(from));
    size_t bytes = 0;
    for (const auto& s : strings) bytes += s.size();

    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".gguf") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    fmt::print("{} strings, {:.2f} MB per pass\n", strings.size(), bytes / 1e6);
    fmt::print("{:<40} {:>10} {:>10} {:>12}\n", "vocabulary", "MB/s", "tokens", "first call ms");
    for (const fs::path& f : files) {
        const auto file = hsd::gguf::File::open(f.string());
        const hsd::Tokenizer tok = hsd::Tokenizer::from_gguf(*file);
        using clock = std::chrono::steady_clock;
        size_t tokens = 0, passes = 0;
        const auto t0 = clock::now();
        double first_ms = 0, secs = 0;
        do {
            for (const auto& s : strings) tokens += tok.encode(s, false).size();
            ++passes;
            secs = std::chrono::duration<double>(clock::now() - t0).count();
            if (passes == 1) first_ms = secs * 1e3;  // includes the lazy Unicode-category set-up
        } while (secs < 1.0);
        fmt::print("{:<40} {:>10.2f} {:>10} {:>12.1f}\n", f.stem().string(), bytes * passes / secs / 1e6,
                   tokens / passes, first_ms);
    }
    return 0;
}
