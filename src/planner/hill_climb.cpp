#include "planner/hill_climb.h"

#include <algorithm>
#include <set>

namespace hsd::planner {

Chain best_single(int drafter, int t_max, const ChainLatency& seconds) {
    Chain best{{drafter}, {1}};
    double best_s = seconds(best);
    for (int t = 2; t <= t_max; ++t) {
        const Chain c{{drafter}, {t}};
        if (const double s = seconds(c); s < best_s) best = c, best_s = s;
    }
    return best;
}

Chain hill_climb(const std::vector<Chain>& starts, int n_drafters, const ClimbOptions& o,
                 const ChainLatency& seconds, const std::function<void(const Chain&)>& scored) {
    std::set<Chain> climbed;
    Chain best;
    double best_s = 0;
    bool have_best = false;
    for (Chain current : starts) {
        if (!climbed.insert(current).second) continue;
        double current_s = seconds(current);
        for (;;) {
            Chain next = current;
            double next_s = current_s;
            auto consider = [&](const Chain& c) {
                const double s = seconds(c);
                if (scored) scored(c);
                if (s < next_s * (1 - o.min_gain)) next_s = s, next = c;
            };
            const size_t depth = current.levels.size();
            for (size_t k = 0; k < depth; ++k) {
                for (int step : {-1, 1}) {  // nudge one threshold
                    Chain c = current;
                    c.thresholds[k] += step;
                    if (c.thresholds[k] >= 1 && c.thresholds[k] <= o.t_max) consider(c);
                }
                Chain dropped = current;  // drop one level
                dropped.levels.erase(dropped.levels.begin() + (long)k);
                dropped.thresholds.erase(dropped.thresholds.begin() + (long)k);
                consider(dropped);
                if (!o.swap_and_add) continue;
                const int lo = k > 0 ? current.levels[k - 1] + 1 : 0;  // swap one level, same threshold
                const int hi = k + 1 < depth ? current.levels[k + 1] : n_drafters;
                for (int d = lo; d < hi; ++d) {
                    if (d == current.levels[k]) continue;
                    Chain c = current;
                    c.levels[k] = d;
                    consider(c);
                }
            }
            for (int d = 0; o.swap_and_add && d < n_drafters; ++d) {  // add one level, any threshold
                const auto at = std::lower_bound(current.levels.begin(), current.levels.end(), d);
                if (at != current.levels.end() && *at == d) continue;
                const long i = at - current.levels.begin();
                for (int t = 1; t <= o.t_max; ++t) {
                    Chain c = current;
                    c.levels.insert(c.levels.begin() + i, d);
                    c.thresholds.insert(c.thresholds.begin() + i, t);
                    consider(c);
                }
            }
            if (next == current) break;  // strict improvements only, so this terminates
            current = std::move(next);
            current_s = next_s;
            if (!climbed.insert(current).second) break;  // joined an earlier climb
        }
        if (!have_best || current_s < best_s) best = current, best_s = current_s, have_best = true;
    }
    return best;
}

}  // namespace hsd::planner
