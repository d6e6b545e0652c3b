// The library API (engine/engine.h): models loaded once per process and shared by sessions,
// sessions that own their state (so interleaving or running them on several threads changes
// no token), the decoding request's checks, and internal errors kept apart from user errors.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engine/engine.h"
#include "spec_support.h"
#include "speculative/hierarchy.h"
#include "test_support.h"

namespace hsd {
namespace {

// The tiny family (spec_support.h): the target has an early exit after layer 1; d1 is the draft.
using test::TinyFamily;

SessionOptions options(const std::string& model, float temperature, const std::string& hierarchy = "") {
    SessionOptions o;
    o.model = model;
    o.sampling.temperature = temperature;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.min_p = 0.0f;
    o.sampling.seed = 5;
    o.decoding.hierarchy = hierarchy;
    return o;
}

const std::vector<TokenId> kPrompt = {1, 3, 4, 5, 3, 4};

std::vector<TokenId> run_alone(Engine& e, const SessionOptions& o, int n) {
    Session s(e, o);
    s.start(kPrompt, n, true);
    while (!s.done()) s.step();
    return s.result().tokens;
}

TEST(Engine, LoadsEachModelOnceForAllSessions) {
    TinyFamily f;
    Engine e({.threads = 1});
    const int64_t before = Model::load_count();
    Session a(e, options(f.target_path, 0, f.d1_path + ":3"));
    Session b(e, options(f.target_path, 0, "ngram2:2," + f.d1_path + ":3"));
    Session c(e, options(f.target_path, 0));
    EXPECT_EQ(Model::load_count() - before, 2);  // the target and the draft, once each
    EXPECT_EQ(e.models().loads(), 2);
    EXPECT_EQ(&a.target(), &b.target());
    EXPECT_EQ(&a.target(), &c.target());
}

TEST(Engine, AutoHierarchyLoadsEachModelOnce) {
    TinyFamily f;
    Engine e({.threads = 1});
    SessionOptions o = options(f.target_path, 0, "auto");
    o.decoding.auto_drafts = {f.d1_path};
    const size_t before = e.models().loads();
    Session s(e, o);
    s.start(kPrompt, 12, true);
    while (!s.done()) s.step();
    // The cost measurement (on a cold cache) and the hierarchy use the same loaded models: each
    // file at most once (on a warm cache a draft the planner never chose is not loaded at all).
    EXPECT_LE(e.models().loads() - before, 2u);
    ASSERT_TRUE(s.plan().has_value());
    EXPECT_TRUE(s.plan()->file.empty());
    EXPECT_FALSE(s.plan()->history.empty());
    // Whatever was chosen, greedy output is the target's own.
    EXPECT_EQ(s.result().tokens, run_alone(e, options(f.target_path, 0), 12));
    // A second session finds the costs the first one cached.
    Session again(e, o);
    again.start(kPrompt, 4, true);
    while (!again.done()) again.step();
    EXPECT_EQ(again.plan()->cost_cache, "hit");
    EXPECT_LE(e.models().loads() - before, 2u);
}

TEST(Engine, InterleavedSessionsMatchSessionsRunAlone) {
    TinyFamily f;
    Engine e({.threads = 1});
    for (float temp : {0.0f, 1.0f}) {
        const std::vector<SessionOptions> opts = {options(f.target_path, temp),
                                                  options(f.target_path, temp, f.d1_path + ":3"),
                                                  options(f.target_path, temp, "ngram2:2,@1:2"),
                                                  options(f.target_path, temp, f.d1_path + ":2,@1:4")};
        std::vector<std::vector<TokenId>> alone;
        for (const SessionOptions& o : opts) alone.push_back(run_alone(e, o, 40));
        // One step of each session in turn, as a batching scheduler does.
        std::vector<std::unique_ptr<Session>> sessions;
        for (const SessionOptions& o : opts) {
            sessions.push_back(std::make_unique<Session>(e, o));
            sessions.back()->start(kPrompt, 40, true);
        }
        for (bool any = true; any;) {
            any = false;
            for (auto& s : sessions)
                if (!s->done()) {
                    s->step();
                    any = true;
                }
        }
        for (size_t i = 0; i < sessions.size(); ++i) {
            EXPECT_EQ(sessions[i]->result().tokens, alone[i]) << "temp " << temp << " session " << i;
            EXPECT_EQ(sessions[i]->result().tokens.size(), 40u);
            if (temp == 0) {
                EXPECT_EQ(alone[i], alone[0]) << "greedy speculation is exact, session " << i;
            }
        }
    }
}

TEST(Engine, SessionsOnSeveralThreadsMatchSessionsRunAlone) {
    TinyFamily f;
    Engine e({.threads = 2});
    const std::vector<SessionOptions> opts = {options(f.target_path, 1.0f, f.d1_path + ":3"),
                                              options(f.target_path, 1.0f),
                                              options(f.target_path, 0.0f, "ngram2:2,@1:2")};
    std::vector<std::vector<TokenId>> alone, threaded(opts.size());
    for (const SessionOptions& o : opts) alone.push_back(run_alone(e, o, 48));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < opts.size(); ++i)
        threads.emplace_back([&, i] { threaded[i] = run_alone(e, opts[i], 48); });
    for (std::thread& t : threads) t.join();
    for (size_t i = 0; i < opts.size(); ++i) EXPECT_EQ(threaded[i], alone[i]) << "session " << i;
}

TEST(Engine, RestartingASessionStartsOver) {
    // A server reuses sessions: a new start() abandons the generation in flight, and the
    // restarted one replays the same seeded stream from a clean state.
    TinyFamily f;
    Engine e({.threads = 1});
    for (const std::string& h : {std::string(), f.d1_path + ":3", std::string("ngram2:2,@1:2")}) {
        const SessionOptions o = options(f.target_path, 1.0f, h);
        const std::vector<TokenId> alone = run_alone(e, o, 30);
        Session s(e, o);
        s.start(kPrompt, 30, true);
        for (int i = 0; i < 3 && !s.done(); ++i) s.step();
        s.start({1, 5, 4}, 30, true);  // another prompt, abandoned half-way
        for (int i = 0; i < 2 && !s.done(); ++i) s.step();
        s.start(kPrompt, 30, true);
        while (!s.done()) s.step();
        EXPECT_EQ(s.result().tokens, alone) << "hierarchy '" << h << "'";
    }
}

TEST(Engine, SessionReportsItsHierarchy) {
    TinyFamily f;
    Engine e({.threads = 1});
    Session s(e, options(f.target_path, 0, "ngram2:2," + f.d1_path + ":3"));
    EXPECT_EQ(s.hierarchy_text(), "ngram2:2," + f.d1_path + ":3");
    const SessionResult r = s.generate("abc", 10, true);
    EXPECT_EQ(r.hierarchy, s.hierarchy_text());
    ASSERT_EQ(r.levels.size(), 3u);  // n-gram, draft, target
    EXPECT_EQ(r.tokens.size(), 10u);
    Session ar(e, options(f.target_path, 0));
    EXPECT_EQ(ar.hierarchy_text(), "");
    EXPECT_TRUE(ar.generate("abc", 10, true).levels.empty());
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no hsd::Error)";
}

