// Acceptance rates of the profile: every candidate judged by every later one and by the
// target, along trajectories each verifier generated itself, plus the two-type statistics
// (tokens one level drafted and the next accepted).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "decoding/generate.h"
#include "model/context.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "model/staged_context.h"
#include "planner/profiler_internal.h"
#include "speculative/ngram_drafter.h"

namespace hsd::planner::detail {

namespace {

constexpr int kRun = 8;         // longest run of drafts followed when estimating acceptance
constexpr int64_t kBlock = 32;  // positions whose logits are produced at once

// Next-token distributions (after the sampling transform) of one candidate along a sequence,
// or its proposals (n-gram): rows for positions [first, first + count).
struct Rows {
    std::vector<float> probs;       // count x V (models and exits)
    std::vector<TokenId> argmax;    // count
    std::vector<TokenId> proposal;  // n-gram: count x kRun proposed tokens, -1 = none
};

// Rows for positions [first, end): argmax and sampling distribution of each row of logits.
// logits_of(pos, n) gives the logits of n positions from pos on; it is asked for consecutive
// blocks in increasing order (a Context evaluates as it is asked).
template <typename LogitsOf>
void extract_rows(int64_t first, int64_t end, int V, const Sampler& warp, LogitsOf&& logits_of, Rows& rows) {
    const int64_t count = end - first;
    rows.probs.resize((size_t)(count * V));
    rows.argmax.resize((size_t)count);
    std::vector<float> probs;
    for (int64_t pos = first; pos < end; pos += kBlock) {
        const int64_t n = std::min<int64_t>(kBlock, end - pos);
        const float* logits = logits_of(pos, n);
        for (int64_t t = 0; t < n; ++t) {
            const float* row = logits + t * V;
            rows.argmax[(size_t)(pos - first + t)] = argmax(row, V);
            warp.probabilities(row, probs);
            std::copy(probs.begin(), probs.end(), rows.probs.begin() + (pos - first + t) * V);
        }
    }
}

// The walk both drafter kinds are estimated with. Acceptance comes in runs (easy stretches of
// code, copied continuations), so estimate the rate the way the executor samples positions: a
// verification judges drafts from t until the first rejection (at most kRun), the verifier's
// own token takes the next position, the next batch starts after it. Geometric estimate:
// E[accepted] / (E[accepted] + P(a rejection ended the batch)).
// accept(t, k): P(the verifier accepts draft k of the batch from t, the drafts before it
// accepted), or nullopt where the drafter proposes nothing more: the batch ends there without
// a rejection, except that no draft at all counts as one failure.
template <typename Accept>
void walk(int64_t count, Accept&& accept, double& accepted, double& judged) {
    for (int64_t t = 0; t < count;) {
        double run = 0, all = 1;
        int m = 0;
        for (int k = 0; k < kRun && t + k < count; ++k) {
            const std::optional<double> a = accept(t, k);
            if (!a) break;
            ++m;
            all *= *a;
            run += all;
        }
        accepted += run;
        judged += run + (m == 0 ? 1.0 : 1.0 - all);
        t += (int64_t)(run + 0.5) + 1;
    }
}

// The acceptance phase, fed one trajectory at a time: sums over all of them, indexed by
// candidate in the profile's order (C = the target).
class AcceptanceMeter {
public:
    AcceptanceMeter(const Profile& p, const ProfileSetup& s)
        : p_(p), s_(s), C_(p.candidates.size()), V_(s.target.config().n_vocab), greedy_(s.o.sampling.greedy()),
          warp_(s.o.sampling, V_), sum_(C_ + 1, std::vector<double>(C_ + 1, 0.0)), judged_(sum_),
          pass_acc_(C_ + 1, sum_), pass_w_(pass_acc_) {}

