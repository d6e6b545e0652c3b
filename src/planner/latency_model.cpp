#include "planner/latency_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace hsd::planner {

namespace {

// Supports grow with the sum of the thresholds; this keeps a typo from allocating gigabytes.
constexpr int kMaxThreshold = 4096;

double acceptance(const Problem& p, int drafter, int verifier) {
    return p.accept[(size_t)drafter][(size_t)verifier];
}

// P(verifier accepts a token that `origin` drafted and `drafter` accepted); the plain rate if
// the problem has no two-type table.
double passed_acceptance(const Problem& p, int origin, int drafter, int verifier) {
    if (p.accept_passed.empty() || origin < 0) return acceptance(p, drafter, verifier);
    return p.accept_passed[(size_t)origin][(size_t)drafter][(size_t)verifier];
}

// Tokens emitted by one verify pass (index m) over a batch distributed as batch[n] = P(N = n):
// m <= n needs m-1 accepts then a reject (a^{m-1}(1-a), only if N >= m); m = n+1 needs all n
// accepted (a^n). No division, so a = 1 and a = 0 need no special case.
std::vector<double> round_output(const std::vector<double>& batch, double a) {
    const size_t max_n = batch.size() - 1;
    std::vector<double> at_least(max_n + 2, 0.0);  // P(N >= m)
    for (size_t m = max_n + 1; m-- > 0;) at_least[m] = at_least[m + 1] + batch[m];
    std::vector<double> out(max_n + 2, 0.0);
    double a_pow = 1;  // a^{m-1}
    for (size_t m = 1; m <= max_n + 1; ++m) {
        out[m] = a_pow * ((1 - a) * at_least[m] + batch[m - 1]);
        a_pow *= a;
    }
    return out;
}

struct Accumulated {
    double rounds = 0;          // E[rounds until the level holds >= T]
    std::vector<double> total;  // total[t] = P(the level holds t tokens then)
};

// Renewal DP over i.i.d. rounds with outputs out[m] (m >= 1): f[s] = P(some prefix of rounds
// sums to exactly s); rounds are started from every s < T, so E[rounds] = sum f[s < T].
Accumulated accumulate(const std::vector<double>& out, int threshold) {
    Accumulated acc;
    std::vector<double> f((size_t)threshold, 0.0);
    f[0] = 1;
    acc.total.assign((size_t)threshold + out.size() - 1, 0.0);
    for (size_t s = 0; s < f.size(); ++s) {
        if (f[s] == 0) continue;
        acc.rounds += f[s];
        for (size_t m = 1; m < out.size(); ++m) {
            const size_t t = s + m;
            (t < f.size() ? f[t] : acc.total[t]) += f[s] * out[m];
        }
    }
    return acc;
}

double mean(const std::vector<double>& dist) {
    double sum = 0;
    for (size_t n = 0; n < dist.size(); ++n) sum += (double)n * dist[n];
    return sum;
}

// Fills the derived fields; seconds/tokens are per top-level call.
Prediction finish(const Problem& p, double seconds, double tokens, Prediction pr) {
    const double ar = pass_cost(p, -1, p.n_drafters, 1);
    if (ar <= 0) fail(fmt::format("planner: cost of one pass of the target '{}' must be > 0", p.names.back()));
    pr.seconds_per_step = seconds;
    pr.tokens_per_step = tokens;
    pr.seconds_per_token = seconds / tokens;
    pr.tokens_per_second = tokens / seconds;
    pr.speedup = ar / pr.seconds_per_token;
    return pr;
}

}  // namespace

double pass_cost(const Problem& p, int below, int level, int n) {
    const double c = p.cost(below, level, n);
    if (!std::isfinite(c) || c < 0) {
        const std::string from = below < 0 ? "itself" : fmt::format("'{}'", p.names[(size_t)below]);
        fail(fmt::format("planner: cost of '{}' over {} tokens drafted by {} is {}, must be finite and >= 0",
                         p.names[(size_t)level], n, from, c));
    }
    return c;
}

