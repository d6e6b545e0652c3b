#include "engine/engine.h"

#include <fmt/format.h>

#include "common/error.h"
#include "model/context.h"
#include "model/forward_batcher.h"
#include "model/model.h"
#include "planner/auto_decoder.h"
#include "speculative/hierarchy.h"
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
        hierarchy_ =
            std::make_unique<Hierarchy>(target_, setup_.levels, engine_.pool(), HierarchyOptions{.n_ctx = n_ctx_});
        decoder_ = std::make_unique<SpeculativeDecoder>(*hierarchy_);
    } else {
        if (!ctx_) ctx_ = std::make_unique<Context>(target_, engine_.pool(), n_ctx_);
        decoder_ = std::make_unique<AutoregressiveDecoder>(*ctx_);
    }
}

// The planner's candidates and costs, looked up (or measured) on the first prompt.
void Session::build_auto(const std::vector<TokenId>& prompt) {
    const DecodingRequest& d = o_.decoding;
    planner::AutoRequest r{.drafts = d.auto_drafts,
                           .sampling = o_.sampling,
                           .n_ctx = n_ctx_,
                           .reprofile = d.reprofile,
                           .replan_every = d.replan_every,
                           .on_plan_event = o_.on_plan_event};
    auto_ = std::make_unique<planner::AutoDecoder>(target_, engine_.models(), engine_.pool(), r, prompt);
}

void Session::start(const std::vector<TokenId>& prompt, int n_predict, bool ignore_eos) {
    if (n_predict < 0) fail(fmt::format("-n must be >= 0, got {}", n_predict));
    std::unique_lock<std::mutex> lock = engine_.lock_compute();
    gen_.reset();
    if (o_.decoding.is_auto() && !auto_) build_auto(prompt);
    sampler_ = std::make_unique<Sampler>(o_.sampling, target_.config().n_vocab);
    remembered_ = false;
    Decoder& decoder = auto_ ? auto_->decoder() : *decoder_;
    gen_ = std::make_unique<Generation>(decoder, *sampler_, prompt, n_predict, ignore_eos);
    if (gen_->done()) generation_ended();
}

bool Session::done() const { return !gen_ || gen_->done(); }

void Session::generation_ended() {
    // What this generation taught about acceptance is remembered for the next run.
    if (auto_ && !remembered_) auto_->finish();
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
    if (!auto_) return setup_.plan;
    planner::AutoPlanReport a = auto_->report();
    PlanSummary s;
    s.hierarchy = std::move(a.hierarchy);
    s.tokens_per_second = a.tokens_per_second;
    s.speedup = a.speedup;
    s.profile_seconds = a.cost_seconds;
    s.cost_cache = std::move(a.cost_cache);
    s.history = std::move(a.history);
    return s;
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
    if (auto_) return format_level_list(auto_->levels());
    return format_level_list(setup_.levels);
}

}  // namespace hsd
