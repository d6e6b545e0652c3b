#include "model/forward_batcher.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "common/error.h"
#include "model/context.h"

namespace hsd {

namespace {
thread_local ForwardBatcher* t_current = nullptr;
}

ForwardBatcher::ForwardBatcher(std::mutex& compute, int64_t chunk_tokens)
    : compute_(compute), chunk_(chunk_tokens > 0 ? chunk_tokens : 64) {}

ForwardBatcher* ForwardBatcher::current() { return t_current; }

ForwardBatcher::Participant::Participant(ForwardBatcher& b) : b_(b) {
    HSD_ASSERT(t_current == nullptr, "a thread takes part in two forward batchers");
    b_.join();
    t_current = &b_;
}

ForwardBatcher::Participant::~Participant() {
    t_current = nullptr;
    b_.leave();
}

void ForwardBatcher::join() {
    std::lock_guard<std::mutex> lock(m_);
    ++running_;
}

void ForwardBatcher::leave() {
    std::unique_lock<std::mutex> lock(m_);
    --running_;
    drive(lock);  // the others may all be waiting for this thread
}

BatcherStats ForwardBatcher::stats() const {
    std::lock_guard<std::mutex> lock(m_);
    return stats_;
}

void ForwardBatcher::run_layers(Context& ctx, int a, int b, float* h, int64_t n, int64_t pos0) {
    Job job;
    job.ctx = &ctx;
    job.a = a;
    job.b = b;
    job.h = h;
    job.n = n;
    job.pos0 = pos0;
    submit(job);
}

void ForwardBatcher::head(Context& ctx, const float* h, int64_t n, float* logits) {
    Job job;
    job.layers = false;
    job.ctx = &ctx;
    job.hc = h;
    job.logits = logits;
    job.n = n;
    submit(job);
}

void ForwardBatcher::submit(Job& job) {
    if (job.n <= 0) return;
    std::unique_lock<std::mutex> lock(m_);
    pending_.push_back(&job);
    --running_;
    while (!job.finished) {
        drive(lock);
        if (!job.finished) cv_.wait(lock);
    }
    // The round that finished the job counted this thread as running again.
    if (job.error) std::rethrow_exception(job.error);
}

void ForwardBatcher::drive(std::unique_lock<std::mutex>& lock) {
    while (!executing_ && running_ == 0 && !pending_.empty()) {
        executing_ = true;
        std::vector<Job*> jobs = pick_round();
        lock.unlock();
        {
            std::lock_guard<std::mutex> compute(compute_);
            run_round(jobs);
        }
        lock.lock();
        executing_ = false;
        // Completion is published under m_: the jobs' threads read `finished` only with it held.
        int woken = 0;
        std::erase_if(pending_, [&](Job* j) {
            if (j->done == j->n || j->error) j->finished = true;
            if (j->finished) ++woken;
            return j->finished;
        });
        running_ += woken;
        cv_.notify_all();
    }
}

// Heads first: when a head pass (cheap) is pending, layer passes wait one round, so that the
// sequences it releases join them. Without this, sequences that started at different times
// stay out of phase forever (half of them in their layers while the others are in their head),
// and every round pays for a full pass of the layers for half the rows. A layer job is
// deferred at most once in a row, so nothing waits for long.
std::vector<ForwardBatcher::Job*> ForwardBatcher::pick_round() {
    bool any_head = false;
    for (const Job* j : pending_) any_head |= !j->layers;
    std::vector<Job*> jobs;
    for (Job* j : pending_) {
        if (j->layers && any_head && !j->deferred) {
            j->deferred = true;
            continue;
        }
        j->deferred = false;
        jobs.push_back(j);
    }
    return jobs;
}

// One round: every job contributes up to chunk_ rows; jobs on the same model and layer range
// (or the same model's head) become one fused pass. Called without m_ held: the jobs' threads
// are all waiting, so only this thread touches the jobs' rows, progress and contexts (their
// `finished` flags are set by drive(), under m_).
void ForwardBatcher::run_round(std::vector<Job*>& jobs) {
    using Key = std::tuple<const void*, bool, int, int>;  // model, layers, a, b
    std::map<Key, std::vector<Job*>> groups;
    for (Job* j : jobs) groups[{&j->ctx->model(), j->layers, j->a, j->b}].push_back(j);
    const auto t0 = std::chrono::steady_clock::now();
    BatcherStats add;
    add.rounds = 1;
    std::vector<LayerSegment> layer_segs;
    std::vector<HeadSegment> head_segs;
    for (auto& [key, group] : groups) {
        const bool layers = std::get<1>(key);
        const int a = std::get<2>(key), b = std::get<3>(key);
        layer_segs.clear();
        head_segs.clear();
        std::vector<int64_t> take;
        for (Job* j : group) {
            const int64_t m = std::min(chunk_, j->n - j->done);
            take.push_back(m);
            const int64_t d = j->ctx->model().config().n_embd;
            if (layers)
                layer_segs.push_back({j->ctx, j->h + j->done * d, m, j->pos0 + j->done});
            else
                head_segs.push_back({j->ctx, j->hc + j->done * d, m,
                                     j->logits + j->done * j->ctx->model().config().n_vocab});
            add.rows += m;
        }
        add.passes += 1;
        add.segments += (int64_t)group.size();
        try {
            if (layers)
                Context::run_layers_fused(layer_segs, a, b);
            else
                Context::head_fused(head_segs);
            for (size_t i = 0; i < group.size(); ++i) group[i]->done += take[i];
        } catch (...) {
            for (Job* j : group) j->error = std::current_exception();
        }
    }
    add.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(m_);
    stats_.seconds += add.seconds;
    stats_.rounds += add.rounds;
    stats_.passes += add.passes;
    stats_.segments += add.segments;
    stats_.rows += add.rows;
}

}  // namespace hsd
