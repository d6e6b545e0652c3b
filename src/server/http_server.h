#pragma once
// `hsd serve`: OpenAI-compatible endpoints (/v1/models, /v1/completions,
// /v1/chat/completions) and llama.cpp server's native ones (/completion, /tokenize,
// /detokenize, /props, /slots, /health, /metrics) over cpp-httplib, in front of the
// Scheduler (scheduler.h: slots, continuous batching, every decoding mode).
//
// Lifecycle: bind() opens the port at once (GET /health answers 503 while loading), load()
// loads the models and starts the slots, listen() serves until stop(); stop() (SIGINT /
// SIGTERM) refuses new work, lets in-flight requests finish for up to the grace period,
// cancels the rest, and returns from listen().
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/chat_format.h"

namespace httplib {
class Server;
}

namespace hsd::server {

class Scheduler;

struct ServerOptions {
    std::string model;             // target GGUF
    std::string alias;             // the model's name in the API (default: the file's stem)
    DecodingRequest decoding;      // the server's default decoding (its flags)
    std::vector<std::string> drafts;  // --drafts: more models requests may name (and "auto" plans over)
    SamplingParams sampling;       // defaults for fields a request leaves out
    int64_t seed = -1;             // for requests without "seed" (-1: a random seed per request)
    int n_predict = -1;            // default max tokens (-1: until EOS or the context's end)
    int n_slots = 1;
    int64_t n_ctx = 0;             // per slot
    int queue_max = 64;
    int64_t chunk_tokens = 64;
    std::string host = "127.0.0.1";
    int port = 8080;               // 0: any free port (bind() returns it)
    std::string api_key;
    std::string chat_template;     // a format name forcing it (chat_format_names()); "" = detect
    bool metrics = false;
    size_t max_body_bytes = 8 << 20;
    int shutdown_grace_ms = 5000;
    int http_threads = 0;          // 0: n_slots + queue_max + 4, capped
};

class Server {
public:
    Server(Engine& engine, ServerOptions options);
    ~Server();

    // Binds host:port; returns the port. Throws hsd::Error naming the address.
    int bind();
    // Loads the models and starts the slots (health turns 200). Throws hsd::Error.
    void load();
    // Serves until stop() (blocking).
    void listen();
    // Safe from any thread, once.
    void stop();
    bool ready() const { return ready_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> ready_{false};
};

}  // namespace hsd::server