TEST(Engine, BadRequestsNameTheProblem) {
    TinyFamily f;
    Engine e({.threads = 1});
    auto with = [&](const std::function<void(SessionOptions&)>& change) {
        SessionOptions o = options(f.target_path, 0);
        change(o);
        return error_of([&] { Session s(e, o); });
    };
    EXPECT_NE(with([&](SessionOptions& o) {
                  o.decoding.draft = f.d1_path;
                  o.decoding.hispec = true;
              }).find("give only one of --draft, --hierarchy, --hispec, --self-spec and --plan"),
              std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.decoding.draft_max = 0; }).find("--draft-max must be >= 1, got 0"),
              std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.decoding.hs.draft_n = -1; }).find("--draft-n must be >= 0"),
              std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.decoding.auto_drafts = {"x.gguf"}; }).find("--hierarchy auto"),
              std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.n_ctx = 65; }).find("up to 64 tokens"), std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.decoding.hierarchy = "/nonexistent.gguf:3"; }).find("/nonexistent.gguf"),
              std::string::npos);
    EXPECT_NE(with([](SessionOptions& o) { o.model = "/nonexistent-target.gguf"; }).find("/nonexistent-target.gguf"),
              std::string::npos);
    Session s(e, options(f.target_path, 0));
    EXPECT_NE(error_of([&] { s.step(); }).find("start()"), std::string::npos);
    EXPECT_NE(error_of([&] { s.start({}, 4, true); }).find("the prompt is empty"), std::string::npos);
    EXPECT_NE(error_of([&] { s.start(std::vector<TokenId>(64, 3), 4, true); }).find("context size is 64"),
              std::string::npos);
}

TEST(Engine, BugsAreInternalErrorsNotUserErrors) {
    TinyFamily f;
    Engine e({.threads = 1});
    const Model& target = e.model(f.target_path);
    // A model level whose file was never loaded is a caller's bug, not the user's input.
    EXPECT_THROW(Hierarchy(target, {LevelSpec::draft_file(f.d1_path, 3)}, e.pool()), InternalError);
    std::vector<LevelSpec> levels = {LevelSpec::draft_file(f.d1_path, 3)};
    resolve_models(levels, e.models());
    EXPECT_NO_THROW(Hierarchy(target, levels, e.pool()));
}

}  // namespace
}  // namespace hsd
