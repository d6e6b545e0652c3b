// Forward costs of the profile: a verification pass over 1..n_max tokens of every model, of
// every early-exit pair of the target and of the target itself, and one drafted token, timed on
// the executor's own code path.
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <memory>

#include "common/error.h"
#include "common/stats.h"
#include "common/timer.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "model/staged_context.h"
#include "planner/profiler_internal.h"
#include "speculative/model_drafter.h"
#include "speculative/ngram_drafter.h"
#include "tokenizer/synthetic_tokens.h"

namespace hsd::planner::detail {

namespace {

// Costs of every model and of the target's early-exit pairs, measured round-robin: each
// repetition times every (model, n) and (pair, n), so a change of machine load during the
// profile (shared VMs drift by 10-20% over seconds) shifts all of them alike instead of
// skewing the ratios the planner depends on. Each item runs three times back to back: the
// first run ("cold", after other models evicted the caches) is what a verification pass pays,
// the faster of the other two ("warm") what a drafter pays in its burst of T tokens, whose
// weights stay cached when they fit (measured: hsd-m0 0.05 ms warm, 0.15 ms cold; 2 layers of
// hsd-target fit the 32 MB L3, 16 do not). Medians over the repetitions.
struct CostBench {
    struct Item {
        std::function<double()> run;  // one timed execution, ms
        std::vector<double> cold, warm;
    };
    std::vector<Item> items;

    void run(int reps) {
        for (Item& it : items) it.run();  // warm-up: page in the weights, fill the caches
        for (int r = 0; r < reps; ++r)
            for (Item& it : items) {
                const double c = it.run();
                const double w = std::min(it.run(), it.run());
                it.cold.push_back(c);
                it.warm.push_back(w);
            }
    }
    // Verification costs for n = 1..rows.back() rows from the items added from `first` on,
    // one per entry of `rows`; sizes between two timed ones are interpolated linearly.
    std::vector<double> cold_row(size_t first, const std::vector<int>& rows) const {
        std::vector<double> row((size_t)rows.back());
        for (size_t k = 0; k < rows.size(); ++k) {
            const double v = median(items[first + k].cold);
            row[(size_t)rows[k] - 1] = v;
            if (k == 0) continue;
            const int a = rows[k - 1], b = rows[k];
            const double va = row[(size_t)a - 1];
            for (int n = a + 1; n < b; ++n) row[(size_t)n - 1] = va + (v - va) * (double)(n - a) / (double)(b - a);
        }
        return row;
    }
    // Drafting cost: one row, warm.
    double warm_one(size_t first) const { return median(items[first].warm); }
};

// A verification pass over r rows on the executor's own code path: ModelDrafter::score over
// positions [context, context + r) (the first row plays the level's own unprocessed last token,
// the others the drafts: forward, logits, distributions), then a rollback.
struct ScoreItems {
    std::shared_ptr<StagedContext> state;
    std::vector<std::shared_ptr<ModelDrafter>> views;  // by depth
    std::shared_ptr<Sampler> sampler;
    std::shared_ptr<std::vector<TokenId>> seq;
    std::shared_ptr<std::vector<float>> p;
    std::shared_ptr<std::vector<TokenId>> best;

