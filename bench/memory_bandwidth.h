#pragma once
// Measures this machine's memory read bandwidth (bytes/s) the way a decode step reads
// weights: all threads streaming disjoint parts of a buffer much larger than the caches.
namespace hsd { class ThreadPool; }

double measure_read_bandwidth(hsd::ThreadPool& pool, double seconds_budget = 1.0);
