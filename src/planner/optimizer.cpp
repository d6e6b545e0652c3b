#include "planner/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "common/error.h"
#include "planner/hill_climb.h"

namespace hsd::planner {

namespace {

void check_t_max(int t_max) {
    if (t_max < 1 || t_max > kMaxTMax) fail(fmt::format("planner: t_max is {}, must be in 1..{}", t_max, kMaxTMax));
}

struct Path {
    Chain chain;
    double latency = std::numeric_limits<double>::infinity();
};

// The DP of optimize_shortest_path, keeping the best chain through each top drafter j (the one
// the target verifies) rather than only the overall best: rank_plans climbs from each of them.
std::vector<Path> best_paths_by_top(const Problem& p, int t_max) {
    const int drafters = p.n_drafters;
    const size_t width = (size_t)t_max + 1;  // index = threshold, 0 unused
    struct Node {
        double label = std::numeric_limits<double>::infinity();  // least E[cost of one call]
        int from = -1;                                           // level below (-1: bottom level)
        int from_t = 0;
    };
    std::vector<std::vector<Node>> node((size_t)drafters, std::vector<Node>(width));
    for (int i = 0; i < drafters; ++i) {
        auto& here = node[(size_t)i];
        const double draft = pass_cost(p, -1, i, 1);
        for (int t = 1; t <= t_max; ++t) here[(size_t)t].label = t * draft;  // i drafts T_0 = t itself
        for (int j = 0; j < i; ++j) {
            const double a = p.accept[(size_t)j][(size_t)i];
            for (int tj = 1; tj <= t_max; ++tj) {
                const double x = node[(size_t)j][(size_t)tj].label;
                const double verify = pass_cost(p, j, i, tj + 1);
                const std::vector<double> rounds = expected_rounds(tj, a, t_max);
                for (int t = 1; t <= t_max; ++t) {
                    const double v = rounds[(size_t)t] * (x + verify);
                    if (v < here[(size_t)t].label) here[(size_t)t] = {v, j, tj};
                }
            }
        }
    }
    // Sink: the target verifies one batch; divide by its expected output.
    const int target = drafters;
    std::vector<Path> paths((size_t)drafters);
    for (int j = 0; j < drafters; ++j) {
        const double a = p.accept[(size_t)j][(size_t)target];
        int best_t = 0;
        for (int tj = 1; tj <= t_max; ++tj) {
            const double v = (node[(size_t)j][(size_t)tj].label + pass_cost(p, j, target, tj + 1)) /
                             expected_round_output(tj, a);
            if (v < paths[(size_t)j].latency) paths[(size_t)j].latency = v, best_t = tj;
        }
        if (best_t == 0) continue;  // no finite latency (absurd costs): leave this top drafter out
        Chain& chain = paths[(size_t)j].chain;
        for (int i = j, t = best_t; i >= 0;) {
            chain.levels.push_back(i);
            chain.thresholds.push_back(t);
            const Node& n = node[(size_t)i][(size_t)t];
            i = n.from;
            t = n.from_t;
        }
        std::reverse(chain.levels.begin(), chain.levels.end());
        std::reverse(chain.thresholds.begin(), chain.thresholds.end());
    }
    return paths;
}

}  // namespace

Chain optimize_shortest_path(const Problem& p, int t_max) {
    validate(p);
    check_t_max(t_max);
    Path best{Chain{}, pass_cost(p, -1, p.n_drafters, 1)};  // no speculation
    for (Path& path : best_paths_by_top(p, t_max))
        if (path.latency < best.latency) best = std::move(path);
    return best.chain;
}

std::vector<Ranked> rank_plans(const Problem& p, int t_max, size_t top) {
    validate(p);
    check_t_max(t_max);
    std::map<Chain, Prediction> scored;  // memo: every chain evaluated (Overshoot)
    auto seconds = [&](const Chain& c) {
        auto it = scored.find(c);
        if (it == scored.end()) it = scored.emplace(c, evaluate(p, c, Variant::Overshoot)).first;
        return it->second.seconds_per_token;
    };
    std::set<Chain> pool;  // chains worth showing
    auto offer = [&](const Chain& c) {
        pool.insert(c);
        return seconds(c);
    };

    offer(Chain{});
    // Starts: the DP optimum (Truncate), the DP's best chain under each top drafter, and the
    // best single drafter; the first is also shown as is.
    std::vector<Chain> starts = {optimize_shortest_path(p, t_max)};
    offer(starts[0]);
    for (const Path& path : best_paths_by_top(p, t_max)) starts.push_back(path.chain);
    Chain best_single_drafter;
    for (int d = 0; d < p.n_drafters; ++d) {
        const Chain best = best_single(d, t_max, seconds);
        offer(best);
        if (best_single_drafter.levels.empty() || seconds(best) < seconds(best_single_drafter))
            best_single_drafter = best;
    }
    if (!best_single_drafter.levels.empty()) starts.push_back(best_single_drafter);

    // Hill climb on the Overshoot objective: the Truncate optimum is usually close, but the
    // overshoot enlarges the batches above, so thresholds, depth and members may want to move.
    // Every chain it scores is shown.
    hill_climb(starts, p.n_drafters, {.t_max = t_max, .swap_and_add = true}, seconds,
               [&](const Chain& c) { pool.insert(c); });

    std::vector<Ranked> ranked;
    for (const Chain& c : pool) ranked.push_back({c, scored.at(c)});
    std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
        return a.prediction.tokens_per_second > b.prediction.tokens_per_second;
    });
    if (ranked.size() > top) ranked.resize(top);
    return ranked;
}

}  // namespace hsd::planner
