#include "planner/auto_decoder.h"

#include <fmt/format.h>

#include <map>

#include "common/error.h"
#include "model/model.h"
#include "planner/adaptive_decoder.h"
#include "planner/cache_store.h"
#include "planner/cost_cache.h"
#include "planner/online_planner.h"
#include "speculative/hierarchy.h"

namespace hsd::planner {

namespace {
// Weights a view of the first `layers` layers of a model runs (embeddings and head included):
// its size for the neutral acceptance priors.
double size_of(const ModelConfig& c, int layers) {
    const double d = c.n_embd;
    const double layer = d * (2.0 * c.q_dim() + 2.0 * c.kv_dim()) + 3.0 * d * c.n_ff;
    return layers * layer + 2.0 * d * c.n_vocab;
}
}  // namespace

AutoDecoder::AutoDecoder(const Model& target, ModelCache& models, ThreadPool& pool, const AutoRequest& r,
                         const std::vector<TokenId>& prompt) {
    // Drafts are read for their metadata only (vocabulary, size, context; no weights packed):
    // a candidate is loaded when the planner first puts it in the chain, so a warm run pays
    // only for the models it uses.
    std::map<std::string, ModelConfig> draft_config;
    for (const std::string& path : r.drafts) {
        const std::unique_ptr<Model> probe = Model::load(path, false);
        check_same_vocabulary(*probe, target);
        if (probe->config().n_ctx_train < r.n_ctx)
            fail(fmt::format("draft model '{}' supports contexts up to {} tokens, less than the {} in use", path,
                             probe->config().n_ctx_train, r.n_ctx));
        draft_config[path] = probe->config();
    }
    CostRequest cr;
    cr.drafts = r.drafts;
    cr.exits = target.config().exit_layers;
    cr.ngram = 3;
    cr.sampling = r.sampling;
    cr.reprofile = r.reprofile;
    if (r.reprofile) {  // asked for: the thorough measurement (~1-2 s for the shared family)
        cr.reps = 3;
        cr.rows = {1, 2, 3, 4, 6, 8, 12, 16};
        cr.all_exits = true;
    }
    store_ = std::make_unique<CacheStore>(cache_directory());
    CachedCosts cc = cached_costs(target, models, pool, cr, prompt, *store_);
    cost_cache_ = cc.status();
    cost_seconds_ = cc.seconds;

    // The pool of every candidate in the planner's order (cheapest first), each with its
    // identity (what remembered acceptance is keyed by) and size; the target last.
    std::vector<LevelSpec> levels;
    std::vector<nlohmann::json> ids;
    std::vector<double> params;
    const nlohmann::json target_id = file_identity(target.path());
    for (const ProfileCandidate& c : cc.profile.candidates) {
        LevelSpec s = c.level;
        s.threshold = 1;
        levels.push_back(s);
        if (s.is_model()) {
            ids.push_back({{"model", file_identity(s.path)}});
            const ModelConfig& mc = draft_config.at(s.path);
            params.push_back(size_of(mc, mc.n_layer));
        } else if (s.is_exit()) {
            ids.push_back({{"model", target_id}, {"exit", s.exit_layer}});
            params.push_back(size_of(target.config(), s.exit_layer));
        } else {
            ids.push_back({{"ngram", s.ngram_n}});
            params.push_back(0);
        }
    }
    ids.push_back({{"model", target_id}});
    params.push_back(size_of(target.config(), target.config().n_layer));

    OnlineOptions po;
    po.replan_every = r.replan_every;
    planner_ = std::make_unique<OnlinePlanner>(std::move(cc.profile), std::move(ids), *store_, po, std::move(params));
    for (const ProfileCandidate& c : planner_->costs().candidates) names_.push_back(c.name);
    hierarchy_ = std::make_unique<Hierarchy>(
        target, levels, pool,
        HierarchyOptions{.n_ctx = r.n_ctx, .pool_of_candidates = true, .lazy_models = &models});
    std::function<void(const PlanEvent&)> on_event;
    if (r.on_plan_event)
        on_event = [names = names_, f = r.on_plan_event](const PlanEvent& e) { f(e.to_json(names)); };
    decoder_ = std::make_unique<AdaptiveDecoder>(*hierarchy_, *planner_, std::move(on_event));
}

AutoDecoder::~AutoDecoder() = default;

Decoder& AutoDecoder::decoder() { return *decoder_; }

void AutoDecoder::finish() const { planner_->remember(); }

std::vector<LevelSpec> AutoDecoder::levels() const { return chain_levels(planner_->costs(), planner_->current()); }

AutoPlanReport AutoDecoder::report() const {
    AutoPlanReport a;
    const Chain& c = planner_->current();
    a.hierarchy = planner_->describe(c);
    const Prediction pred = planner_->predict(c);
    a.tokens_per_second = pred.tokens_per_second;
    a.speedup = pred.speedup;
    a.cost_seconds = cost_seconds_;
    a.cost_cache = cost_cache_;
    a.history = nlohmann::json::array();
    for (const PlanEvent& e : planner_->history()) a.history.push_back(e.to_json(names_));
    return a;
}

}  // namespace hsd::planner
