#pragma once
// Continuous batching across sequences: several threads, each driving one sequence (a server
// slot running its Session: autoregressive, a hierarchy, HiSpec...), submit their forward work
// here instead of computing it. When every taking-part thread is waiting on a submission, one
// of them runs a *round*: all pending work on the same model and layer range becomes one fused
// pass (Context::run_layers_fused / head_fused: weights read once for all sequences), then the
// threads go on. So the slots' decode steps share one target pass, their drafts at a level share
// one pass of that level's model, their verifications one target pass, whatever mode each uses,
// without the executors knowing about each other.
//
// A submission longer than `chunk_tokens` rows (a prompt) is processed chunk by chunk, one
// chunk per round, so a long prompt does not stall the other sequences' steps. Running a
// sequence's rows in chunks, or fused with other sequences, gives bit-identical results:
// every kernel is batch-invariant (tested).
//
// A thread takes part while a Participant object lives on it; its Context::run_layers and
// Context::head calls then come here. A participant must not block on anything but its
// submissions (e.g. a network write) while it takes part, or the others wait for it.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

namespace hsd {

class Context;

struct BatcherStats {
    int64_t rounds = 0;        // rounds run
    int64_t passes = 0;        // fused passes (one per model and layer range per round)
    int64_t segments = 0;      // sequence segments in them
    int64_t rows = 0;          // rows (token positions) computed
    double seconds = 0;        // time spent running rounds
};

class ForwardBatcher {
public:
    // compute: held while a round runs (the engine's compute mutex: one forward at a time).
    ForwardBatcher(std::mutex& compute, int64_t chunk_tokens = 64);
    ForwardBatcher(const ForwardBatcher&) = delete;
    ForwardBatcher& operator=(const ForwardBatcher&) = delete;

    // The calling thread takes part while this object lives.
    class Participant {
    public:
        explicit Participant(ForwardBatcher& b);
        ~Participant();
        Participant(const Participant&) = delete;
        Participant& operator=(const Participant&) = delete;

    private:
        ForwardBatcher& b_;
    };

    // The batcher the calling thread takes part in, or nullptr.
    static ForwardBatcher* current();

    // Blocking submissions (Context calls these after its own checks). Exceptions raised by
    // the computation are rethrown here.
    void run_layers(Context& ctx, int a, int b, float* h, int64_t n, int64_t pos0);
    void head(Context& ctx, const float* h, int64_t n, float* logits);

    int64_t chunk_tokens() const { return chunk_; }
    BatcherStats stats() const;

private:
    struct Job {
        bool layers = true;  // run_layers (else head)
        Context* ctx = nullptr;
        int a = 0, b = 0;
        float* h = nullptr;          // layers: rows updated in place
        const float* hc = nullptr;   // head: rows read
        float* logits = nullptr;
        int64_t n = 0, pos0 = 0;
        int64_t done = 0;  // rows processed
        bool deferred = false;  // waited one round for a head pass to finish (pick_round)
        bool finished = false;
        std::exception_ptr error;
    };

    void submit(Job& job);
    void join();
    void leave();
    // Runs rounds while every participant waits and work is pending. Called with lock held.
    void drive(std::unique_lock<std::mutex>& lock);
    std::vector<Job*> pick_round();
    void run_round(std::vector<Job*>& jobs);

    std::mutex& compute_;
    const int64_t chunk_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    int running_ = 0;  // participants not waiting on a submission
    bool executing_ = false;
    std::vector<Job*> pending_;
    BatcherStats stats_;
};

}  // namespace hsd