    ModelDrafter& view(int depth) {
        for (auto& v : views)
            if (v->depth() == depth) return *v;
        internal_error(__FILE__, __LINE__, "view(depth)", fmt::format("no view at depth {}", depth));
    }
};

ScoreItems make_score_items(const Model& m, ThreadPool& pool, const SamplingParams& sp, int context, int n_max,
                            const std::vector<int>& exits) {
    ScoreItems s;
    s.state = std::make_shared<StagedContext>(m, pool, m.config().n_ctx_train);
    for (int e : exits) s.views.push_back(std::make_shared<ModelDrafter>(s.state, e));
    s.views.push_back(std::make_shared<ModelDrafter>(s.state, m.config().n_layer));
    s.sampler = std::make_shared<Sampler>(sp, m.config().n_vocab);
    s.seq = std::make_shared<std::vector<TokenId>>(synthetic_tokens(m.tokenizer(), context + n_max, 7));
    s.p = std::make_shared<std::vector<float>>();
    s.best = std::make_shared<std::vector<TokenId>>();
    s.state->prefill(std::vector<TokenId>(s.seq->begin(), s.seq->begin() + context));
    return s;
}

// Items for r in `rows` rows of the view at depth `to`, the first r-1 rows already run to depth
// `from` (0: nothing run). Returns the index of the first item.
size_t add_score_items(CostBench& b, ScoreItems s, int context, const std::vector<int>& rows, int from, int to) {
    const size_t first = b.items.size();
    for (int r : rows) {
        auto sub = std::make_shared<std::vector<TokenId>>(s.seq->begin(), s.seq->begin() + context + r);
        b.items.push_back({[s, sub, context, r, from, to]() mutable {
                               if (from > 0 && r > 1) s.state->advance(sub->data(), context + r - 1, from, 0);
                               ModelDrafter& v = s.view(to);
                               const double t0 = now_seconds();
                               v.score(*sub, context + 1, *s.sampler, *s.p, *s.best);
                               const double dt = now_seconds() - t0;
                               v.rollback(context);
                               return dt * 1e3;
                           },
                           {}, {}});
    }
    return first;
}

}  // namespace

std::vector<std::pair<int, int>> exit_pairs(const std::vector<int>& exits, int n_layer) {
    std::vector<std::pair<int, int>> pairs;
    for (size_t k = 0; k < exits.size(); ++k) {
        pairs.push_back({0, exits[k]});
        for (size_t l = k + 1; l <= exits.size(); ++l)
            pairs.push_back({exits[k], l < exits.size() ? exits[l] : n_layer});
    }
    return pairs;
}

double ngram_lookup_ms(const std::vector<std::vector<TokenId>>& prompts, int ngram_n) {
    std::vector<double> t;
    for (int r = 0; r < 21; ++r) {
        const double t0 = now_seconds();
        (void)NgramDrafter::lookup(prompts[(size_t)r % prompts.size()], ngram_n, 4);
        t.push_back((now_seconds() - t0) * 1e3);
    }
    return median(t);
}

Profile::ExitPair derive_pair_cost(const std::vector<Profile::ExitPair>& from_zero, int from, int to) {
    for (const Profile::ExitPair& e : from_zero)
        if (e.from == from && e.to == to) return e;
    // Least squares over the views timed from layer 0: cost(d, n) = a(n) + d * b(n), a the
    // head and per-pass overhead, b one layer over n rows.
    const size_t n_max = from_zero.front().cost_ms.size();
    std::vector<double> a(n_max), b(n_max);
    for (size_t n = 0; n < n_max; ++n) {
        double sd = 0, sc = 0, sdd = 0, sdc = 0;
        const double k = (double)from_zero.size();
        for (const Profile::ExitPair& e : from_zero) {
            sd += e.to;
            sc += e.cost_ms[n];
            sdd += (double)e.to * e.to;
            sdc += (double)e.to * e.cost_ms[n];
        }
        const double den = k * sdd - sd * sd;
        b[n] = den > 0 ? std::max(0.0, (k * sdc - sd * sc) / den) : 0.0;
        a[n] = std::max(0.0, (sc - b[n] * sd) / k);
    }
    // n-1 rows resume at `from` and run to `to` together with the last row, which first runs
    // layers 0..from alone (the executor's last draft / correction).
    Profile::ExitPair out{from, to, std::vector<double>(n_max)};
    for (size_t n = 0; n < n_max; ++n) out.cost_ms[n] = a[n] + (double)(to - from) * b[n] + (double)from * b[0];
    return out;
}

static std::vector<int> timed_rows(const ProfileOptions& o) {
    std::vector<int> rows = o.cost_rows;
    if (rows.empty())
        for (int n = 1; n <= o.n_max; ++n) rows.push_back(n);
    HSD_ASSERT(rows.front() == 1 && rows.back() == o.n_max && std::is_sorted(rows.begin(), rows.end()) &&
                   std::adjacent_find(rows.begin(), rows.end()) == rows.end(),
               fmt::format("cost rows must ascend from 1 to n_max = {}", o.n_max));
    return rows;
}

void measure_costs(Profile& p, const ProfileSetup& s) {
    const ProfileOptions& o = s.o;
    const int n_layer = s.target.config().n_layer;
    const std::vector<int> rows = timed_rows(o);
    CostBench bench;
    size_t full = 0;
    std::vector<std::pair<int, int>> pairs =
        o.measure_target ? exit_pairs(s.exits, n_layer) : std::vector<std::pair<int, int>>{};
    const std::vector<std::pair<int, int>> all_pairs = pairs;
    if (o.derive_exit_pairs)  // time exits from layer 0 only (some of them); fit the rest (derive_pair_cost)
        std::erase_if(pairs, [&](const std::pair<int, int>& q) {
            return q.first != 0 || (!o.timed_exits.empty() &&
                                    std::find(o.timed_exits.begin(), o.timed_exits.end(), q.second) == o.timed_exits.end());
        });
    std::vector<size_t> pair_items;
    if (o.measure_target) {
        ScoreItems target_items = make_score_items(s.target, s.pool, o.sampling, p.context, o.n_max, s.exits);
        full = add_score_items(bench, target_items, p.context, rows, 0, n_layer);
        for (auto [from, to] : pairs)
            pair_items.push_back(add_score_items(bench, target_items, p.context, rows, from, to));
    }
    std::vector<size_t> draft_items;  // per candidate; SIZE_MAX: not a model
    for (const ProfileCandidate& c : p.candidates) {
        if (!c.level.is_model()) {
            draft_items.push_back(SIZE_MAX);
            continue;
        }
        const Model& m = s.models.get(c.level.path);
        draft_items.push_back(add_score_items(bench, make_score_items(m, s.pool, o.sampling, p.context, o.n_max, {}),
                                              p.context, rows, 0, m.config().n_layer));
    }
    bench.run(o.reps);

    if (o.measure_target) {
        p.target_cost_ms = bench.cold_row(full, rows);
        p.target_draft_ms = bench.warm_one(full);
        std::vector<Profile::ExitPair> timed;
        for (size_t k = 0; k < pairs.size(); ++k) timed.push_back({pairs[k].first, pairs[k].second, bench.cold_row(pair_items[k], rows)});
        if (o.derive_exit_pairs) {
            timed.push_back({0, n_layer, p.target_cost_ms});
            for (auto [from, to] : all_pairs) p.exit_pairs.push_back(derive_pair_cost(timed, from, to));
        } else {
            p.exit_pairs = timed;
        }
    }
    for (size_t i = 0; i < p.candidates.size(); ++i) {
        ProfileCandidate& c = p.candidates[i];
        if (c.level.is_model()) {
            c.cost_ms = bench.cold_row(draft_items[i], rows);
            c.draft_ms = bench.warm_one(draft_items[i]);
        } else if (c.level.is_exit()) {
            bool timed = false;
            for (size_t k = 0; k < pairs.size(); ++k)
                if (pairs[k].first == 0 && pairs[k].second == c.level.exit_layer) {
                    c.cost_ms = bench.cold_row(pair_items[k], rows);
                    c.draft_ms = bench.warm_one(pair_items[k]);
                    timed = true;
                }
            if (!timed)  // fitted: scale the fitted pass by the warm / cold ratio of the target's
                for (const Profile::ExitPair& e : p.exit_pairs)
                    if (e.from == 0 && e.to == c.level.exit_layer) {
                        c.cost_ms = e.cost_ms;
                        c.draft_ms = e.cost_ms[0] * p.target_draft_ms / std::max(p.target_cost_ms[0], 1e-9);
                    }
        } else {
            c.draft_ms = ngram_lookup_ms(s.prompts, c.level.ngram_n);
            c.cost_ms.assign((size_t)o.n_max, c.draft_ms);
        }
    }
}

}  // namespace hsd::planner::detail
