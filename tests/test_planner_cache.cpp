// The planner's cache: where it lives, what makes an entry stale, atomic writes under
// concurrent writers, corrupt entries ignored with one warning, and the forward costs of
// --hierarchy auto measured once and then reused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "planner/cache_store.h"
#include "planner/cost_cache.h"
#include "test_support.h"

namespace hsd::planner {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("hsd-cache-test-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(counter()++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    static int& counter() {
        static int c = 0;
        return c;
    }
};

struct Warnings {
    std::vector<std::string> all;
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& m) { all.push_back(m); };
    }
};

TEST(PlannerCache, DirectoryFollowsXdgThenHome) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    const std::string saved_xdg = xdg ? xdg : "", saved_home = home ? home : "";
    setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
    EXPECT_EQ(cache_directory(), "/tmp/xdg-test/hsd");
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);  // the XDG spec: only absolute paths count
    setenv("HOME", "/home/someone", 1);
    EXPECT_EQ(cache_directory(), "/home/someone/.cache/hsd");
    unsetenv("XDG_CACHE_HOME");
    EXPECT_EQ(cache_directory(), "/home/someone/.cache/hsd");
    unsetenv("HOME");
    EXPECT_EQ(cache_directory(), "");  // no cache at all, not a crash
    if (xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
    if (home) setenv("HOME", saved_home.c_str(), 1);
}

TEST(PlannerCache, StoreLoadRoundTripAndStaleKey) {
    TempDir d;
    Warnings w;
    CacheStore store(d.path.string(), w.sink());
    const json key = {{"file", "a"}, {"threads", 2}};
    EXPECT_FALSE(store.load("costs", key).has_value());  // absent: a miss, no warning
    store.store("costs", key, {{"x", 1.5}});
    ASSERT_TRUE(store.load("costs", key).has_value());
    EXPECT_EQ((*store.load("costs", key))["x"], 1.5);
    EXPECT_TRUE(w.all.empty());
    // Another key is another file; a file whose stored key differs from the one asked for
    // (here: rewritten by hand) is stale.
    const json other = {{"file", "a"}, {"threads", 4}};
    EXPECT_NE(store.entry_path("costs", key), store.entry_path("costs", other));
    std::ofstream(store.entry_path("costs", other)) << json{{"key", key}, {"value", {{"x", 2}}}}.dump();
    EXPECT_FALSE(store.load("costs", other).has_value());
    ASSERT_EQ(w.all.size(), 1u);
    EXPECT_NE(w.all[0].find("stale"), std::string::npos) << w.all[0];
    EXPECT_NE(w.all[0].find(store.entry_path("costs", other)), std::string::npos) << w.all[0];
}

TEST(PlannerCache, CorruptEntriesAreIgnoredWithOneWarning) {
    TempDir d;
    Warnings w;
    CacheStore store(d.path.string(), w.sink());
    const json key = {{"k", 1}};
    for (const std::string& text : {std::string("{\"key\": {\"k\": 1}, \"val"), std::string("[1, 2]"),
                                    std::string("{\"key\": {\"k\": 1}}"), std::string("\x00\xff garbage", 10)}) {
        std::ofstream(store.entry_path("costs", key), std::ios::binary) << text;
        w.all.clear();
        EXPECT_FALSE(store.load("costs", key).has_value()) << text;
        EXPECT_EQ(w.all.size(), 1u) << text;
    }
    // Rewriting repairs it.
    store.store("costs", key, 7);
    EXPECT_EQ(*store.load("costs", key), 7);
}

TEST(PlannerCache, WritesAreAtomicUnderConcurrentWriters) {
    TempDir d;
    CacheStore store(d.path.string(), [](const std::string& m) { ADD_FAILURE() << m; });
    const json key = {{"k", "shared"}};
    // Two writers store large, different values; a reader must only ever see one of them whole.
    std::vector<double> a(20000, 1.25), b(20000, 2.5);
    store.store("costs", key, a);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 2; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) store.store("costs", key, t == 0 ? a : b);
        });
    int reads = 0;
    std::thread reader([&] {
        while (!stop) {
            const std::optional<json> v = store.load("costs", key);
            ASSERT_TRUE(v.has_value());
            const std::vector<double> got = v->get<std::vector<double>>();
            ASSERT_TRUE(got == a || got == b);
            ++reads;
        }
    });
    for (auto& t : writers) t.join();
    stop = true;
    reader.join();
    EXPECT_GT(reads, 0);
    // No temporary file is left behind.
    for (const auto& e : fs::directory_iterator(d.path))
        EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(PlannerCache, UnwritableDirectoryIsAWarningNotAnError) {
    Warnings w;
    CacheStore store("/proc/hsd-no-such-dir", w.sink());
    store.store("costs", json{{"k", 1}}, 1);
    EXPECT_FALSE(w.all.empty());
    EXPECT_NE(w.all[0].find("/proc/hsd-no-such-dir"), std::string::npos) << w.all[0];
}

