#include "speculative/hispec.h"

#include <cmath>
#include <fmt/format.h>

#include "common/error.h"

namespace hsd {

namespace {

std::string exits_text(const Model& m) { return m.config().exit_layers_text(); }

// The model's exits (the loader keeps only those shallower than the last layer).
const std::vector<int>& usable_exits(const Model& m) {
    if (m.config().exit_layers.empty())
        fail(fmt::format("'{}' lists no early exits (GGUF key hsd.early_exit.layers): early-exit speculation needs "
                         "an early-exit model",
                         m.path()));
    return m.config().exit_layers;
}

// The usable exit nearest to `target_depth` among those > `above` (ties: the shallower).
int nearest_exit(const Model& m, double target_depth, int above) {
    int best = 0;
    for (int e : usable_exits(m))
        if (e > above && (best == 0 || std::fabs(e - target_depth) < std::fabs(best - target_depth))) best = e;
    return best;
}

void check_exit(const Model& m, int e, const char* flag) {
    if (!m.is_exit_layer(e))
        fail(fmt::format("{} {}: '{}' has no early exit after layer {} (its exits: {})", flag, e, m.path(), e,
                         exits_text(m)));
}

}  // namespace

std::vector<LevelSpec> hispec_levels(const Model& model, const HiSpecOptions& o) {
    const int L = model.config().n_layer;
    int d = o.exit_draft, v = o.exit_verify;
    if (d == 0) d = nearest_exit(model, L / 8.0, 0);
    check_exit(model, d, "--exit-draft");
    if (v == 0) v = nearest_exit(model, L / 4.0, d);
    if (v == 0)
        fail(fmt::format("'{}' has no early exit deeper than the draft exit {} to verify with (its exits: {})",
                         model.path(), d, exits_text(model)));
    check_exit(model, v, "--exit-verify");
    if (v <= d) fail(fmt::format("--exit-verify {} must be deeper than --exit-draft {}", v, d));
    const int nd = o.draft_n > 0 ? o.draft_n : 2;
    if (o.window < 1) fail(fmt::format("--window must be >= 1, got {}", o.window));
    return {LevelSpec::early_exit(d, nd), LevelSpec::early_exit(v, o.window)};
}

std::vector<LevelSpec> self_spec_levels(const Model& model, const HiSpecOptions& o) {
    int d = o.exit_draft;
    if (d == 0) d = nearest_exit(model, model.config().n_layer / 8.0, 0);
    check_exit(model, d, "--exit-draft");
    return {LevelSpec::early_exit(d, o.draft_n > 0 ? o.draft_n : 4)};
}

}  // namespace hsd
