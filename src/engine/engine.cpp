#include "engine/engine.h"

#include <fmt/format.h>

#include <map>

#include "common/error.h"
#include "model/context.h"
#include "model/forward_batcher.h"
#include "speculative/hierarchy.h"
#include "decoding/adaptive_decoder.h"
#include "model/model.h"
#include "planner/cache_store.h"
#include "planner/cost_cache.h"
#include "planner/online_planner.h"
#include "speculative/hierarchy_syntax.h"

namespace hsd {

Engine::Engine(const EngineOptions& o) : pool_(o.threads > 0 ? o.threads : ThreadPool::default_threads()) {}

std::unique_lock<std::mutex> Engine::lock_compute() {
    if (ForwardBatcher::current()) return {};
    return std::unique_lock<std::mutex>(compute_);
}

namespace {
// What the options say on their own is checked before any model is loaded, so bad flags fail fast.
const Model& load_checked(Engine& engine, const SessionOptions& o) {
    o.decoding.validate();
    o.sampling.validate();
    return engine.model(o.model);
}
}  // namespace

Session::Session(Engine& engine, SessionOptions options)
    : engine_(engine), o_(std::move(options)), target_(load_checked(engine, o_)) {
    const ModelConfig& c = target_.config();
    if (o_.n_ctx < 0 || o_.n_ctx > c.n_ctx_train)
        fail(fmt::format("-c {} is out of range: {} supports contexts up to {} tokens", o_.n_ctx, o_.model,
                         c.n_ctx_train));
    n_ctx_ = o_.n_ctx > 0 ? o_.n_ctx : c.n_ctx_train;
    if (!o_.decoding.is_auto()) build();
}

Session::~Session() = default;

const Tokenizer& Session::tokenizer() const { return target_.tokenizer(); }

std::vector<TokenId> Session::tokenize(const std::string& text) const {
    return tokenizer().encode(text, tokenizer().add_bos_default());
}

void Session::build() {
    setup_ = resolve_decoding(target_, o_.decoding, engine_.models());
    gen_.reset();
    decoder_.reset();
    hierarchy_.reset();
    if (!setup_.levels.empty()) {
        hierarchy_ = std::make_unique<Hierarchy>(target_, setup_.levels, engine_.pool(), n_ctx_);
        decoder_ = std::make_unique<SpeculativeDecoder>(*hierarchy_);
    } else {
        if (!ctx_) ctx_ = std::make_unique<Context>(target_, engine_.pool(), n_ctx_);
        decoder_ = std::make_unique<AutoregressiveDecoder>(*ctx_);
    }
}

// The pool of every candidate (the drafts, the target's early exits, the n-gram drafter) in
// the planner's order, their costs from the cache, and the online planner over them.
void Session::build_auto(const std::vector<TokenId>& prompt) {
    const DecodingRequest& d = o_.decoding;
    // Drafts are read for their metadata only (vocabulary, size, context; no weights packed):
    // a candidate is loaded when the planner first puts it in the chain, so a warm run pays
    // only for the models it uses.
    std::map<std::string, ModelConfig> draft_config;
    for (const std::string& path : d.auto_drafts) {
        const std::unique_ptr<Model> probe = Model::load(path, false);
        check_same_vocabulary(*probe, target_);
        if (probe->config().n_ctx_train < n_ctx_)
            fail(fmt::format("draft model '{}' supports contexts up to {} tokens, less than the {} in use", path,
                             probe->config().n_ctx_train, n_ctx_));
        draft_config[path] = probe->config();
    }
    planner::CostRequest cr;
    cr.drafts = d.auto_drafts;
    cr.exits = target_.config().exit_layers;
    cr.ngram = 3;
    cr.sampling = o_.sampling;
    cr.reprofile = d.reprofile;
    if (d.reprofile) {  // asked for: the thorough measurement (~1-2 s for the shared family)
        cr.reps = 3;
        cr.rows = {1, 2, 3, 4, 6, 8, 12, 16};
        cr.all_exits = true;
    }
    store_ = std::make_unique<planner::CacheStore>(planner::cache_directory());
    planner::CachedCosts cc = planner::cached_costs(target_, engine_.models(), engine_.pool(), cr, prompt, *store_);
    cost_cache_ = cc.status();
    cost_seconds_ = cc.seconds;
    std::vector<nlohmann::json> ids;
    std::vector<double> params;  // sizes, for the neutral acceptance priors
    // Weights a view of the first `layers` layers of a model runs (embeddings and head included).
    auto size_of = [](const ModelConfig& c, int layers) {
        const double d = c.n_embd;
        const double layer = d * (2.0 * c.q_dim() + 2.0 * c.kv_dim()) + 3.0 * d * c.n_ff;
        return layers * layer + 2.0 * d * c.n_vocab;
    };
    std::vector<LevelSpec> levels;
    const nlohmann::json target_id = planner::file_identity(target_.path());
    for (const planner::ProfileCandidate& c : cc.profile.candidates) {
        LevelSpec s = c.level;
        s.threshold = 1;
        levels.push_back(s);
        if (s.is_model()) {
            ids.push_back({{"model", planner::file_identity(s.path)}});
            const ModelConfig& mc = draft_config.at(s.path);
            params.push_back(size_of(mc, mc.n_layer));
        } else if (s.is_exit()) {
            ids.push_back({{"model", target_id}, {"exit", s.exit_layer}});
            params.push_back(size_of(target_.config(), s.exit_layer));
        } else {
            ids.push_back({{"ngram", s.ngram_n}});
            params.push_back(0);
        }
    }
    ids.push_back({{"model", target_id}});
    params.push_back(size_of(target_.config(), target_.config().n_layer));
    planner::OnlineOptions po;
    po.replan_every = d.replan_every;
    planner_ = std::make_unique<planner::OnlinePlanner>(std::move(cc.profile), std::move(ids), *store_, po,
                                                        std::move(params));
    hierarchy_ = std::make_unique<Hierarchy>(target_, levels, engine_.pool(), n_ctx_, VerifyRule::Exact, true,
                                             &engine_.models());
    std::vector<std::string> names;
    for (const planner::ProfileCandidate& c : planner_->costs().candidates) names.push_back(c.name);
    auto on_event = [this, names](const planner::PlanEvent& e) {
        if (o_.on_plan_event) o_.on_plan_event(e.to_json(names));
    };
    decoder_ = std::make_unique<AdaptiveDecoder>(*hierarchy_, *planner_, on_event);
}

void Session::start(const std::vector<TokenId>& prompt, int n_predict, bool ignore_eos) {
    if (n_predict < 0) fail(fmt::format("-n must be >= 0, got {}", n_predict));
    std::unique_lock<std::mutex> lock = engine_.lock_compute();
    gen_.reset();
    if (o_.decoding.is_auto() && !planner_) build_auto(prompt);
    sampler_ = std::make_unique<Sampler>(o_.sampling, target_.config().n_vocab);
    remembered_ = false;
    gen_ = std::make_unique<Generation>(*decoder_, *sampler_, prompt, n_predict, ignore_eos);
    if (gen_->done()) generation_ended();
}

bool Session::done() const { return !gen_ || gen_->done(); }

void Session::generation_ended() {
    // What this generation taught about acceptance is remembered for the next run.
    if (planner_ && !remembered_) planner_->remember();
    remembered_ = true;
}

const std::vector<TokenId>& Session::step() {
    if (!gen_) fail("Session::step: no generation started (call start() first)");
    std::unique_lock<std::mutex> lock = engine_.lock_compute();
    const std::vector<TokenId>& out = gen_->step();
    if (gen_->done()) generation_ended();
    return out;
}

void Session::end(const char* reason) {
    if (!gen_) return;
    gen_->end(reason);
    generation_ended();
}

SessionResult Session::result() const {
    SessionResult r;
    if (gen_) static_cast<SpeculativeResult&>(r) = gen_->result();
    r.hierarchy = hierarchy_text();
    r.plan = plan();
    return r;
}

std::optional<PlanSummary> Session::plan() const {
    if (!planner_) return setup_.plan;
    {
        PlanSummary s;
        const planner::Chain& c = planner_->current();
        s.hierarchy = planner_->describe(c);
        const planner::Prediction pred = planner_->predict(c);
        s.tokens_per_second = pred.tokens_per_second;
        s.speedup = pred.speedup;
        s.profile_seconds = cost_seconds_;
        s.cost_cache = cost_cache_;
        s.history = nlohmann::json::array();
        std::vector<std::string> names;
        for (const planner::ProfileCandidate& pc : planner_->costs().candidates) names.push_back(pc.name);
        for (const planner::PlanEvent& e : planner_->history()) s.history.push_back(e.to_json(names));
        return s;
    }
}

SessionResult Session::generate(const std::string& prompt, int n_predict, bool ignore_eos,
                                const std::function<void(TokenId)>& on_token) {
    start(tokenize(prompt), n_predict, ignore_eos);
    while (!done())
        for (TokenId t : step())
            if (on_token) on_token(t);
    return result();
}

void Session::set_sampling(const SamplingParams& sampling) {
    sampling.validate();
    o_.sampling = sampling;
}

const float* Session::last_logits() const {
    auto* ar = dynamic_cast<const AutoregressiveDecoder*>(decoder_.get());
    return ar ? ar->last_logits() : nullptr;
}

std::string Session::hierarchy_text() const {
    if (planner_) return format_level_list(planner::chain_levels(planner_->costs(), planner_->current()));
    return format_level_list(setup_.levels);
}

}  // namespace hsd
