#include "speculative/level_spec.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/strings.h"

namespace hsd {

std::vector<LevelRequest> parse_level_list(const std::string& spec, const std::string& flag) {
    std::vector<LevelRequest> out;
    if (spec.empty()) fail(fmt::format("{}: empty list (e.g. {} a.gguf:3,b.gguf:6)", flag, flag));
    size_t start = 0;
    while (start <= spec.size()) {
        size_t end = spec.find(',', start);
        if (end == std::string::npos) end = spec.size();
        LevelRequest r;
        r.text = spec.substr(start, end - start);
        start = end + 1;
        const size_t colon = r.text.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == r.text.size())
            fail(fmt::format("{}: '{}' is not LEVEL:THRESHOLD (LEVEL = MODEL.gguf, ngramN or @LAYER; e.g. {} "
                             "a.gguf:3,b.gguf:6)",
                             flag, r.text, flag));
        const std::string name = r.text.substr(0, colon);
        if (!parse_int(r.text.substr(colon + 1), &r.threshold) || r.threshold < 1)
            fail(fmt::format("{}: threshold '{}' of '{}' must be an integer >= 1", flag, r.text.substr(colon + 1), name));
        if (name[0] == '@') {
            r.kind = LevelRequest::Kind::Exit;
            if (!parse_int(name.substr(1), &r.exit_layer) || r.exit_layer < 1)
                fail(fmt::format("{}: '{}' must name an early-exit layer as @LAYER, e.g. @4", flag, name));
        } else if (name.rfind("ngram", 0) == 0 && name.find('.') == std::string::npos) {
            r.kind = LevelRequest::Kind::Ngram;
            r.ngram_n = 3;  // "ngram" alone
            if (name.size() > 5 && (!parse_int(name.substr(5), &r.ngram_n) || r.ngram_n < 1))
                fail(fmt::format("{}: '{}' must be ngramN with N >= 1, e.g. ngram3", flag, name));
        } else {
            r.kind = LevelRequest::Kind::Model;
            r.path = name;
        }
        out.push_back(r);
        if (end == spec.size()) break;
    }
    return out;
}

std::string format_level_list(const std::vector<LevelRequest>& levels) {
    std::string s;
    for (const LevelRequest& r : levels) {
        if (!s.empty()) s += ",";
        switch (r.kind) {
            case LevelRequest::Kind::Model: s += r.path; break;
            case LevelRequest::Kind::Ngram: s += fmt::format("ngram{}", r.ngram_n); break;
            case LevelRequest::Kind::Exit: s += fmt::format("@{}", r.exit_layer); break;
        }
        s += fmt::format(":{}", r.threshold);
    }
    return s;
}

std::vector<LevelSpec> resolve_levels(const std::vector<LevelRequest>& levels, ModelCache& models) {
    std::vector<LevelSpec> out;
    for (const LevelRequest& r : levels) {
        LevelSpec s;
        s.threshold = r.threshold;
        switch (r.kind) {
            case LevelRequest::Kind::Model: s.model = &models.get(r.path); break;
            case LevelRequest::Kind::Ngram: s.ngram_n = r.ngram_n; break;
            case LevelRequest::Kind::Exit: s.exit_layer = r.exit_layer; break;
        }
        out.push_back(s);
    }
    return out;
}

const Model& ModelCache::get(const std::string& path) {
    for (auto& [p, m] : models_)
        if (p == path) return *m;
    models_.emplace_back(path, Model::load(path));
    return *models_.back().second;
}

}  // namespace hsd
