#pragma once
// Small statistics shared by the profiler and the benchmarks.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace hsd {

// The median of timing samples: the upper middle element for an even count (an observed value,
// never an average of two), 0 for no samples. Robust to the odd slow run a shared machine adds.
inline double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + (std::ptrdiff_t)(v.size() / 2), v.end());
    return v[v.size() / 2];
}

}  // namespace hsd
