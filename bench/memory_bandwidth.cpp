#include "memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>
#include "kernels/simd.h"

#include "common/timer.h"
#include "kernels/thread_pool.h"

namespace {

float sum_range(const float* p, int64_t n) {
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += p[i];
    return s;
#endif
}

}  // namespace

double measure_read_bandwidth(hsd::ThreadPool& pool, double seconds_budget) {
    const int64_t n = (int64_t)256 << 20 >> 2;  // 256 MiB of floats, far beyond the L3
    float* buf = static_cast<float*>(std::aligned_alloc(64, (size_t)n * sizeof(float)));
    for (int64_t i = 0; i < n; ++i) buf[i] = 1.0f;
    std::atomic<double> sink{0};
    double best = 0;
    const double start = hsd::now_seconds();
    int reps = 0;
    while (reps < 3 || (hsd::now_seconds() - start < seconds_budget && reps < 20)) {
        const int tasks = pool.size();
        const int64_t per = n / tasks / 64 * 64;
        const double t0 = hsd::now_seconds();
        pool.parallel_for(tasks, [&](int64_t t) {
            const float s = sum_range(buf + t * per, per);
            double cur = sink.load();
            while (!sink.compare_exchange_weak(cur, cur + s)) {}
        });
        const double dt = hsd::now_seconds() - t0;
        best = std::max(best, (double)(per * tasks) * sizeof(float) / dt);
        ++reps;
    }
    std::free(buf);
    return best;
}
