#pragma once
// One level of a speculative hierarchy below the target, as a user chooses it: an independent
// draft model, the target's early exit after some layer, or the n-gram (prompt lookup)
// drafter, with its threshold T_i (tokens it returns per call; the bottom level: tokens
// drafted per call). Built with the named constructors, or parsed from the --hierarchy text
// (hierarchy_syntax.h). A model level names a file; resolve_models() loads it (once per file,
// through a ModelCache) before a Hierarchy is built from the levels.
#include <string>
#include <vector>

namespace hsd {

class Model;
class ModelCache;

struct LevelSpec {
    enum class Kind { Model, Ngram, Exit };
    Kind kind = Kind::Model;
    int threshold = 1;
    std::string path;              // Model: the file, as given
    const Model* model = nullptr;  // Model: the loaded file (resolve_models)
    int ngram_n = 0;               // Ngram: longest suffix looked up
    int exit_layer = 0;            // Exit: layers run (an entry of the target's hsd.early_exit.layers)

    static LevelSpec draft_model(const Model& model, int threshold);  // already loaded
    static LevelSpec draft_file(const std::string& path, int threshold);
    static LevelSpec ngram(int n, int threshold);
    static LevelSpec early_exit(int layer, int threshold);

    bool is_model() const { return kind == Kind::Model; }
    bool is_ngram() const { return kind == Kind::Ngram; }
    bool is_exit() const { return kind == Kind::Exit; }
    // "path", "ngram3" or "@4" (without the threshold).
    std::string name() const;
};

// Loads the file of every model level that has no model yet, through `models`.
void resolve_models(std::vector<LevelSpec>& levels, ModelCache& models);

}  // namespace hsd
