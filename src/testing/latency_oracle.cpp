#include "testing/latency_oracle.h"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/error.h"
#include "planner/optimizer.h"

namespace hsd::planner {

namespace {

double acceptance(const Problem& p, int drafter, int verifier) {
    return p.accept[(size_t)drafter][(size_t)verifier];
}

// P(verifier accepts a token that `origin` drafted and `drafter` accepted); the plain rate if
// the problem has no two-type table.
double passed_acceptance(const Problem& p, int origin, int drafter, int verifier) {
    if (p.accept_passed.empty() || origin < 0) return acceptance(p, drafter, verifier);
    return p.accept_passed[(size_t)origin][(size_t)drafter][(size_t)verifier];
}

// The derived fields, from seconds and tokens per top-level call (as evaluate() fills them; its
// prediction for the target alone also refuses a target that costs nothing).
Prediction finish(const Problem& p, double seconds, double tokens, Prediction pr) {
    pr.seconds_per_step = seconds;
    pr.tokens_per_step = tokens;
    pr.seconds_per_token = seconds / tokens;
    pr.tokens_per_second = tokens / seconds;
    pr.speedup = evaluate(p, Chain{}, Variant::Overshoot).seconds_per_token / pr.seconds_per_token;
    return pr;
}

// Next threshold vector in 1..t_max (odometer, first entry fastest); false after the last.
bool next_thresholds(std::vector<int>& t, int t_max) {
    for (int& x : t) {
        if (x < t_max) {
            ++x;
            return true;
        }
        x = 1;
    }
    return false;
}

// Monte-Carlo of the executor's recursion, written independently of the evaluator's algebra.
class Simulator {
public:
    Simulator(const Problem& p, const Chain& c, Variant v, uint64_t seed) : p_(p), c_(c), v_(v), rng_(seed) {
        const size_t depth = c.levels.size();
        batch_sum_.assign(depth, 0.0);
        calls_.assign(depth, 0.0);
        forwards_.assign(depth + 1, 0.0);
    }

    struct Result {
        int tokens = 0;
        double seconds = 0;
        std::vector<uint8_t> passed;  // per token: 1 if passed on from the level below
    };

    // HSD(k): k = 0 bottom, k = depth the target (one round).
    Result call(size_t k) {
        const size_t depth = c_.levels.size();
        Result r;
        if (k == 0) {
            r.tokens = c_.thresholds[0];
            r.passed.assign((size_t)r.tokens, 0);
            r.seconds = r.tokens * pass_cost(p_, -1, c_.levels[0], 1);
            forwards_[0] += r.tokens;
        } else {
            const int below = c_.levels[k - 1];
            const int level = k < depth ? c_.levels[k] : p_.n_drafters;
            const double a_own = acceptance(p_, below, level);
            const double a_passed = k >= 2 ? passed_acceptance(p_, c_.levels[k - 2], below, level) : a_own;
            for (;;) {
                const Result batch = call(k - 1);
                r.seconds += batch.seconds + pass_cost(p_, below, level, batch.tokens + 1);
                forwards_[k] += 1;
                int accepted = 0;
                while (accepted < batch.tokens && uniform() < (batch.passed[(size_t)accepted] ? a_passed : a_own))
                    ++accepted;
                r.tokens += accepted + 1;
                r.passed.insert(r.passed.end(), (size_t)accepted, 1);
                r.passed.push_back(0);
                if (k == depth) return r;
                if (r.tokens >= c_.thresholds[k]) break;
            }
            if (v_ == Variant::Truncate) {
                r.tokens = c_.thresholds[k];
                r.passed.resize((size_t)r.tokens);
            }
        }
        batch_sum_[k] += r.tokens;
        calls_[k] += 1;
        return r;
    }

    Prediction run(int64_t steps) {
        double seconds = 0, tokens = 0;
        Prediction pr;
        if (c_.levels.empty()) {
            seconds = (double)steps * pass_cost(p_, -1, p_.n_drafters, 1);
            tokens = (double)steps;
            forwards_ = {(double)steps};
        } else {
            for (int64_t s = 0; s < steps; ++s) {
                const Result r = call(c_.levels.size());
                seconds += r.seconds;
                tokens += r.tokens;
            }
            for (size_t k = 0; k < calls_.size(); ++k) pr.mean_batch.push_back(batch_sum_[k] / calls_[k]);
        }
        for (double f : forwards_) pr.forwards_per_step.push_back(f / (double)steps);
        return finish(p_, seconds / (double)steps, tokens / (double)steps, std::move(pr));
    }

private:
    double uniform() { return (double)(rng_() >> 11) * 0x1.0p-53; }  // [0, 1): a = 1 always accepts

    const Problem& p_;
    const Chain& c_;
    Variant v_;
    std::mt19937_64 rng_;
    std::vector<double> batch_sum_, calls_, forwards_;
};

void check_t_max(int t_max) {
    if (t_max < 1 || t_max > kMaxTMax) fail(fmt::format("planner: t_max is {}, must be in 1..{}", t_max, kMaxTMax));
}

}  // namespace

Prediction simulate(const Problem& p, const Chain& c, Variant variant, int64_t steps, uint64_t seed) {
    validate(p, c);
    if (steps < 1) fail(fmt::format("planner: simulate needs steps >= 1, got {}", steps));
    return Simulator(p, c, variant, seed).run(steps);
}

Chain optimize_exhaustive(const Problem& p, int t_max, Variant variant) {
    validate(p);
    check_t_max(t_max);
    const double size = std::pow(1.0 + t_max, p.n_drafters);  // subsets x threshold vectors
    if (size > kMaxExhaustiveChains)
        fail(fmt::format("planner: exhaustive search over {} drafters x thresholds 1..{} is {:.3g} chains (limit {:.3g}); "
                         "use optimize_shortest_path or a smaller t_max",
                         p.n_drafters, t_max, size, kMaxExhaustiveChains));
    Chain best;
    double best_l = evaluate(p, best, variant).seconds_per_token;
    for (unsigned mask = 1; mask < (1u << p.n_drafters); ++mask) {
        Chain c;
        for (int i = 0; i < p.n_drafters; ++i)
            if (mask & (1u << i)) c.levels.push_back(i);
        c.thresholds.assign(c.levels.size(), 1);
        do {
            const double l = evaluate(p, c, variant).seconds_per_token;
            if (l < best_l) best_l = l, best = c;
        } while (next_thresholds(c.thresholds, t_max));
    }
    return best;
}

}  // namespace hsd::planner
