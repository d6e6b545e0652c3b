#pragma once
// The two limits a forward pass runs into, measured on this machine in the same run as the
// benchmark: memory read bandwidth and peak F32 multiply-add throughput.
//
// measure_read_bandwidth: bytes/s, read the way a decode step reads
// weights: all threads streaming disjoint parts of a buffer much larger than the caches.
// Returns the median over repeated passes.
namespace hsd { class ThreadPool; }

double measure_read_bandwidth(hsd::ThreadPool& pool, double seconds_budget = 1.0);

// Peak F32 multiply-adds per second with all threads (register-only FMA chains, the
// widest vectors this build uses).
double measure_fma_peak(hsd::ThreadPool& pool);
