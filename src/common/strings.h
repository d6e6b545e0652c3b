#pragma once
// Small parsing helpers shared by the CLI, the level syntax and the benchmarks.
#include <string>
#include <vector>

namespace hsd {

// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_list(const std::string& s, char sep = ',');
// The whole of s as a decimal int; false (and *out untouched) if s is empty, has other
// characters or is out of range.
bool parse_int(const std::string& s, int* out);

}  // namespace hsd
