// `hsd serve` in-process over loopback (cpp-httplib's client): greedy outputs under
// concurrency equal a Session's alone in every decoding mode, seeded sampling is unaffected
// by other requests, a full queue answers 503 with Retry-After, a client that goes away
// mid-stream frees its slot, and stop() ends in-flight work within its grace period.
// (The OpenAI Node.js client, curl and the load test drive the real binary: tests/server/.)
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/http_server.h"
#include "server/sse.h"

namespace hsd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string shared(const std::string& name) { return std::string(HSD_SHARED_DIR) + "/models/" + name + ".gguf"; }

// A server on a free loopback port, loaded and listening until destroyed.
struct LiveServer {
    Engine engine{{.threads = 2}};
    std::unique_ptr<server::Server> srv;
    std::thread thread;
    int port = 0;
    explicit LiveServer(server::ServerOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        srv = std::make_unique<server::Server>(engine, o);
        port = srv->bind();
        thread = std::thread([this] { srv->listen(); });
        try {
            srv->load();
        } catch (...) {
            srv->stop();
            thread.join();
            throw;
        }
    }
    ~LiveServer() {
        srv->stop();
        thread.join();
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(120, 0);
        return c;
    }
    json post(const std::string& path, const json& body, int expect = 200) const {
        auto res = client().Post(path.c_str(), body.dump(), "application/json");
        EXPECT_TRUE(res) << path;
        if (!res) return {};
        EXPECT_EQ(res->status, expect) << res->body;
        return json::parse(res->body);
    }
    json slots() const {
        auto res = client().Get("/slots");
        return res ? json::parse(res->body) : json();
    }
    bool all_idle() const {
        for (const json& s : slots())
            if (s["is_processing"].get<bool>()) return false;
        return true;
    }
};

server::ServerOptions base_options(int slots) {
    server::ServerOptions o;
    o.model = shared("hsd-target");
    o.n_slots = slots;
    o.n_ctx = 512;
    o.chunk_tokens = 16;  // prompts are split across rounds
    o.drafts = {shared("hsd-m0"), shared("hsd-m1")};  // models requests may name
    return o;
}

std::vector<TokenId> alone(Engine& e, const std::string& prompt, int n, const DecodingRequest& d, float temp,
                           uint64_t seed) {
    SessionOptions o;
    o.model = shared("hsd-target");
    o.n_ctx = 512;
    o.sampling.temperature = temp;
    o.sampling.seed = seed;
    o.decoding = d;
    Session s(e, o);
    return s.generate(prompt, n, true).tokens;
}

struct Case {
    std::string prompt;
    int n;
    json speculative;     // the request's choice
    DecodingRequest cli;  // the same levels for a Session alone
    float temp = 0;
    uint64_t seed = 0;
};

