#include "speculative/level_stats.h"

#include <algorithm>
#include <numeric>

namespace hsd {

void LevelStats::record_batch(int64_t proposed, int64_t accepted) {
    draft_n += proposed;
    draft_n_accepted += accepted;
    if (proposed > 0) ++n_drafts;
}

void LevelStats::record_judged(size_t position, int origin, bool accepted) {
    ++origin_n[origin];
    origin_accepted[origin] += accepted;
    const size_t k = std::min<size_t>(position, kPositions - 1);
    ++position_n[k];
    position_accepted[k] += accepted;
}

void LevelStats::reset_counters() {
    LevelStats fresh;
    fresh.name = std::move(name);
    fresh.depth = depth;
    fresh.threshold = threshold;
    *this = std::move(fresh);
}

int64_t LevelStats::judged() const { return std::accumulate(position_n, position_n + kPositions, (int64_t)0); }

int64_t LevelStats::judged_accepted() const {
    return std::accumulate(position_accepted, position_accepted + kPositions, (int64_t)0);
}

LevelStats& LevelStats::operator+=(const LevelStats& o) {
    if (name.empty()) {
        name = o.name;
        depth = o.depth;
        threshold = o.threshold;
    }
    n_forward += o.n_forward;
    draft_n += o.draft_n;
    draft_n_accepted += o.draft_n_accepted;
    n_drafts += o.n_drafts;
    n_empty += o.n_empty;
    seconds += o.seconds;
    layer_evals += o.layer_evals;
    for (int k = 0; k < 2; ++k) {
        origin_n[k] += o.origin_n[k];
        origin_accepted[k] += o.origin_accepted[k];
    }
    for (int k = 0; k < kPositions; ++k) {
        position_n[k] += o.position_n[k];
        position_accepted[k] += o.position_accepted[k];
    }
    return *this;
}

double LevelStats::origin_rate(int origin) const {
    const int64_t n = origin_n[origin];
    return n > 0 ? (double)origin_accepted[origin] / (double)n : -1.0;
}

}  // namespace hsd
