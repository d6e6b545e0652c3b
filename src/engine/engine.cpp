#include "engine/engine.h"

#include <fmt/format.h>

#include "common/error.h"
#include "model/context.h"
#include "model/forward_batcher.h"
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
    if (!o_.decoding.is_auto()) build("");
}

Session::~Session() = default;

const Tokenizer& Session::tokenizer() const { return target_.tokenizer(); }

std::vector<TokenId> Session::tokenize(const std::string& text) const {
    return tokenizer().encode(text, tokenizer().add_bos_default());
}

void Session::build(const std::string& prompt_text) {
    setup_ = resolve_decoding(target_, o_.decoding, engine_.models(), engine_.pool(), o_.sampling, prompt_text);
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

void Session::start(const std::vector<TokenId>& prompt, int n_predict, bool ignore_eos, const std::string& prompt_text) {
    if (n_predict < 0) fail(fmt::format("-n must be >= 0, got {}", n_predict));
    std::unique_lock<std::mutex> lock = engine_.lock_compute();
    gen_.reset();
    // The plan depends on the prompt: profile on it (before the prompt-fits check, as the
    // profiler cuts long prompts to fit itself).
    if (o_.decoding.is_auto()) build(prompt_text.empty() ? tokenizer().decode(prompt) : prompt_text);
    sampler_ = std::make_unique<Sampler>(o_.sampling, target_.config().n_vocab);
    gen_ = std::make_unique<Generation>(*decoder_, *sampler_, prompt, n_predict, ignore_eos);
}

bool Session::done() const { return !gen_ || gen_->done(); }

const std::vector<TokenId>& Session::step() {
    if (!gen_) fail("Session::step: no generation started (call start() first)");
    std::unique_lock<std::mutex> lock = engine_.lock_compute();
    return gen_->step();
}

void Session::end(const char* reason) {
    if (gen_) gen_->end(reason);
}

SessionResult Session::result() const {
    SessionResult r;
    if (gen_) static_cast<SpeculativeResult&>(r) = gen_->result();
    r.hierarchy = hierarchy_text();
    r.plan = setup_.plan;
    return r;
}

SessionResult Session::generate(const std::string& prompt, int n_predict, bool ignore_eos,
                                const std::function<void(TokenId)>& on_token) {
    start(tokenize(prompt), n_predict, ignore_eos, prompt);
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

std::string Session::hierarchy_text() const { return format_level_list(setup_.levels); }

}  // namespace hsd
