#include "speculative/level.h"

#include <fmt/format.h>

#include "model/model.h"
#include "model/model_cache.h"

namespace hsd {

LevelSpec LevelSpec::draft_model(const Model& model, int threshold) {
    LevelSpec s = draft_file(model.path(), threshold);
    s.model = &model;
    return s;
}

LevelSpec LevelSpec::draft_file(const std::string& path, int threshold) {
    LevelSpec s;
    s.kind = Kind::Model;
    s.path = path;
    s.threshold = threshold;
    return s;
}

LevelSpec LevelSpec::ngram(int n, int threshold) {
    LevelSpec s;
    s.kind = Kind::Ngram;
    s.ngram_n = n;
    s.threshold = threshold;
    return s;
}

LevelSpec LevelSpec::early_exit(int layer, int threshold) {
    LevelSpec s;
    s.kind = Kind::Exit;
    s.exit_layer = layer;
    s.threshold = threshold;
    return s;
}

std::string LevelSpec::name() const {
    switch (kind) {
        case Kind::Model: return path;
        case Kind::Ngram: return fmt::format("ngram{}", ngram_n);
        case Kind::Exit: return fmt::format("@{}", exit_layer);
    }
    return "";
}

void resolve_models(std::vector<LevelSpec>& levels, ModelCache& models) {
    for (LevelSpec& s : levels)
        if (s.is_model() && !s.model) s.model = &models.get(s.path);
}

}  // namespace hsd