TEST(Server, ConcurrentRequestsEqualSessionsAloneInEveryMode) {
    LiveServer s(base_options(4));
    DecodingRequest ar, hier, draft, hispec, ngram;
    hier.hierarchy = shared("hsd-m0") + ":3," + shared("hsd-m1") + ":6";
    draft.hierarchy = shared("hsd-m1") + ":5";
    hispec.hispec = true;
    ngram.hierarchy = "ngram3:3";
    std::vector<Case> cases = {
        {"def fibonacci(n):\n", 40, "off", ar},
        {"import os\nimport sys\n\ndef main():\n", 32, "hsd-m0:3,hsd-m1:6", hier},
        {"class Node:\n    def __init__(self, value):\n", 36, "hsd-m1:5", draft},
        {"for i in range(10):\n    print(i)\nfor i in range(", 30, "hispec", hispec},
        {"a = [1, 2, 3]\nb = [1, 2, 3]\nc = [1, 2,", 24, "ngram3:3", ngram},
        {"The history of the city", 28, "off", ar, 0.8f, 1234},
        {"def is_prime(n):", 28, "hsd-m1:5", draft, 0.8f, 99},
        {"# Sort a list\ndef sort(xs):", 30, "hsd-m0:3,hsd-m1:6", hier},
        // The planner over the server's drafts, re-planning while it generates: greedy text is
        // the target's own.
        {"def main():\n    args = parse()\n", 40, "auto", ar},
        {"x = 1\ny = 2\nx = 1\ny = 2\nx = ", 24, "auto", ar},
    };
    std::vector<std::string> got(cases.size());
    std::vector<std::thread> clients;
    for (size_t i = 0; i < cases.size(); ++i)
        clients.emplace_back([&, i] {
            const Case& c = cases[i];
            json body = {{"prompt", c.prompt}, {"max_tokens", c.n}, {"temperature", c.temp}, {"seed", c.seed},
                         {"ignore_eos", true}, {"speculative", c.speculative}};
            if (i % 2 == 1) {  // half of them streamed
                body["stream"] = true;
                auto res = s.client().Post("/v1/completions", body.dump(), "application/json");
                ASSERT_TRUE(res);
                ASSERT_EQ(res->status, 200) << res->body;
                for (const std::string& d : server::parse_sse_data(res->body))
                    if (d != "[DONE]") got[i] += json::parse(d)["choices"][0]["text"].get<std::string>();
            } else {
                got[i] = s.post("/v1/completions", body)["choices"][0]["text"].get<std::string>();
            }
        });
    for (auto& t : clients) t.join();
    const Tokenizer& tok = s.engine.model(shared("hsd-target")).tokenizer();
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        EXPECT_EQ(got[i], tok.decode(alone(s.engine, c.prompt, c.n, c.cli, c.temp, c.seed)))
            << "request " << i << " (" << c.speculative << ")";
    }
    EXPECT_TRUE(s.all_idle());
}

TEST(Server, FullQueueAnswers503WithRetryAfter) {
    server::ServerOptions o = base_options(1);
    o.queue_max = 0;
    LiveServer s(o);
    // Occupy the only slot with a long streamed request.
    std::thread busy([&] {
        json body = {{"prompt", "x"}, {"max_tokens", 400}, {"ignore_eos", true}, {"stream", true}, {"temperature", 0}};
        s.client().Post("/v1/completions", httplib::Headers{}, body.dump(), "application/json");
    });
    for (int i = 0; i < 200 && s.all_idle(); ++i) std::this_thread::sleep_for(10ms);
    auto res = s.client().Post("/v1/completions", json({{"prompt", "y"}, {"max_tokens", 4}}).dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_EQ(res->get_header_value("Retry-After"), "1");
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "queue_full");
    busy.join();
}

TEST(Server, ClientGoneMidStreamFreesItsSlot) {
    LiveServer s(base_options(1));
    int chunks = 0;
    httplib::Client c = s.client();
    json body = {{"prompt", "def f():"}, {"max_tokens", 480}, {"ignore_eos", true}, {"stream", true}};
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };  // hang up
    c.send(req);
    EXPECT_GE(chunks, 3);
    bool idle = false;
    for (int i = 0; i < 500 && !(idle = s.all_idle()); ++i) std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(idle) << s.slots().dump();
    // ...and the next request is served normally.
    EXPECT_EQ(s.post("/v1/completions", {{"prompt", "hi"}, {"max_tokens", 3}})["usage"]["completion_tokens"], 3);
}

TEST(Server, StopEndsInFlightRequestsWithinTheGrace) {
    server::ServerOptions o = base_options(2);
    o.shutdown_grace_ms = 200;
    LiveServer s(o);
    std::thread client([&] {
        json body = {{"prompt", "x"}, {"max_tokens", 500}, {"ignore_eos", true}, {"temperature", 0}};
        auto res = s.client().Post("/v1/completions", body.dump(), "application/json");
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(json::parse(res->body)["choices"][0]["finish_reason"], "abort");
    });
    for (int i = 0; i < 200 && s.all_idle(); ++i) std::this_thread::sleep_for(10ms);
    const auto t0 = std::chrono::steady_clock::now();
    s.srv->stop();
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    client.join();
    EXPECT_LT(waited, 30.0);  // a bound against hangs, not a speed assertion
    auto res = s.client().Get("/health");
    EXPECT_FALSE(res && res->status == 200);
}

}  // namespace
}  // namespace hsd
