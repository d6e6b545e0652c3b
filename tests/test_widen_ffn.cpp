// The big-target benchmark model (testing/widen_ffn.h): a model with inert FFN units appended
// computes exactly what the original computes, logits bit for bit and greedy output, in a
// single forward over many tokens and token by token.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/error.h"
#include "engine/engine.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model_cache.h"
#include "testing/widen_ffn.h"

namespace hsd {
namespace {

std::string shared(const std::string& name) { return std::string(HSD_SHARED_DIR) + "/models/" + name + ".gguf"; }

struct Widened {
    std::string path;
    explicit Widened(const std::string& src, int64_t ffn) {
        path = (std::filesystem::temp_directory_path() / ("hsd_widen_" + std::to_string(getpid()) + ".gguf")).string();
        write_widened_ffn(src, path, ffn);
    }
    ~Widened() { std::filesystem::remove(path); }
};

TEST(WidenFfn, SameLogitsBitForBitAndSameGreedyOutput) {
    const std::string src = shared("hsd-m1");
    ModelCache models;
    const Model& a = models.get(src);
    const int64_t ffn = a.config().n_ff;
    Widened w(src, ffn * 5 + 32);
    const Model& b = models.get(w.path);
    ASSERT_EQ(b.config().n_ff, ffn * 5 + 32);
    EXPECT_GT(b.weight_bytes(0, b.config().n_layer, true), a.weight_bytes(0, a.config().n_layer, true) * 2);

    ThreadPool pool(2);
    Context ca(a, pool, 256), cb(b, pool, 256);
    const std::vector<TokenId> prompt = a.tokenizer().encode("def fibonacci(n):\n    if n < 2:\n        return n\n", true);
    const int V = a.config().n_vocab;
    const float* la = ca.eval(prompt, true);
    std::vector<float> keep(la, la + prompt.size() * (size_t)V);
    const float* lb = cb.eval(prompt, true);
    EXPECT_EQ(0, std::memcmp(keep.data(), lb, keep.size() * sizeof(float))) << "prefill logits differ";

    Engine e({.threads = 2});
    auto greedy = [&](const std::string& model) {
        SessionOptions o;
        o.model = model;
        o.n_ctx = 256;
        o.sampling.temperature = 0;
        Session s(e, o);
        return s.generate("import numpy as np\n", 48, true).tokens;
    };
    EXPECT_EQ(greedy(src), greedy(w.path));
}

TEST(WidenFfn, RefusesNarrowingAndNonF16) {
    EXPECT_THROW(write_widened_ffn(shared("hsd-m1"), "/tmp/hsd_never.gguf", 8), Error);
    EXPECT_FALSE(std::filesystem::exists("/tmp/hsd_never.gguf"));
}

}  // namespace
}  // namespace hsd
