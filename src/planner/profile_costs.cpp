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
        for (int r = 0; r < reps + 1; ++r)
            for (Item& it : items) {
                const double c = it.run();
                const double w = std::min(it.run(), it.run());
                if (r > 0) {  // the first round warms up
                    it.cold.push_back(c);
                    it.warm.push_back(w);
                }
            }
    }
    // Verification costs of the items for n = 1..n_max rows, added from `first` on.
    std::vector<double> cold_row(size_t first, int n_max) const {
        std::vector<double> row;
        for (int n = 1; n <= n_max; ++n) row.push_back(median(items[first + (size_t)n - 1].cold));
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

// Items for r = 1..n_max rows of the view at depth `to`, the first r-1 rows already run to depth
// `from` (0: nothing run). Returns the index of the first item.
size_t add_score_items(CostBench& b, ScoreItems s, int context, int n_max, int from, int to) {
    const size_t first = b.items.size();
    for (int r = 1; r <= n_max; ++r) {
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

// The (from, to) depths a chain of early exits can pay: every exit from scratch (from = 0), and
// every exit or the full target (n_layer) above a shallower exit.
std::vector<std::pair<int, int>> exit_pairs(const std::vector<int>& exits, int n_layer) {
    std::vector<std::pair<int, int>> pairs;
    for (size_t k = 0; k < exits.size(); ++k) {
        pairs.push_back({0, exits[k]});
        for (size_t l = k + 1; l <= exits.size(); ++l)
            pairs.push_back({exits[k], l < exits.size() ? exits[l] : n_layer});
    }
    return pairs;
}

// The n-gram drafter runs no model: its cost is a lookup over a prompt-sized sequence, ms.
double ngram_lookup_ms(const std::vector<std::vector<TokenId>>& prompts, int ngram_n) {
    std::vector<double> t;
    for (int r = 0; r < 21; ++r) {
        const double t0 = now_seconds();
        (void)NgramDrafter::lookup(prompts[(size_t)r % prompts.size()], ngram_n, 4);
        t.push_back((now_seconds() - t0) * 1e3);
    }
    return median(t);
}

}  // namespace

void measure_costs(Profile& p, const ProfileSetup& s) {
    const ProfileOptions& o = s.o;
    const int n_layer = s.target.config().n_layer;
    CostBench bench;
    ScoreItems target_items = make_score_items(s.target, s.pool, o.sampling, p.context, o.n_max, s.exits);
    const size_t full = add_score_items(bench, target_items, p.context, o.n_max, 0, n_layer);
    const std::vector<std::pair<int, int>> pairs = exit_pairs(s.exits, n_layer);
    std::vector<size_t> pair_items;
    for (auto [from, to] : pairs)
        pair_items.push_back(add_score_items(bench, target_items, p.context, o.n_max, from, to));
    std::vector<size_t> draft_items;  // per candidate; SIZE_MAX: not a model
    for (const ProfileCandidate& c : p.candidates) {
        if (!c.level.is_model()) {
            draft_items.push_back(SIZE_MAX);
            continue;
        }
        const Model& m = s.models.get(c.level.path);
        draft_items.push_back(add_score_items(bench, make_score_items(m, s.pool, o.sampling, p.context, o.n_max, {}),
                                              p.context, o.n_max, 0, m.config().n_layer));
    }
    bench.run(o.reps);

    p.target_cost_ms = bench.cold_row(full, o.n_max);
    p.target_draft_ms = bench.warm_one(full);
    for (size_t k = 0; k < pairs.size(); ++k)
        p.exit_pairs.push_back({pairs[k].first, pairs[k].second, bench.cold_row(pair_items[k], o.n_max)});
    for (size_t i = 0; i < p.candidates.size(); ++i) {
        ProfileCandidate& c = p.candidates[i];
        if (c.level.is_model()) {
            c.cost_ms = bench.cold_row(draft_items[i], o.n_max);
            c.draft_ms = bench.warm_one(draft_items[i]);
        } else if (c.level.is_exit()) {
            for (size_t k = 0; k < pairs.size(); ++k)
                if (pairs[k].first == 0 && pairs[k].second == c.level.exit_layer) {
                    c.cost_ms = bench.cold_row(pair_items[k], o.n_max);
                    c.draft_ms = bench.warm_one(pair_items[k]);
                }
        } else {
            c.draft_ms = ngram_lookup_ms(s.prompts, c.level.ngram_n);
            c.cost_ms.assign((size_t)o.n_max, c.draft_ms);
        }
    }
}

}  // namespace hsd::planner::detail
