#pragma once
// A tiny persistent thread pool for the forward pass. A decode step dispatches ~100
// parallel regions of a few microseconds each, so workers spin briefly between regions
// (futex wait only after a while). Tasks are claimed from one atomic word holding the
// region's generation and the next task index, so a worker that wakes late can never run
// a task of a region that has already finished, and the caller only ever waits for tasks
// that are actually running (never for a descheduled worker to check in).
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace hsd {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads >= 1, including the calling thread
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs fn(task) for task in [0, n_tasks) across all threads; returns when all are done.
    // fn must not throw. Not re-entrant: call from one thread at a time.
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn);

    // Splits [0, n) into contiguous chunks of at least `grain` items, fn(begin, end) each.
    void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

    static int default_threads();  // hardware concurrency

private:
    void worker_loop();
    void run_tasks(uint64_t generation);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::atomic<const std::function<void(int64_t)>*> fn_{nullptr};
    // One word: generation (24 bits) | task count (20 bits) | next task index (20 bits).
    std::atomic<uint64_t> work_{0};
    std::atomic<int64_t> done_{0};       // tasks finished in the current generation
    std::atomic<uint32_t> generation_{0};  // wakes sleeping workers
    std::atomic<bool> stop_{false};
};

}  // namespace hsd
