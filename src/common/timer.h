#pragma once
#include <chrono>

namespace hsd {

// Monotonic wall clock in seconds, for reporting tokens/s (never asserted on in tests).
double now_seconds();

}  // namespace hsd
