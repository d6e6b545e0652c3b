#pragma once
// The text form of a hierarchy, smallest level first, as given to `--hierarchy` and stored in
// plan files:
//   "a.gguf:3,b.gguf:6"   draft models with their thresholds T_i
//   "ngram3:4"            the n-gram (prompt lookup) drafter, suffixes up to 3 tokens, T = 4
//   "@4:4"                the early exit after layer 4 of the target (shares its KV cache)
// e.g. "ngram3:3,@4:4,m2.gguf:8". Parsing loads nothing, so errors name the item as written.
#include <string>
#include <vector>

#include "speculative/level.h"

namespace hsd {

// Throws hsd::Error naming `flag` and the offending item.
std::vector<LevelSpec> parse_level_list(const std::string& text, const std::string& flag = "--hierarchy");
// The inverse: parse_level_list(format_level_list(x)) describes the same levels.
std::string format_level_list(const std::vector<LevelSpec>& levels);

}  // namespace hsd
