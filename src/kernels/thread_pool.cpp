#include "kernels/thread_pool.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hsd {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#endif
}
constexpr int kSpinIterations = 20000;  // polling before sleeping on a futex
constexpr int kBits = 20;
constexpr uint64_t kMask = (1ull << kBits) - 1;
constexpr int64_t kMaxTasks = (int64_t)kMask;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

int ThreadPool::default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

void ThreadPool::run_tasks(uint64_t generation) {
    for (;;) {
        uint64_t w = work_.load(std::memory_order_acquire);
        if ((w >> (2 * kBits)) != generation) return;  // another region: not ours
        const int64_t task = (int64_t)(w & kMask);
        const int64_t n = (int64_t)((w >> kBits) & kMask);
        if (task >= n) return;
        if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
        (*fn_.load(std::memory_order_relaxed))(task);
        done_.fetch_add(1, std::memory_order_release);
    }
}

void ThreadPool::worker_loop() {
    uint32_t seen = generation_.load();
    for (;;) {
        int spins = 0;
        uint32_t g;
        while ((g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load(std::memory_order_acquire)) {
            if (++spins < kSpinIterations) {
                cpu_relax();
            } else {
                generation_.wait(seen);
            }
        }
        seen = g;
        if (stop_.load()) return;
        run_tasks(g & ((1u << (64 - 2 * kBits)) - 1));
    }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(t);
        return;
    }
    if (n_tasks > kMaxTasks) {  // beyond what one work word can count: run in slices
        for (int64_t b = 0; b < n_tasks; b += kMaxTasks)
            parallel_for(std::min(kMaxTasks, n_tasks - b), [&](int64_t t) { fn(b + t); });
        return;
    }
    const uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
    const uint64_t gen_bits = gen & ((1u << (64 - 2 * kBits)) - 1);
    fn_.store(&fn, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    work_.store((gen_bits << (2 * kBits)) | ((uint64_t)n_tasks << kBits), std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
    generation_.notify_all();
    run_tasks(gen_bits);
    while (done_.load(std::memory_order_acquire) < n_tasks) cpu_relax();
}

void ThreadPool::parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, (int64_t)n_threads_ * 4);
    chunks = std::max<int64_t>(1, chunks);
    const int64_t step = (n + chunks - 1) / chunks;
    parallel_for((n + step - 1) / step, [&](int64_t c) {
        const int64_t b = c * step;
        fn(b, std::min(n, b + step));
    });
}

}  // namespace hsd