void validate(const Problem& p) {
    if (p.n_drafters < 0) fail(fmt::format("planner: n_drafters is {}, must be >= 0", p.n_drafters));
    const size_t n = (size_t)p.n_drafters;
    if (p.names.size() != n + 1)
        fail(fmt::format("planner: names has {} entries, need n_drafters + 1 = {} (the drafters, then the target)",
                         p.names.size(), n + 1));
    if (!p.cost) fail("planner: the problem has no cost function");
    if (p.accept.size() < n) fail(fmt::format("planner: accept has {} rows, need one per drafter ({})", p.accept.size(), n));
    for (size_t i = 0; i < n; ++i) {
        if (p.accept[i].size() < n + 1)
            fail(fmt::format("planner: accept[{}] ('{}') has {} entries, need {} (one per level up to the target)", i,
                             p.names[i], p.accept[i].size(), n + 1));
        for (size_t j = i + 1; j <= n; ++j) {
            const double a = p.accept[i][j];
            if (!(a >= 0 && a <= 1))  // also rejects NaN
                fail(fmt::format("planner: acceptance of '{}' by '{}' (accept[{}][{}]) is {}, must be in [0, 1]",
                                 p.names[i], p.names[j], i, j, a));
        }
    }
}

void validate_passed(const Problem& p) {
    if (p.accept_passed.empty()) return;
    const size_t n = (size_t)p.n_drafters;
    if (p.accept_passed.size() < n)
        fail(fmt::format("planner: accept_passed has {} entries, need {} (or none)", p.accept_passed.size(), n));
    for (size_t i = 0; i < n; ++i) {
        if (p.accept_passed[i].size() < n)
            fail(fmt::format("planner: accept_passed[{}] has {} entries, need {}", i, p.accept_passed[i].size(), n));
        for (size_t k = i + 1; k < n; ++k) {
            if (p.accept_passed[i][k].size() < n + 1)
                fail(fmt::format("planner: accept_passed[{}][{}] has {} entries, need {}", i, k,
                                 p.accept_passed[i][k].size(), n + 1));
            for (size_t j = k + 1; j <= n; ++j) {
                const double a = p.accept_passed[i][k][j];
                if (!(a >= 0 && a <= 1))
                    fail(fmt::format("planner: acceptance by '{}' of tokens '{}' drafted and '{}' accepted "
                                     "(accept_passed[{}][{}][{}]) is {}, must be in [0, 1]",
                                     p.names[j], p.names[i], p.names[k], i, k, j, a));
            }
        }
    }
}

void validate(const Problem& p, const Chain& c) {
    validate(p);
    validate_passed(p);
    if (c.levels.size() != c.thresholds.size())
        fail(fmt::format("planner: chain has {} levels but {} thresholds", c.levels.size(), c.thresholds.size()));
    for (size_t k = 0; k < c.levels.size(); ++k) {
        const int level = c.levels[k];
        if (level < 0 || level >= p.n_drafters)
            fail(fmt::format("planner: chain level {} is not a drafter (0..{})", level, p.n_drafters - 1));
        if (k > 0 && level <= c.levels[k - 1])
            fail(fmt::format("planner: chain levels must be increasing (smallest drafter first): '{}' ({}) after '{}' ({})",
                             p.names[(size_t)level], level, p.names[(size_t)c.levels[k - 1]], c.levels[k - 1]));
        const int t = c.thresholds[k];
        if (t < 1 || t > kMaxThreshold)
            fail(fmt::format("planner: threshold of '{}' is {}, must be in 1..{}", p.names[(size_t)level], t,
                             kMaxThreshold));
    }
}

Prediction evaluate(const Problem& p, const Chain& c, Variant variant) {
    validate(p, c);
    const size_t depth = c.levels.size();  // K
    Prediction pr;
    if (depth == 0) {
        pr.forwards_per_step = {1.0};
        return finish(p, pass_cost(p, -1, p.n_drafters, 1), 1.0, std::move(pr));
    }
    // passes[k]: forward passes of level k per call of it (bottom: T_0; others: rounds).
    std::vector<double> passes(depth + 1, 1.0);
    const int t0 = c.thresholds[0];
    std::vector<double> batch((size_t)t0 + 1, 0.0);  // distribution of the current level's output
    batch[(size_t)t0] = 1;
    double cost = t0 * pass_cost(p, -1, c.levels[0], 1);  // E[cost of one call of the current level]
    passes[0] = t0;
    pr.mean_batch.push_back(t0);
    double tokens = 0;
    for (size_t k = 1; k <= depth; ++k) {
        const int below = c.levels[k - 1];
        const int level = k < depth ? c.levels[k] : p.n_drafters;
        double round_cost = cost;  // one call below + one verify pass over N+1 tokens
        for (size_t n = 0; n < batch.size(); ++n)
            if (batch[n] > 0) round_cost += batch[n] * pass_cost(p, below, level, (int)n + 1);
        // The level below produced one token per round it ran (its own); the rest of its batch
        // it passed on from the level under it. The bottom level produced everything.
        double a = acceptance(p, below, level);
        if (k >= 2) {
            const double passed = std::max(0.0, 1.0 - passes[k - 1] / pr.mean_batch[k - 1]);
            a = passed * passed_acceptance(p, c.levels[k - 2], below, level) + (1 - passed) * a;
        }
        const std::vector<double> out = round_output(batch, a);
        if (k == depth) {  // the target: one round per step
            cost = round_cost;
            tokens = mean(out);
            break;
        }
        const int threshold = c.thresholds[k];
        Accumulated acc = accumulate(out, threshold);
        cost = acc.rounds * round_cost;  // Wald: the stopping rule looks only at past rounds
        passes[k] = acc.rounds;
        if (variant == Variant::Truncate) {
            batch.assign((size_t)threshold + 1, 0.0);
            batch[(size_t)threshold] = 1;
        } else {
            batch = std::move(acc.total);
        }
        pr.mean_batch.push_back(mean(batch));
    }
    // Calls of level k per step = product of the rounds of the levels above (Wald again).
    pr.forwards_per_step.assign(depth + 1, 1.0);
    double calls = 1;
    for (size_t k = depth; k-- > 0;) {
        calls *= passes[k + 1];
        pr.forwards_per_step[k] = calls * passes[k];
    }
    return finish(p, cost, tokens, std::move(pr));
}

