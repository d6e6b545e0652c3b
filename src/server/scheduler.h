#pragma once
// The server's engine loop: -np slots, each a thread that runs one request at a time through
// its own Session (autoregressive, a hierarchy, HiSpec, ...: the request's choice). All slot
// threads take part in one ForwardBatcher, so the forward passes of every active slot on the
// same model are fused into one pass (continuous batching, model/forward_batcher.h); a request
// joins and leaves between its own steps, and a long prompt is processed in chunks between the
// other slots' steps. Requests wait in a bounded queue; a full queue is refused (503).
//
// The HTTP side sees a Task: it waits for released text (stop strings held back and cut,
// model/tokenizer bytes turned into whole UTF-8), per-token logprobs, and the final result; it
// can cancel (client gone), which frees the slot at its next step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "model/forward_batcher.h"

namespace hsd::server {

struct TokenLogprob {
    TokenId id = 0;
    std::string bytes;  // the token's raw bytes (may be partial UTF-8)
    float logprob = 0;  // log p(token) under the target's distribution (temperature 1)
    std::vector<std::pair<TokenId, float>> top;  // the n_probs most likely, highest first
};

struct TaskSpec {
    DecodingRequest decoding;      // the levels this request decodes with
    std::string decoding_key;      // equal keys: a slot may reuse its Session
    SamplingParams sampling;
    std::vector<TokenId> prompt;
    int n_predict = 0;             // >= 1
    bool ignore_eos = false;
    std::vector<std::string> stop;  // never emitted; found across token boundaries
    int n_probs = -1;               // >= 0: per-token logprobs with that many alternatives
    // The HTTP side waits for every release (streaming) or only for the end: a waiter woken
    // per token would preempt the batched forward passes for nothing.
    bool stream = false;
};

struct TaskResult {
    std::string finish_reason;  // "stop" (EOS or a stop string), "length" (max tokens or context), "cancelled"
    std::string stopping_word;  // the stop string found, if any
    SessionResult session;      // tokens, timings, per-level counters
    std::string text;           // everything released
    int slot = -1;
    double queued_seconds = 0;
};

class Task {
public:
    explicit Task(TaskSpec spec) : spec_(std::move(spec)) {}
    const TaskSpec& spec() const { return spec_; }

    struct Update {
        std::string text;
        std::vector<TokenLogprob> tokens;
        bool final = false;
    };
    // Waits up to `timeout` for new output, moves it into u (appending). true once the task
    // is finished (then result() or error() holds the outcome).
    bool wait(Update& u, std::chrono::milliseconds timeout);
    const TaskResult& result() const { return result_; }
    // Set when the request failed in the slot (hsd::Error: 400 material; else 500).
    const std::optional<std::pair<int, std::string>>& error() const { return error_; }
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }

    // --- slot side
    void emit(std::string text, std::vector<TokenLogprob> tokens);
    void finish(TaskResult r);
    void fail(int status, std::string message);
    std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();

private:
    TaskSpec spec_;
    std::mutex m_;
    std::condition_variable cv_;
    std::string text_;
    std::vector<TokenLogprob> tokens_;
    bool finished_ = false;
    TaskResult result_;
    std::optional<std::pair<int, std::string>> error_;
    std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
    std::string model;          // the target
    int n_slots = 1;
    int64_t n_ctx = 0;          // per slot (0: the model's)
    int queue_max = 64;         // requests waiting for a slot before 503
    int64_t chunk_tokens = 64;  // rows of one sequence per fused pass (prompt chunking)
};

class QueueFull : public std::runtime_error {
public:
    QueueFull() : std::runtime_error("the request queue is full; retry later") {}
};

// Counters since start (what /metrics exports).
struct SchedulerMetrics {
    int64_t prompt_tokens = 0, generated_tokens = 0, requests_finished = 0, requests_failed = 0,
            requests_cancelled = 0, steps = 0;
    double prompt_seconds = 0, generation_seconds = 0;
    int processing = 0, waiting = 0;
    // Speculative: the target's verification of the level below it.
    int64_t spec_drafts = 0, spec_draft_tokens = 0, spec_accepted_tokens = 0;
    int64_t spec_accepted_per_pos[LevelStats::kPositions] = {};
    // Per level, keyed by level name (file, file@k, ngram(N)), target included.
    std::map<std::string, LevelStats> levels;
    BatcherStats batcher;
};

struct SlotInfo {
    int id = 0;
    bool busy = false;
    int64_t n_prompt = 0, n_decoded = 0, n_ctx = 0;
    std::string hierarchy;  // of the current (or last) request
};

class Scheduler {
public:
    Scheduler(Engine& engine, SchedulerOptions options);
    ~Scheduler();  // cancels what is left and joins the slots

    const SchedulerOptions& options() const { return o_; }
    int64_t n_ctx() const { return n_ctx_; }

    // Queues a request. Throws QueueFull, or hsd::Error once shutting down.
    std::shared_ptr<Task> submit(TaskSpec spec);
    // Stops accepting, lets running and queued requests finish for up to `grace`, then
    // cancels them; returns when every slot is idle and its thread has ended.
    void shutdown(std::chrono::milliseconds grace);

    std::vector<SlotInfo> slots() const;
    SchedulerMetrics metrics() const;

private:
    struct Slot {
        int id = 0;
        std::thread thread;
        std::unique_ptr<Session> session;
        std::string session_key;
        SlotInfo info;
    };
    void slot_loop(Slot& slot);
    void run_task(Slot& slot, Task& task);
    Session& session_for(Slot& slot, const TaskSpec& spec);
    void record(const TaskResult& r);

    Engine& engine_;
    SchedulerOptions o_;
    int64_t n_ctx_ = 0;
    ForwardBatcher batcher_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<Task>> queue_;
    bool stopping_ = false, joined_ = false;
    std::atomic<bool> cancel_all_{false};  // shutdown: running requests stop at their next step
    std::vector<std::unique_ptr<Slot>> slots_;
    SchedulerMetrics metrics_;
};

// log-softmax of logits[n]: the logprob of `id` and the `top` most likely (highest first,
// ties by lower id).
TokenLogprob token_logprob(const Tokenizer& tok, const float* logits, int n, TokenId id, int top);

}  // namespace hsd::server
