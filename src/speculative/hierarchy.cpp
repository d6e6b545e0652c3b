#include "speculative/hierarchy.h"

#include <algorithm>
#include <fmt/format.h>

#include "common/error.h"
#include "common/timer.h"
#include "model/model_cache.h"
#include "speculative/ngram_drafter.h"

namespace hsd {

namespace {

// "'▁the' (type 1)": a token as the messages show it.
std::string token_text(const Tokenizer& t, TokenId id) {
    return fmt::format("'{}' (type {})", t.piece(id), static_cast<int32_t>(t.type(id)));
}

// Ids below both sizes must mean the same token: same text and same type (a control token and
// a normal one with the same text encode and decode differently).
void check_shared_ids(const Model& a, const Model& b) {
    const Tokenizer& ta = a.tokenizer();
    const Tokenizer& tb = b.tokenizer();
    const int n = std::min(ta.n_vocab(), tb.n_vocab());
    for (TokenId i = 0; i < n; ++i)
        if (ta.piece(i) != tb.piece(i) || ta.type(i) != tb.type(i))
            fail(fmt::format("speculative decoding needs compatible vocabularies, but '{}' and '{}' differ first at "
                             "token id {}: {} vs {}",
                             a.path(), b.path(), i, token_text(ta, i), token_text(tb, i)));
}

}  // namespace

void check_same_vocabulary(const Model& a, const Model& b) {
    check_shared_ids(a, b);
    const int na = a.tokenizer().n_vocab(), nb = b.tokenizer().n_vocab();
    if (na != nb)
        fail(fmt::format("speculative decoding needs identical vocabularies, but '{}' has {} tokens and '{}' has {} "
                         "(first differing token id {})",
                         a.path(), na, b.path(), nb, std::min(na, nb)));
}

void check_draft_vocabulary(const Model& draft, const Model& above) {
    check_shared_ids(draft, above);
    const int nd = draft.tokenizer().n_vocab(), na = above.tokenizer().n_vocab();
    if (nd > na)
        fail(fmt::format("draft '{}' has {} tokens, more than the {} of '{}' above it: it could propose ids the "
                         "verifier does not have (first differing token id {})",
                         draft.path(), nd, na, above.path(), na));
}

Hierarchy::Hierarchy(const Model& target, const std::vector<LevelSpec>& levels, ThreadPool& pool,
                     const HierarchyOptions& o)
    : pool_(&pool), lazy_models_(o.lazy_models), rule_(o.rule) {
    if (levels.empty()) fail("a speculative hierarchy needs at least one draft level below the target");
    n_ctx_ = o.n_ctx > 0 ? o.n_ctx : target.config().n_ctx_train;
    n_vocab_ = target.config().n_vocab;
    const Model* above = &target;
    // Check from the top down so a message names the pair that actually meets.
    int deeper_exit = target.config().n_layer + 1;
    for (size_t i = levels.size(); i-- > 0;) {
        const LevelSpec& s = levels[i];
        if (s.threshold < 1)
            fail(fmt::format("speculative level {} ({}) has threshold {}; thresholds must be >= 1", i, s.name(),
                             s.threshold));
        if (s.is_exit()) {
            const ModelConfig& c = target.config();
            // (The loader keeps only exits in 1..n_layer-1, so a listed exit stops before the last layer.)
            if (!target.is_exit_layer(s.exit_layer))
                fail(fmt::format("@{}: '{}' has no early exit after layer {} ({})", s.exit_layer, target.path(),
                                 s.exit_layer,
                                 c.exit_layers.empty() ? "it lists no hsd.early_exit.layers"
                                                       : "its early exits are after layers " + c.exit_layers_text()));
            if (s.exit_layer >= deeper_exit)
                fail(fmt::format("early exits of the target must be listed shallowest first: @{} is below @{}",
                                 s.exit_layer, deeper_exit));
            deeper_exit = s.exit_layer;
            continue;
        }
        if (s.is_ngram()) {
            if (i != 0) fail("the n-gram drafter can only be the bottom level of a hierarchy");
            continue;
        }
        if (!s.model && o.pool_of_candidates && o.lazy_models) continue;  // loaded (and checked) when it joins
        HSD_ASSERT(s.model, fmt::format("model level '{}' was not loaded (resolve_models)", s.path));
        check_draft_vocabulary(*s.model, *above);
        if (o.pool_of_candidates) {  // any model above may come to verify it
            check_draft_vocabulary(*s.model, target);
            for (size_t j = i + 1; j < levels.size(); ++j)
                if (levels[j].is_model() && levels[j].model) check_draft_vocabulary(*s.model, *levels[j].model);
        }
        if (s.model->config().n_ctx_train < n_ctx_)
            fail(fmt::format("draft model '{}' supports contexts up to {} tokens, less than the {} in use", s.model->path(),
                             s.model->config().n_ctx_train, n_ctx_));
        above = s.model;
    }
    // The target and its early exits share one staged context (one KV cache, resumed hidden
    // states); independent draft models each get their own.
    target_state_ = std::make_shared<StagedContext>(target, pool, n_ctx_);
    // Roles are fixed here: every level but an n-gram bottom is a model that verifies.
    levels_.resize(levels.size() + 1);
    for (size_t i = 0; i <= levels.size(); ++i) {
        Level& l = levels_[i];
        l.batch.n_vocab = n_vocab_;
        if (i == levels.size()) {  // the target
            auto m = std::make_unique<ModelDrafter>(target_state_, target.config().n_layer);
            l.model = m.get();
            l.drafter = std::move(m);
            break;
        }
        const LevelSpec& s = levels[i];
        l.spec = s;
        l.threshold = s.threshold;
        if (s.is_exit()) {
            auto m = std::make_unique<ModelDrafter>(target_state_, s.exit_layer);
            l.model = m.get();
            l.drafter = std::move(m);
        } else if (s.is_model() && !s.model) {
            continue;  // a pool candidate loaded when it first joins
        } else if (s.is_model()) {
            // Rows in the target's width: a prefix-vocabulary draft gives 0 to the ids it lacks.
            auto m = std::make_unique<ModelDrafter>(*s.model, pool, n_ctx_, n_vocab_);
            l.model = m.get();
            l.drafter = std::move(m);
        } else {
            l.drafter = std::make_unique<NgramDrafter>(s.ngram_n, n_vocab_);
        }
        l.drafter->stats().threshold = s.threshold;
    }
    // With candidates still to load, the chain starts as the target alone.
    const bool all_loaded = std::all_of(levels_.begin(), levels_.end(), [](const Level& l) { return l.drafter != nullptr; });
    for (size_t i = 0; i < levels_.size(); ++i)
        if (all_loaded || i + 1 == levels_.size()) chain_.push_back((int)i);
    for (int i : chain_) levels_[(size_t)i].ever_active = true;
}

void Hierarchy::rollback_all(int64_t len) {
    for (Level& l : levels_)
        if (l.drafter) l.drafter->rollback(len);
}

void Hierarchy::start(const std::vector<TokenId>& prompt) {
    // Every candidate forgets the last generation (an inactive one would otherwise keep logits
    // for a prefix that no longer exists); only the active ones prefill, the others catch up
    // when they join.
    rollback_all(0);
    for (int idx : chain_) levels_[(size_t)idx].drafter->prefill(prompt);
    seq_ = prompt;
}

void Hierarchy::truncate(int64_t len) {
    if (len < (int64_t)seq_.size()) seq_.resize((size_t)len);
    rollback_all(len);
}

int64_t Hierarchy::lag(int candidate) const {
    HSD_ASSERT(candidate >= 0 && candidate < n_candidates(), fmt::format("no candidate {}", candidate));
    const Level& l = levels_[(size_t)candidate];
    if (!l.drafter) return (int64_t)seq_.size();  // not loaded yet: catches up on everything
    if (!l.model || l.model->shares(*target_state_)) return 0;
    return (int64_t)seq_.size() - l.model->n_processed();
}

void Hierarchy::set_chain(const std::vector<int>& active, const std::vector<int>& thresholds) {
    if (active.size() != thresholds.size())
        fail(fmt::format("a chain of {} levels needs {} thresholds, got {}", active.size(), active.size(),
                         thresholds.size()));
    for (size_t k = 0; k < active.size(); ++k) {
        if (active[k] < 0 || active[k] >= n_candidates())
            fail(fmt::format("chain level {} is candidate {}, but there are {} candidates", k, active[k],
                             n_candidates()));
        if (k > 0 && active[k] <= active[k - 1]) fail("a chain's candidates must be in increasing pool order");
        if (thresholds[k] < 1) fail(fmt::format("chain level {} has threshold {}; thresholds must be >= 1", k, thresholds[k]));
    }
    chain_ = active;
    chain_.push_back(n_candidates());
    for (size_t k = 0; k < active.size(); ++k) {
        Level& l = levels_[(size_t)active[k]];
        if (!l.drafter) {  // first use of a lazily loaded candidate
            HSD_ASSERT(lazy_models_, "a pool candidate without a model and no model cache to load it from");
            const Model& m = lazy_models_->get(l.spec.path);
            check_draft_vocabulary(m, target().model());
            auto md = std::make_unique<ModelDrafter>(m, *pool_, n_ctx_, n_vocab_);
            l.model = md.get();
            l.drafter = std::move(md);
        }
        l.threshold = thresholds[k];
        l.drafter->stats().threshold = thresholds[k];
        l.ever_active = true;
        // A model that never ran on this sequence catches up in one prefill batch; one that
        // ran before resumes where it stopped (its next pass feeds what it lacks).
        if (!seq_.empty() && l.drafter->n_processed() == 0 && l.model) l.drafter->prefill(seq_);
    }
}

void Hierarchy::reset_stats() {
    for (Level& l : levels_) {
        l.ever_active = false;
        if (l.drafter) l.drafter->stats().reset_counters();
    }
    for (int idx : chain_) levels_[(size_t)idx].ever_active = true;
}

std::vector<LevelStats> Hierarchy::stats() const {
    std::vector<LevelStats> out;
    for (const Level& l : levels_)
        if (l.ever_active && l.drafter) out.push_back(l.drafter->stats());
    return out;
}

std::vector<LevelStats> Hierarchy::all_stats() const {
    std::vector<LevelStats> out;
    for (const Level& l : levels_) {
        if (l.drafter) {
            out.push_back(l.drafter->stats());
        } else {
            out.emplace_back();
            out.back().name = l.spec.path;
        }
    }
    return out;
}

const std::vector<TokenId>& Hierarchy::step(Sampler& sampler, int max_n) {
    HSD_ASSERT(max_n >= 1, fmt::format("a speculative step asked for {} tokens", max_n));
    sampler_ = &sampler;
    const size_t start = seq_.size();
    if (n_levels() == 1) {
        // No drafters: the target decodes one token itself (autoregressive, exactly).
        DraftBatch& out = levels_.back().batch;
        levels_.back().drafter->draft(seq_, 1, sampler, out);
        seq_.insert(seq_.end(), out.tokens.begin(), out.tokens.end());
    } else {
        run_level(n_levels() - 1, max_n);
    }
    committed_.assign(seq_.begin() + (std::ptrdiff_t)start, seq_.end());
    return committed_;
}

void Hierarchy::run_level(int idx, int max_n) {
    Level& self = in_chain(idx);
    DraftBatch& out = self.batch;
    out.clear();
    if (idx == 0) {
        self.drafter->draft(seq_, std::min(self.threshold, max_n), *sampler_, out);
        seq_.insert(seq_.end(), out.tokens.begin(), out.tokens.end());
        return;
    }
    ModelDrafter& verifier = *self.model;  // levels above the bottom are models
    Level& lower = in_chain(idx - 1);
    LevelStats& ds = lower.drafter->stats();
    DraftBatch& below = lower.batch;
    const bool top = idx == n_levels() - 1;
    for (;;) {
        // A verification emits at most (drafts + 1) tokens: ask for no more than fits.
        const int room = max_n - (int)out.size() - 1;
        if (room > 0)
            run_level(idx - 1, room);
        else
            below.clear();
        const int64_t base = (int64_t)seq_.size() - (int64_t)below.size();
        if (room > 0) {
            if (below.empty()) ds.record_empty();  // asked and got nothing: a failed proposal
            if (observer_) observer_->on_proposal(chain_[(size_t)idx - 1], chain_[(size_t)idx], base, below.tokens);
        }
        verifier.score(seq_, base, *sampler_, p_, best_);
        const double t0 = now_seconds();
        const VerifyOutcome v = verify_drafts(below, p_, best_, *sampler_, rule_, out);
        verifier.stats().add_seconds(now_seconds() - t0);

        ds.record_batch((int64_t)below.size(), v.n_accepted);
        // Only tokens the verifier actually judged: the accepted prefix and the first rejected
        // one (later drafts were never compared), so rates estimate P(accept | reached).
        for (size_t t = 0; t < below.size() && (int64_t)t <= v.n_accepted; ++t)
            ds.record_judged(t, below.own[t], (int64_t)t < v.n_accepted);  // (every push records own)

        // Keep the accepted prefix, append the replacement / bonus; levels 0..idx forget the rest.
        const int64_t keep = base + v.n_accepted;
        seq_.resize((size_t)keep);
        seq_.push_back(v.next);
        // Every candidate, active or not, forgets what was cut (inactive ones hold nothing
        // past the committed prefix, so for them this only drops kept logits if any).
        rollback_all(keep);
        if (observer_) observer_->on_cut(keep);

        if (top || (int)out.size() >= self.threshold || (int)out.size() >= max_n) return;
    }
}

}  // namespace hsd
