#pragma once
// The text form of a hierarchy, smallest level first, as given to `--hierarchy`:
//   "a.gguf:3,b.gguf:6"   draft models with their thresholds T_i
//   "ngram3:4"            the n-gram (prompt lookup) drafter, suffixes up to 3 tokens, T = 4
//   "@4:4"                the early exit after layer 4 of the target (shares its KV cache)
// e.g. "ngram3:3,@4:4,m2.gguf:8". Parsing is separate from loading so errors name the item.
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "speculative/hierarchy.h"

namespace hsd {

struct LevelRequest {
    enum class Kind { Model, Ngram, Exit };
    Kind kind = Kind::Model;
    std::string path;    // Model
    int ngram_n = 0;     // Ngram: longest suffix
    int exit_layer = 0;  // Exit: layers run (an entry of hsd.early_exit.layers)
    int threshold = 1;
    std::string text;    // the item as written
};

// Throws hsd::Error naming `flag` and the offending item.
std::vector<LevelRequest> parse_level_list(const std::string& spec, const std::string& flag = "--hierarchy");
std::string format_level_list(const std::vector<LevelRequest>& levels);

class ModelCache;
// Levels for Hierarchy: model files loaded through `models` (early exits are views of the
// hierarchy's target).
std::vector<LevelSpec> resolve_levels(const std::vector<LevelRequest>& levels, ModelCache& models);

// Loads each distinct model file once.
class ModelCache {
public:
    const Model& get(const std::string& path);

private:
    std::vector<std::pair<std::string, std::unique_ptr<Model>>> models_;
};

}  // namespace hsd