TEST(PlannerCache, FileIdentityChangesWithTheFile) {
    TempDir d;
    const std::string f = (d.path / "m.gguf").string();
    std::ofstream(f) << "one";
    const json a = file_identity(f);
    EXPECT_EQ(file_identity(f), a);
    std::ofstream(f) << "two";  // same size, new content (and mtime)
    EXPECT_NE(file_identity(f), a);
    EXPECT_THROW(file_identity((d.path / "missing.gguf").string()), Error);
}

// The costs of a real early-exit model: measured on a cold cache, reused on a warm one,
// re-measured after corruption or with reprofile, and shaped as the planner needs.
TEST(PlannerCache, CostsAreMeasuredOnceThenReused) {
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    TempDir d;
    Warnings w;
    CacheStore store(d.path.string(), w.sink());
    ThreadPool pool(2);
    ModelCache models;
    const Model& target = models.get(test::shared_path("models/hsd-ee-small.gguf"));
    CostRequest r;
    r.drafts = {test::shared_path("models/hsd-m0.gguf")};
    r.exits = target.config().exit_layers;
    r.ngram = 3;
    r.sampling.temperature = 0;
    r.rows = {1, 2, 4};
    const std::vector<TokenId> prompt = {1, 300, 301, 302, 300, 301};

    const CachedCosts cold = cached_costs(target, models, pool, r, prompt, store);
    EXPECT_EQ(cold.status(), "measured");
    EXPECT_EQ(cold.measured, 2);  // the target (with its exits) and the draft
    const Profile& p = cold.profile;
    EXPECT_EQ(p.candidates.size(), 1 + target.config().exit_layers.size() + 1);
    for (const ProfileCandidate& c : p.candidates) {
        EXPECT_EQ(c.cost_ms.size(), 4u) << c.name;
        EXPECT_GT(c.draft_ms, 0) << c.name;
    }
    for (size_t i = 1; i < p.candidates.size(); ++i) {  // cheapest first, exits in depth order
        if (!(p.candidates[i].level.is_exit() && p.candidates[i - 1].level.is_exit())) {
            EXPECT_LE(p.candidates[i - 1].draft_ms, p.candidates[i].draft_ms);
        }
    }
    ASSERT_EQ(p.target_cost_ms.size(), 4u);
    EXPECT_FALSE(p.exit_pairs.empty());
    EXPECT_NO_THROW(make_problem([&] {
        Profile q = p;
        q.accept.assign(q.candidates.size(), std::vector<double>(q.candidates.size() + 1, 0.5));
        return q;
    }()));

    const CachedCosts warm = cached_costs(target, models, pool, r, prompt, store);
    EXPECT_EQ(warm.status(), "hit");
    EXPECT_EQ(warm.measured, 0);
    EXPECT_EQ(warm.profile.target_cost_ms, p.target_cost_ms);
    EXPECT_TRUE(w.all.empty());

    // Another thread count is another key: a miss, measured again.
    ThreadPool one(1);
    EXPECT_EQ(cached_costs(target, models, one, r, prompt, store).measured, 2);

    // A corrupt entry: one warning, measured and rewritten; the next run hits again.
    const std::string entry = store.entry_path("costs", cost_key(target.path(), true, target.config().exit_layers,
                                                                 r.sampling, pool.size(), 4));
    ASSERT_TRUE(fs::exists(entry));
    std::ofstream(entry) << "{ half a file";
    const CachedCosts repaired = cached_costs(target, models, pool, r, prompt, store);
    EXPECT_EQ(repaired.status(), "partial");
    ASSERT_EQ(w.all.size(), 1u);
    EXPECT_NE(w.all[0].find(entry), std::string::npos);
    EXPECT_EQ(cached_costs(target, models, pool, r, prompt, store).status(), "hit");

    // reprofile measures everything again.
    r.reprofile = true;
    EXPECT_EQ(cached_costs(target, models, pool, r, prompt, store).measured, 2);
}

}  // namespace
}  // namespace hsd::planner
