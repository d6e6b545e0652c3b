// Continuous batching (model/forward_batcher.h): several sequences in one forward pass, each
// with its own KV cache and positions, must get exactly the results they get alone — fused
// passes, chunked prompts and sessions of every decoding mode stepped concurrently.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engine/engine.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/forward_batcher.h"
#include "model/model_cache.h"

namespace hsd {
namespace {

std::string shared(const std::string& name) { return std::string(HSD_SHARED_DIR) + "/models/" + name + ".gguf"; }

std::vector<TokenId> random_tokens(int n, uint64_t seed, int vocab) {
    std::mt19937_64 rng(seed);
    std::vector<TokenId> t((size_t)n);
    for (TokenId& x : t) x = (TokenId)(3 + rng() % (uint64_t)(vocab - 3));
    return t;
}

// Layers and head of several sequences in one fused pass give the bytes each gets alone.
TEST(Batching, FusedPassEqualsSeparatePasses) {
    ModelCache models;
    const Model& m = models.get(shared("hsd-m1"));
    ThreadPool pool(2);
    const ModelConfig& c = m.config();
    const int V = c.n_vocab, d = (int)c.n_embd;
    // Three sequences with different histories and different numbers of new rows.
    const int past[3] = {0, 5, 17}, fresh[3] = {4, 1, 7};
    std::vector<std::vector<float>> alone(3), fused(3);
    std::vector<std::unique_ptr<Context>> a, b;
    std::vector<std::vector<float>> hb(3);
    for (int s = 0; s < 3; ++s) {
        auto hist = random_tokens(past[s] + fresh[s], 100 + s, V);
        a.push_back(std::make_unique<Context>(m, pool, 64));
        b.push_back(std::make_unique<Context>(m, pool, 64));
        if (past[s] > 0) {
            a[s]->eval(hist.data(), past[s], false);
            b[s]->eval(hist.data(), past[s], false);
        }
        const float* la = a[s]->eval(hist.data() + past[s], fresh[s], true);
        alone[s].assign(la, la + (size_t)fresh[s] * V);
        hb[s].resize((size_t)fresh[s] * d);
        b[s]->embed(hist.data() + past[s], fresh[s], hb[s].data());
        fused[s].resize((size_t)fresh[s] * V);
    }
    std::vector<LayerSegment> ls;
    std::vector<HeadSegment> hs;
    for (int s = 0; s < 3; ++s) {
        ls.push_back({b[s].get(), hb[s].data(), fresh[s], past[s]});
        hs.push_back({b[s].get(), hb[s].data(), fresh[s], fused[s].data()});
    }
    Context::run_layers_fused(ls, 0, c.n_layer);
    Context::head_fused(hs);
    for (int s = 0; s < 3; ++s) {
        EXPECT_EQ(b[s]->n_past(), past[s] + fresh[s]);
        EXPECT_EQ(0, std::memcmp(alone[s].data(), fused[s].data(), alone[s].size() * sizeof(float)))
            << "sequence " << s << " differs when fused";
    }
}

SessionOptions opts(const std::string& decoding, float temperature, uint64_t seed) {
    SessionOptions o;
    o.model = shared("hsd-target");
    o.n_ctx = 512;
    o.sampling.temperature = temperature;
    o.sampling.seed = seed;
    if (decoding == "hispec")
        o.decoding.hispec = true;
    else if (decoding.rfind("draft:", 0) == 0)
        o.decoding.draft = shared(decoding.substr(6));
    else if (!decoding.empty())
        o.decoding.hierarchy = decoding;
    return o;
}

struct Job {
    SessionOptions o;
    std::string prompt;
    int n;
};

std::vector<TokenId> run(Engine& e, const Job& j) {
    Session s(e, j.o);
    return s.generate(j.prompt, j.n, true).tokens;
}

// Sessions of every mode stepped on their own threads through one batcher (small chunks, so
// prompts are split across rounds) produce exactly the tokens they produce alone, greedy and
// seeded sampling; and their passes really were fused.
TEST(Batching, ConcurrentSessionsEqualSessionsAlone) {
    Engine e({.threads = 2});
    const std::string m0 = shared("hsd-m0"), m1 = shared("hsd-m1");
    std::vector<Job> jobs = {
        {opts("", 0, 0), "def fibonacci(n):\n    ", 24},
        {opts("", 0, 0), "The quick brown fox jumps over the lazy dog. The quick brown", 16},
        {opts("draft:hsd-m1", 0, 0), "import numpy as np\n\ndef mean(xs):\n", 24},
        {opts(m0 + ":3," + m1 + ":6", 0, 0), "for i in range(10):\n    print(i)\nfor j in range(", 24},
        {opts("hispec", 0, 0), "class Stack:\n    def __init__(self):\n", 20},
        {opts("ngram3:3", 0, 0), "a b c a b c a b c a b", 16},
        {opts("", 0.8f, 7), "Once upon a time", 20},
        {opts("draft:hsd-m0", 0.8f, 9), "def add(a, b):", 20},
    };
    std::vector<std::vector<TokenId>> expected;
    for (const Job& j : jobs) expected.push_back(run(e, j));

    ForwardBatcher batcher(e.compute_mutex(), 5);
    std::vector<std::vector<TokenId>> got(jobs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < jobs.size(); ++i)
        threads.emplace_back([&, i] {
            ForwardBatcher::Participant p(batcher);
            got[i] = run(e, jobs[i]);
        });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "job " << i << " (" << jobs[i].prompt << ")";
    const BatcherStats st = batcher.stats();
    EXPECT_GT(st.segments, st.passes) << "no pass held more than one sequence";
}

// A participant whose request fails (here: a prompt longer than its context) gets the error;
// the others go on.
TEST(Batching, ErrorsStayWithTheirSession) {
    Engine e({.threads = 1});
    ForwardBatcher batcher(e.compute_mutex(), 8);
    std::vector<TokenId> ok, expected = run(e, {opts("", 0, 0), "hello world", 12});
    std::string error;
    std::thread t1([&] {
        ForwardBatcher::Participant p(batcher);
        ok = run(e, {opts("", 0, 0), "hello world", 12});
    });
    std::thread t2([&] {
        ForwardBatcher::Participant p(batcher);
        try {
            SessionOptions o = opts("", 0, 0);
            o.n_ctx = 8;
            run(e, {o, "this prompt is certainly longer than eight tokens of context", 4});
        } catch (const Error& x) {
            error = x.what();
        }
    });
    t1.join();
    t2.join();
    EXPECT_EQ(ok, expected);
    EXPECT_NE(error.find("context"), std::string::npos) << error;
}

}  // namespace
}  // namespace hsd