std::vector<double> expected_rounds(int n, double a, int t_max) {
    if (n < 0 || t_max < 0) fail(fmt::format("planner: expected_rounds needs n, t_max >= 0 (got {}, {})", n, t_max));
    if (!(a >= 0 && a <= 1)) fail(fmt::format("planner: acceptance {} must be in [0, 1]", a));
    std::vector<double> batch((size_t)n + 1, 0.0);
    batch[(size_t)n] = 1;
    const std::vector<double> out = round_output(batch, a);
    // Renewal measure f[s] is the same whatever the threshold, so one pass gives every R[t].
    std::vector<double> f((size_t)t_max + 1, 0.0), rounds((size_t)t_max + 1, 0.0);
    f[0] = 1;
    for (size_t s = 0; s < (size_t)t_max; ++s) {
        rounds[s + 1] = rounds[s] + f[s];
        for (size_t m = 1; m < out.size() && s + m <= (size_t)t_max; ++m) f[s + m] += f[s] * out[m];
    }
    return rounds;
}

double expected_round_output(int n, double a) {
    double sum = 0, a_pow = 1;
    for (int k = 0; k <= n; ++k, a_pow *= a) sum += a_pow;
    return sum;
}

std::string describe(const Problem& p, const Chain& c) {
    if (c.levels.empty()) return "none";
    std::string s;
    for (size_t k = 0; k < c.levels.size(); ++k) {
        const int level = c.levels[k];
        const bool known = level >= 0 && (size_t)level < p.names.size();
        s += fmt::format("{}{}:{}", k ? "," : "", known ? p.names[(size_t)level] : fmt::format("#{}", level),
                         k < c.thresholds.size() ? fmt::format("{}", c.thresholds[k]) : "?");
    }
    return s;
}

namespace {

void check_row(const std::vector<double>& row, const std::string& what) {
    if (row.empty()) fail(fmt::format("planner: cost table {} is empty", what));
    for (size_t i = 0; i < row.size(); ++i)
        if (!std::isfinite(row[i]) || row[i] < 0)
            fail(fmt::format("planner: cost table {} at n = {} is {}, must be finite and >= 0", what, i + 1, row[i]));
}

}  // namespace

std::function<double(int, int, int)> cost_from_table(CostTable table) {
    for (size_t c = 0; c < table.seconds.size(); ++c) check_row(table.seconds[c], fmt::format("row {}", c));
    for (const auto& [key, row] : table.pairwise) check_row(row, fmt::format("pair ({}, {})", key.first, key.second));
    return [t = std::move(table)](int below, int level, int n) -> double {
        if (n < 1) fail(fmt::format("planner: cost asked for a pass over {} tokens", n));
        const std::vector<double>* row = nullptr;
        if (auto it = t.pairwise.find({below, level}); it != t.pairwise.end()) row = &it->second;
        else if (level >= 0 && (size_t)level < t.seconds.size()) row = &t.seconds[(size_t)level];
        else fail(fmt::format("planner: cost table has no row for level {} ({} rows)", level, t.seconds.size()));
        const size_t size = row->size();
        if ((size_t)n <= size) return (*row)[(size_t)n - 1];
        const double slope = size < 2 ? 0.0 : std::max(0.0, (*row)[size - 1] - (*row)[size - 2]);
        return (*row)[size - 1] + slope * (double)((size_t)n - size);
    };
}

}  // namespace hsd::planner