    // Judges every candidate below verifier v along v's trajectory from prompt pi.
    void add_trajectory(size_t v, size_t pi);
    void finish(Profile& p) const;

private:
    bool is(size_t i, LevelSpec::Kind kind) const { return i < C_ && p_.candidates[i].level.kind == kind; }
    std::vector<TokenId> trajectory(size_t v, const std::vector<TokenId>& prompt, uint64_t seed) const;
    void model_rows(const Model& m, const std::vector<TokenId>& seq, int64_t first, Rows& rows) const;
    void staged_rows(const std::vector<TokenId>& seq, int64_t first, std::map<int, Rows>& out) const;
    void ngram_rows(int ngram_n, const std::vector<TokenId>& seq, int64_t first, Rows& rows) const;
    void add_passed(size_t v, const std::vector<const Rows*>& below, const Rows& vr, int64_t count);
    void add_walk(size_t i, size_t v, const Rows& ir, const Rows& vr, int64_t count);

    const Profile& p_;
    const ProfileSetup& s_;
    const size_t C_;
    const int V_;
    const bool greedy_;
    const Sampler warp_;  // only its probabilities() transform is used
    // Walk sums per (drafter, verifier): accepted tokens and tokens judged.
    std::vector<std::vector<double>> sum_, judged_;
    // Two-type statistics: [i][k][j] accepted mass and weight of tokens i drafted, k accepted.
    std::vector<std::vector<std::vector<double>>> pass_acc_, pass_w_;
};

// A trajectory of n_tokens generated by verifier v (C = the target) from the prompt.
std::vector<TokenId> AcceptanceMeter::trajectory(size_t v, const std::vector<TokenId>& prompt, uint64_t seed) const {
    SamplingParams sp = s_.o.sampling;
    sp.seed = seed;
    Sampler sampler(sp, V_);
    std::vector<TokenId> seq = prompt;
    if (!is(v, LevelSpec::Kind::Exit)) {
        const Model& m = v == C_ ? s_.target : s_.models.get(p_.candidates[v].level.path);
        Context ctx(m, s_.pool, m.config().n_ctx_train);
        const GenerationResult r = generate(ctx, sampler, prompt, s_.o.n_tokens, true);
        seq.insert(seq.end(), r.tokens.begin(), r.tokens.end());
        return seq;
    }
    const int depth = p_.candidates[v].level.exit_layer;
    StagedContext st(s_.target, s_.pool, s_.target.config().n_ctx_train);
    st.add_depth(depth);
    for (int k = 0; k < s_.o.n_tokens; ++k) {
        st.advance(seq.data(), (int64_t)seq.size(), depth, 0);
        seq.push_back(sampler.sample(st.logits(depth, (int64_t)seq.size() - 1, 1, 0)));
    }
    return seq;
}

// Rows of a model for positions [first, end - 1) of the sequence.
void AcceptanceMeter::model_rows(const Model& m, const std::vector<TokenId>& seq, int64_t first, Rows& rows) const {
    Context ctx(m, s_.pool, m.config().n_ctx_train);
    if (first > 0) ctx.eval(seq.data(), first, false);
    extract_rows(first, (int64_t)seq.size() - 1, V_, warp_,
                 [&](int64_t pos, int64_t n) { return ctx.eval(seq.data() + pos, n, true); }, rows);
}

// Rows of all exits and of the full target in one pass (the hidden state is kept at every depth).
void AcceptanceMeter::staged_rows(const std::vector<TokenId>& seq, int64_t first, std::map<int, Rows>& out) const {
    StagedContext st(s_.target, s_.pool, s_.target.config().n_ctx_train);
    for (int e : s_.exits) st.add_depth(e);
    const int64_t end = (int64_t)seq.size() - 1;
    st.advance(seq.data(), end, s_.target.config().n_layer, kBlock);
    for (int d : st.depths())
        extract_rows(first, end, V_, warp_, [&](int64_t pos, int64_t n) { return st.logits(d, pos, n, kBlock); },
                     out[d]);
}

// The n-gram drafter's proposal (up to kRun tokens) at each position, row-major.
void AcceptanceMeter::ngram_rows(int ngram_n, const std::vector<TokenId>& seq, int64_t first, Rows& rows) const {
    const int64_t count = (int64_t)seq.size() - 1 - first;
    rows.proposal.assign((size_t)(count * kRun), -1);
    std::vector<TokenId> prefix(seq.begin(), seq.begin() + first + 1);
    for (int64_t t = 0; t < count; ++t) {
        const std::vector<TokenId> got = NgramDrafter::lookup(prefix, ngram_n, kRun);
        std::copy(got.begin(), got.end(), rows.proposal.begin() + t * kRun);
        prefix.push_back(seq[(size_t)(first + 1 + t)]);
    }
}

void AcceptanceMeter::add_trajectory(size_t v, size_t pi) {
    const std::vector<TokenId>& prompt = s_.prompts[pi];
    const std::vector<TokenId> seq = trajectory(v, prompt, s_.o.sampling.seed + 1000 * pi + v);
    const int64_t first = (int64_t)prompt.size() - 1;
    const int64_t count = (int64_t)seq.size() - 1 - first;

    // Exits and the target come out of one staged pass, computed when any of them is needed.
    std::map<int, Rows> staged;
    bool need_staged = v == C_ || is(v, LevelSpec::Kind::Exit);
    for (size_t i = 0; i < v; ++i) need_staged = need_staged || is(i, LevelSpec::Kind::Exit);
    if (need_staged) staged_rows(seq, first, staged);
    auto rows_of = [&](size_t i, Rows& scratch) -> const Rows& {
        if (i == C_) return staged.at(s_.target.config().n_layer);
        const LevelSpec& level = p_.candidates[i].level;
        if (level.is_exit()) return staged.at(level.exit_layer);
        if (level.is_model())
            model_rows(s_.models.get(level.path), seq, first, scratch);
        else
            ngram_rows(level.ngram_n, seq, first, scratch);
        return scratch;
    };
    Rows vscratch;
    const Rows& vr = rows_of(v, vscratch);
    std::vector<Rows> scratch(v);
    std::vector<const Rows*> below(v);
    for (size_t i = 0; i < v; ++i) below[i] = &rows_of(i, scratch[i]);

    add_passed(v, below, vr, count);
    for (size_t i = 0; i < v; ++i) add_walk(i, v, *below[i], vr, count);
}

// Tokens i drafted and k accepted: how often does v accept them?
void AcceptanceMeter::add_passed(size_t v, const std::vector<const Rows*>& below, const Rows& vr, int64_t count) {
    for (size_t k = 0; k < v; ++k) {
        if (is(k, LevelSpec::Kind::Ngram)) continue;
        const Rows& kr = *below[k];
        for (size_t i = 0; i < k; ++i) {
            const Rows& ir = *below[i];
            const bool ngram = is(i, LevelSpec::Kind::Ngram);
            for (int64_t t = 0; t < count; ++t) {
                const float* pk = kr.probs.data() + t * V_;
                const float* pv = vr.probs.data() + t * V_;
                double w = 0, acc = 0;
                if (ngram) {
                    const TokenId y = ir.proposal[(size_t)(t * kRun)];
                    if (y < 0) continue;
                    if (greedy_) {
                        w = y == kr.argmax[(size_t)t];
                        acc = w * (y == vr.argmax[(size_t)t]);
                    } else {
                        w = pk[y];
                        acc = std::min(pk[y], pv[y]);
                    }
                } else if (greedy_) {
                    w = ir.argmax[(size_t)t] == kr.argmax[(size_t)t];
                    acc = w * (kr.argmax[(size_t)t] == vr.argmax[(size_t)t]);
                } else {
                    const float* pi = ir.probs.data() + t * V_;
                    for (int x = 0; x < V_; ++x) {
                        const double b = std::min(pi[x], pk[x]);  // drafted by i and kept by k
                        if (b <= 0) continue;
                        w += b;
                        acc += b * std::min(1.0, (double)pv[x] / (double)pk[x]);
                    }
                }
                pass_w_[i][k][v] += w;
                pass_acc_[i][k][v] += acc;
            }
        }
    }
}

// The walk of drafter i along verifier v's trajectory.
void AcceptanceMeter::add_walk(size_t i, size_t v, const Rows& ir, const Rows& vr, int64_t count) {
    if (is(i, LevelSpec::Kind::Ngram)) {
        // Copied continuations are accepted in runs, not token by token: judge the drafter's
        // actual multi-token proposal from t until it ends, as the executor does.
        auto proposed = [&](int64_t t, int k) -> std::optional<double> {
            const TokenId y = ir.proposal[(size_t)(t * kRun + k)];
            if (y < 0) return std::nullopt;
            return greedy_ ? (double)(y == vr.argmax[(size_t)(t + k)]) : (double)vr.probs[(size_t)((t + k) * V_ + y)];
        };
        walk(count, proposed, sum_[i][v], judged_[i][v]);
        return;
    }
    // Per position: P(v accepts i's token) (greedy: argmax agreement; sampling: the
    // speculative-sampling acceptance sum_x min(p_i, p_v)). Along v's trajectory a drafter's
    // k-th draft after an accepted run sees exactly the trajectory's prefix, so a run of
    // acceptances from t is a run of these events.
    std::vector<double> a((size_t)count);
    for (int64_t t = 0; t < count; ++t) {
        if (greedy_) {
            a[(size_t)t] = ir.argmax[(size_t)t] == vr.argmax[(size_t)t];
        } else {
            const float* pi = ir.probs.data() + t * V_;
            const float* pv = vr.probs.data() + t * V_;
            double m = 0;
            for (int x = 0; x < V_; ++x) m += std::min(pi[x], pv[x]);
            a[(size_t)t] = m;
        }
    }
    auto at = [&](int64_t t, int k) -> std::optional<double> { return a[(size_t)(t + k)]; };
    walk(count, at, sum_[i][v], judged_[i][v]);
}

void AcceptanceMeter::finish(Profile& p) const {
    p.accept.assign(C_ + 1, std::vector<double>(C_ + 1, 0.0));
    for (size_t i = 0; i <= C_; ++i)
        for (size_t j = i + 1; j <= C_; ++j)
            if (judged_[i][j] > 0) p.accept[i][j] = std::min(1.0, sum_[i][j] / judged_[i][j]);
    // Too few tokens agreed on to estimate the two-type rate: fall back to the plain one.
    p.accept_passed.assign(C_ + 1, std::vector<std::vector<double>>(C_ + 1, std::vector<double>(C_ + 1, 0.0)));
    for (size_t i = 0; i <= C_; ++i)
        for (size_t k = i + 1; k <= C_; ++k)
            for (size_t j = k + 1; j <= C_; ++j)
                p.accept_passed[i][k][j] =
                    pass_w_[i][k][j] >= 8 ? std::min(1.0, pass_acc_[i][k][j] / pass_w_[i][k][j]) : p.accept[k][j];
}

}  // namespace

void measure_acceptance(Profile& p, const ProfileSetup& s, Progress& progress) {
    AcceptanceMeter meter(p, s);
    const size_t C = p.candidates.size();
    for (size_t v = 0; v <= C; ++v) {
        if (v < C && p.candidates[v].level.is_ngram()) continue;  // the n-gram drafter judges nothing
        const std::string& vname = v == C ? p.target_name : p.candidates[v].name;
        for (size_t pi = 0; pi < s.prompts.size(); ++pi) {
            progress.report(fmt::format("acceptance by {} ({}/{})", vname, pi + 1, s.prompts.size()));
            meter.add_trajectory(v, pi);
            progress.advance();
        }
    }
    meter.finish(p);
}

}  // namespace hsd::planner::detail
