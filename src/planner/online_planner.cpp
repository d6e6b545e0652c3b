#include "planner/online_planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "planner/hill_climb.h"
#include "planner/optimizer.h"

namespace hsd::planner {

namespace {
constexpr int kSchema = 1;
constexpr const char* kKind = "acceptance";
constexpr double kRememberCap = 4096;  // samples: older runs fade as new ones come
}  // namespace

nlohmann::json PlanEvent::to_json(const std::vector<std::string>& names) const {
    nlohmann::json a = nlohmann::json::object();
    for (size_t i = 0; i < accept.size() && i < names.size(); ++i) a[names[i]] = accept[i];
    nlohmann::json j = {{"token", token},
                        {"step", step},
                        {"hierarchy", hierarchy},
                        {"predicted_tokens_per_second", predicted_tokens_per_second},
                        {"accept", a}};
    if (previous_tokens_per_second > 0) j["previous_predicted_tokens_per_second"] = previous_tokens_per_second;
    return j;
}

double OnlinePlanner::neutral_prior(const OnlineOptions& o, double drafter, double verifier) {
    const double r = drafter > 0 && verifier > 0 ? drafter / verifier : 1.0;
    return std::clamp(1 / (1 + std::exp(-(o.neutral_a + o.neutral_b * std::log(r)))), o.neutral_min, o.neutral_max);
}

OnlinePlanner::OnlinePlanner(Profile costs, std::vector<nlohmann::json> ids, const CacheStore& store,
                             const OnlineOptions& o, std::vector<double> params)
    : costs_(std::move(costs)), ids_(std::move(ids)), store_(store), o_(o),
      est_((int)costs_.candidates.size() + 1, o.half_life) {
    const int n = est_.n_nodes();
    HSD_ASSERT((int)ids_.size() == n, fmt::format("{} identities for {} planner nodes", ids_.size(), n));
    if (params.empty()) params.assign((size_t)n, 1.0);
    HSD_ASSERT((int)params.size() == n, fmt::format("{} sizes for {} planner nodes", params.size(), n));
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j) {
            const bool ngram = costs_.candidates[(size_t)i].level.is_ngram();
            double prior = ngram ? o_.neutral_ngram : neutral_prior(o_, params[(size_t)i], params[(size_t)j]);
            double weight = o_.neutral_weight;
            if (std::optional<nlohmann::json> v = store_.load(kKind, pair_key(i, j))) {
                if (v->value("accept", -1.0) >= 0 && v->value("accept", 2.0) <= 1 && v->value("samples", 0) > 0) {
                    prior = (*v)["accept"].get<double>();
                    weight = o_.remembered_weight;
                } else {
                    store_.ignore(kKind, pair_key(i, j), "its acceptance is not a rate with samples");
                }
            }
            est_.set_prior(i, j, prior, weight, !ngram);
        }
}

nlohmann::json OnlinePlanner::pair_key(int i, int j) const {
    const SamplingParams& s = costs_.sampling;
    nlohmann::json sampling = "greedy";
    if (!s.greedy())
        sampling = {{"temperature", s.temperature}, {"top_k", s.top_k}, {"top_p", s.top_p}, {"min_p", s.min_p}};
    return {{"schema", kSchema}, {"drafter", ids_[(size_t)i]}, {"verifier", ids_[(size_t)j]}, {"sampling", sampling}};
}

Problem OnlinePlanner::problem() const {
    Profile p = costs_;
    p.accept = est_.matrix();
    return make_problem(p);
}

Chain OnlinePlanner::best() const { return best_fast(problem()); }

