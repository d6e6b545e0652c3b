#pragma once
// Benchmark code (library hsd_testing, never linked into hsd or the hsd program; used by
// bench/make_bench_model and its test).
//
// A benchmark target that costs like a big model and computes exactly like a small one: a copy
// of an F16 Llama/Qwen2 GGUF whose every FFN gets extra hidden units (rows appended to
// ffn_gate / ffn_up, random) whose ffn_down columns are zero. Each extra unit adds exactly
// 0 * silu(g) * u = 0 after the original units in the down projection's sum (the F16 kernels
// sum over the hidden dimension in order), so logits and greedy output are bit-identical to
// the original while every forward streams the widened weights: the memory-bound regime of real
// targets (hsd-target 1216 -> 12288 is a ~280M-parameter cost; docs/PLANNER.md).
#include <cstdint>
#include <string>

namespace hsd {

// Writes `out` (atomically: a temporary file renamed into place). Throws hsd::Error when the
// input is not F16 in its FFN matrices or new_ffn is not larger than the current width.
void write_widened_ffn(const std::string& in, const std::string& out, int64_t new_ffn, uint64_t seed = 1);

}  // namespace hsd
