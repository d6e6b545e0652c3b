#pragma once
// The library's public face: what the CLI, the benchmarks and a server include.
//
//   Engine engine({.threads = 8});                 // models and the thread pool, once per process
//   SessionOptions o;  o.model = "target.gguf";  o.decoding.hierarchy = "d0.gguf:3,d1.gguf:6";
//   Session s(engine, o);                          // one request: its KV caches, levels, sampler
//   s.start(s.tokenize("def fib(n):"), 128, false);
//   while (!s.done()) for (TokenId t : s.step()) ...;   // or s.generate(text, 128, false, on_token)
//
// An Engine loads every model file once and shares it read-only (weights, tokenizer, packed
// panels) by all sessions. A Session owns everything that changes while it generates: KV
// caches, the hierarchy's state, its sampler and counters, so several sessions run in one
// process. Sessions on one engine share its thread pool: their steps are serialized by the
// engine (a step is one forward pass of each level involved), so sessions may be stepped from
// several threads, or interleaved on one as a batching scheduler does.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "decoding/generate.h"
#include "engine/decoding_request.h"
#include "kernels/thread_pool.h"
#include "model/model_cache.h"
#include "sampling/sampler.h"

namespace hsd {

namespace planner {
class AutoDecoder;
}  // namespace planner

struct EngineOptions {
    int threads = 0;  // 0: all cores
};

class Engine {
public:
    explicit Engine(const EngineOptions& options = {});

    // The model of a file, loaded on first use. Throws hsd::Error naming the file.
    const Model& model(const std::string& path) { return models_.get(path); }
    ModelCache& models() { return models_; }
    ThreadPool& pool() { return pool_; }
    int threads() const { return pool_.size(); }
    // Held for every use of pool(): one forward pass at a time (ThreadPool is not re-entrant).
    std::mutex& compute_mutex() { return compute_; }
    // What a session step holds: the compute mutex, or nothing on a thread that takes part in
    // a ForwardBatcher (model/forward_batcher.h), whose rounds hold it themselves.
    std::unique_lock<std::mutex> lock_compute();

private:
    ModelCache models_;
    ThreadPool pool_;
    std::mutex compute_;
};

struct SessionOptions {
    std::string model;         // target GGUF file
    int64_t n_ctx = 0;         // positions of every KV cache; 0: the target's training context
    SamplingParams sampling;   // seed included: every start() replays the same random stream
    DecodingRequest decoding;  // autoregressive unless it asks for speculation
    // --hierarchy auto: called with every plan put in force (the first one, then each switch),
    // as the JSON of PlanSummary::history's entries.
    std::function<void(const nlohmann::json&)> on_plan_event;
};

struct SessionResult : SpeculativeResult {
    std::string hierarchy;            // the levels in --hierarchy syntax ("" autoregressive)
    std::optional<PlanSummary> plan;  // when a planner chose them
};

class Session {
public:
    // Loads the target and draft models through the engine, checks the options and builds
    // the levels (an auto hierarchy is planned by start(), on its prompt). Throws hsd::Error.
    Session(Engine& engine, SessionOptions options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const Model& target() const { return target_; }
    const Tokenizer& tokenizer() const;
    const SessionOptions& options() const { return o_; }
    int threads() const { return engine_.threads(); }
    // Text -> ids, with BOS when the model wants it.
    std::vector<TokenId> tokenize(const std::string& text) const;

    // Starts a generation of up to n_predict tokens (a new start abandons the previous one).
    // --hierarchy auto: the first start() looks up (or measures) the candidates' costs; what
    // it learns about acceptance carries over to later starts of the session. Throws
    // hsd::Error if the prompt does not fit.
    void start(const std::vector<TokenId>& prompt, int n_predict, bool ignore_eos);
    bool done() const;
    // One step (done() false): the tokens committed, EOS excluded.
    const std::vector<TokenId>& step();
    // The generation so far; complete once done().
    SessionResult result() const;
    // Ends the generation before its limits (stop string found, request cancelled); result()
    // is then complete, with stop_reason `reason`.
    void end(const char* reason);
    // start() and step() to the end; on_token sees every token as it is committed.
    SessionResult generate(const std::string& prompt, int n_predict, bool ignore_eos,
                           const std::function<void(TokenId)>& on_token = {});

    // Sampling settings for the next start() (a server reuses a session across requests that
    // differ only in them). Throws hsd::Error for out-of-range values.
    void set_sampling(const SamplingParams& sampling);
    // Autoregressive sessions: the target's logits [n_vocab] from which the token just
    // returned by step() was drawn (valid until the next step); nullptr when speculative.
    const float* last_logits() const;

    bool speculative() const { return o_.decoding.speculative(); }
    // The current levels in --hierarchy syntax ("" autoregressive, or auto before start()).
    std::string hierarchy_text() const;
    // The plan file's summary, or --hierarchy auto's plans so far (empty before start()).
    std::optional<PlanSummary> plan() const;

private:
    void build();
    void build_auto(const std::vector<TokenId>& prompt);
    void generation_ended();

    Engine& engine_;
    SessionOptions o_;
    const Model& target_;
    int64_t n_ctx_ = 0;
    DecodingSetup setup_;
    std::unique_ptr<Hierarchy> hierarchy_;
    std::unique_ptr<Context> ctx_;
    std::unique_ptr<Decoder> decoder_;
    std::unique_ptr<Sampler> sampler_;
    std::unique_ptr<Generation> gen_;
    std::unique_ptr<planner::AutoDecoder> auto_;  // --hierarchy auto, from the first start() on
    bool remembered_ = false;                     // auto: this generation's acceptance is saved
};

}  // namespace hsd