// rank_plans costs ~2.5 ms for 8 candidates (its hill climbs try every swap and addition),
// too much every few 3 ms target steps. Instead: the shortest-path optimum (0.1 ms), the
// current chain, no speculation and every single drafter at its best threshold, each refined by
// threshold steps and level drops on the exact (overshoot) latency.
Chain OnlinePlanner::best_fast(const Problem& pr) const {
    auto latency = [&](const Chain& c) { return evaluate(pr, c, Variant::Overshoot).seconds_per_token; };
    std::vector<Chain> starts = {optimize_shortest_path(pr, o_.t_max), current_, Chain{}};
    for (int d = 0; d < pr.n_drafters; ++d) starts.push_back(best_single(d, o_.t_max, latency));
    // Moves within rounding of the current latency are not taken.
    return hill_climb(starts, pr.n_drafters, {.t_max = o_.t_max, .min_gain = 1e-9}, latency);
}

Prediction OnlinePlanner::predict(const Chain& chain) const { return evaluate(problem(), chain, Variant::Overshoot); }

std::string OnlinePlanner::describe(const Chain& c) const { return chain_text(costs_, c); }

void OnlinePlanner::record(const Chain& c, int64_t step, int64_t token, double previous) {
    PlanEvent e;
    e.token = token;
    e.step = step;
    e.chain = c;
    e.hierarchy = describe(c);
    e.predicted_tokens_per_second = predict(c).tokens_per_second;
    e.previous_tokens_per_second = previous;
    const int target = n_candidates();
    for (int i = 0; i < target; ++i) e.accept.push_back(est_.estimate(i, target));
    history_.push_back(std::move(e));
}

Chain OnlinePlanner::start() {
    history_.clear();  // the history is per generation; the estimates carry over
    current_ = best();
    record(current_, 0, 0, 0);
    return current_;
}

void OnlinePlanner::force(const Chain& chain, int64_t step, int64_t token) {
    const double previous = predict(current_).tokens_per_second;
    current_ = chain;
    record(current_, step, token, previous);
}

std::optional<Chain> OnlinePlanner::after_step(int64_t step, int64_t token, int64_t left,
                                               const std::function<int64_t(int)>& lag) {
    if (o_.replan_every <= 0 || step % o_.replan_every != 0 || left <= 1) return std::nullopt;
    const Problem pr = problem();
    const Chain cand = best_fast(pr);
    if (cand == current_) return std::nullopt;
    const double l_cur = evaluate(pr, current_, Variant::Overshoot).seconds_per_token;
    const double l_new = evaluate(pr, cand, Variant::Overshoot).seconds_per_token;
    if (!(l_new < l_cur * (1 - o_.margin))) return std::nullopt;
    // A model that joins catches up on what it has not processed: about one batched pass per
    // kept-cost batch of tokens (its largest timed batch, per token).
    double switch_seconds = 0;
    for (int c : cand.levels) {
        if (std::find(current_.levels.begin(), current_.levels.end(), c) != current_.levels.end()) continue;
        const ProfileCandidate& pc = costs_.candidates[(size_t)c];
        if (!pc.level.is_model() || pc.cost_ms.empty()) continue;
        switch_seconds += (double)lag(c) * pc.cost_ms.back() / (double)pc.cost_ms.size() * 1e-3;
    }
    const double gain = (l_cur - l_new) * (double)std::min<int64_t>(left, o_.horizon);
    if (gain <= 2 * switch_seconds) return std::nullopt;
    const double previous = 1 / l_cur;
    current_ = cand;
    record(current_, step, token, previous);
    return current_;
}

void OnlinePlanner::remember() const {
    if (!store_.enabled()) return;
    const int n = est_.n_nodes();
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j) {
            const int64_t rn = est_.run_judged(i, j);
            if (rn == 0) continue;
            double mean = 0, samples = 0;
            if (std::optional<nlohmann::json> v = store_.load(kKind, pair_key(i, j))) {
                mean = std::clamp(v->value("accept", 0.0), 0.0, 1.0);
                samples = std::min(std::max(v->value("samples", 0.0), 0.0), kRememberCap);
            }
            const double m = (mean * samples + (double)est_.run_accepted(i, j)) / (samples + (double)rn);
            store_.store(kKind, pair_key(i, j), {{"accept", m}, {"samples", samples + (double)rn}});
        }
}

}  // namespace hsd::planner