namespace hsd {
namespace {

// Sequences whose prompts take different numbers of rounds must still end up in the same
// passes once they decode (pick_round runs head passes first): otherwise half of them would sit
// in their layers while the others are in their head, and every round would pay for a layer
// pass of half the rows.
TEST(Batching, SequencesThatStartOutOfPhaseShareTheirPasses) {
    Engine e({.threads = 1});
    const Tokenizer& tok = e.model(shared("hsd-target")).tokenizer();
    ForwardBatcher batcher(e.compute_mutex(), 4);
    const std::vector<std::string> prompts = {"a", "def f(x): return x", "import os\nimport sys\nimport re",
                                              "class A:\n    def __init__(self):\n        self.x = 1"};
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<ForwardBatcher::Participant>> joined;
    std::atomic<int> ready{0};
    std::mutex start_m;
    start_m.lock();  // every thread takes part before any computes
    for (size_t i = 0; i < prompts.size(); ++i)
        threads.emplace_back([&, i] {
            ForwardBatcher::Participant p(batcher);
            ++ready;
            { std::lock_guard<std::mutex> go(start_m); }
            Session s(e, opts("", 0, 0));
            s.start(tok.encode(prompts[i], true), 48, true);
            while (!s.done()) s.step();
        });
    while (ready < (int)prompts.size()) std::this_thread::yield();
    start_m.unlock();
    for (auto& t : threads) t.join();
    const BatcherStats st = batcher.stats();
    // 4 sequences x 48 steps x (layers + head) passes if fully fused: 96 passes of 4 segments.
    EXPECT_GT((double)st.segments / (double)st.passes, 3.0) << st.segments << " segments in " << st.passes << " passes";
}

}  // namespace
}  // namespace hsd
