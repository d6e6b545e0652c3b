#include "machine_limits.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <cstdint>
#include <vector>
#include "common/simd.h"

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
    // Same backing as the packed weights (2 MiB aligned, transparent huge pages), so the
    // roofline compares like with like.
    float* buf = static_cast<float*>(std::aligned_alloc(2u << 20, (size_t)n * sizeof(float)));
    madvise(buf, (size_t)n * sizeof(float), MADV_HUGEPAGE);
    for (int64_t i = 0; i < n; ++i) buf[i] = 1.0f;
    std::atomic<double> sink{0};
    std::vector<double> rates;
    const double start = hsd::now_seconds();
    int reps = 0;
    while (reps < 5 || (hsd::now_seconds() - start < seconds_budget && reps < 30)) {
        const int tasks = pool.size();
        const int64_t per = n / tasks / 64 * 64;
        const double t0 = hsd::now_seconds();
        pool.parallel_for(tasks, [&](int64_t t) {
            const float s = sum_range(buf + t * per, per);
            double cur = sink.load();
            while (!sink.compare_exchange_weak(cur, cur + s)) {}
        });
        const double dt = hsd::now_seconds() - t0;
        rates.push_back((double)(per * tasks) * sizeof(float) / dt);
        ++reps;
    }
    std::free(buf);
    // The median, not the best: this machine's bandwidth varies between runs (neighbours on
    // the host), and a lucky burst would understate how close decoding gets to it.
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}

double measure_fma_peak(hsd::ThreadPool& pool) {
    std::vector<double> rates;
    const int64_t iters = 20'000'000;
    for (int rep = 0; rep < 5; ++rep) {
        std::atomic<double> sink{0};
        const double t0 = hsd::now_seconds();
        pool.parallel_for(pool.size(), [&](int64_t) {
#if defined(__AVX512F__)
            __m512 a[12];
            for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + (float)i * 1e-7f);
            const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
            for (int64_t it = 0; it < iters; ++it)
                for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
            float s = 0;
            for (int i = 0; i < 12; ++i) s += _mm512_reduce_add_ps(a[i]);
#else
            float a[12 * 8];
            for (int i = 0; i < 12 * 8; ++i) a[i] = 1.0f + (float)i * 1e-7f;
            for (int64_t it = 0; it < iters; ++it)
                for (int i = 0; i < 12 * 8; ++i) a[i] = a[i] * 0.9999999f + 1e-7f;
            float s = 0;
            for (int i = 0; i < 12 * 8; ++i) s += a[i];
#endif
            double cur = sink.load();
            while (!sink.compare_exchange_weak(cur, cur + s)) {}
        });
        const double dt = hsd::now_seconds() - t0;
#if defined(__AVX512F__)
        const double lanes = 16;
#else
        const double lanes = 8;
#endif
        rates.push_back((double)pool.size() * (double)iters * 12 * lanes / dt);
    }
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}
