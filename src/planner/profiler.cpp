// `hsd profile`: measures forward costs and pairwise acceptance on this machine.
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>

#include "common/error.h"
#include "common/timer.h"
#include "decoding/generate.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model_cache.h"
#include "model/staged_context.h"
#include "planner/profile.h"
#include "speculative/hierarchy.h"
#include "speculative/model_drafter.h"
#include "speculative/ngram_drafter.h"

namespace hsd::planner {

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

std::vector<TokenId> filler(int64_t n, int n_vocab, uint32_t seed) {
    std::vector<TokenId> t((size_t)n);
    uint32_t x = seed;
    for (auto& v : t) {
        x = x * 1664525u + 1013904223u;
        v = (TokenId)(3 + (x >> 8) % (uint32_t)(n_vocab - 3));
    }
    if (n > 0) t[0] = 1;
    return t;
}

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
    const int V = m.config().n_vocab;
    s.state = std::make_shared<StagedContext>(m, pool, m.config().n_ctx_train);
    for (int e : exits) s.views.push_back(std::make_shared<ModelDrafter>(s.state, e));
    s.views.push_back(std::make_shared<ModelDrafter>(s.state, m.config().n_layer));
    s.sampler = std::make_shared<Sampler>(sp, V);
    s.seq = std::make_shared<std::vector<TokenId>>(filler(context + n_max, V, 7));
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

constexpr int kNgramRun = 8;  // longest run of drafts followed when estimating acceptance

// Next-token distributions (after the sampling transform) of one candidate along a sequence,
// or its proposals (n-gram): rows for positions [first, first + count).
struct Rows {
    std::vector<float> probs;      // count x V (models and exits)
    std::vector<TokenId> argmax;   // count
    std::vector<TokenId> proposal; // n-gram: count x kNgramRun proposed tokens, -1 = none
};

}  // namespace

Profile run_profile(const Model& target, ModelCache& models, ThreadPool& pool, const ProfileOptions& o) {
    const ModelConfig& tc = target.config();
    const int V = tc.n_vocab;
    if (o.prompts.empty()) fail("profile: no prompts to measure acceptance on");
    if (o.n_tokens < 2) fail(fmt::format("profile: --tokens must be >= 2, got {}", o.n_tokens));
    if (o.n_max < 1 || o.n_max > 64) fail(fmt::format("profile: --n-max must be in 1..64, got {}", o.n_max));
    o.sampling.validate();

    Profile p;
    p.target_path = target.path();
    p.target_name = std::filesystem::path(target.path()).stem().string();
    p.target_layers = tc.n_layer;
    p.sampling = o.sampling;
    p.threads = pool.size();
    p.n_max = o.n_max;
    p.prompts = o.prompts_name;
    p.n_tokens = o.n_tokens;

    // Prompts as tokens, cut from the left so prompt + generated tokens fit every model.
    const Tokenizer& tok = target.tokenizer();
    std::vector<std::vector<TokenId>> prompts;
    int64_t total_len = 0;
    for (const Prompt& pr : o.prompts) {
        std::vector<TokenId> t = tok.encode(pr.text, tok.add_bos_default());
        const int64_t room = tc.n_ctx_train - o.n_tokens - 1;
        if ((int64_t)t.size() > room) t.erase(t.begin() + 1, t.end() - (room - 1));
        if (t.size() < 2) continue;
        total_len += (int64_t)t.size();
        prompts.push_back(std::move(t));
    }
    if (prompts.empty()) fail("profile: every prompt is empty after tokenization");
    p.n_prompts = (int)prompts.size();
    p.context = (int)std::min<int64_t>(total_len / (int64_t)prompts.size() + o.n_tokens / 2, tc.n_ctx_train - o.n_max - 1);

    // Candidates.
    for (const std::string& path : o.drafts) {
        const Model& m = models.get(path);
        check_same_vocabulary(m, target);
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Model;
        c.level.path = path;
        c.name = std::filesystem::path(path).stem().string();
        p.candidates.push_back(c);
    }
    std::vector<int> exits = o.exits;
    std::sort(exits.begin(), exits.end());
    exits.erase(std::unique(exits.begin(), exits.end()), exits.end());
    for (int e : exits) {
        if (!target.is_exit_layer(e))
            fail(fmt::format("profile: '{}' has no early exit after layer {}", target.path(), e));
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Exit;
        c.level.exit_layer = e;
        c.name = fmt::format("@{}", e);
        p.candidates.push_back(c);
    }
    if (o.ngram > 0) {
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Ngram;
        c.level.ngram_n = o.ngram;
        c.name = fmt::format("ngram{}", o.ngram);
        p.candidates.push_back(c);
    }

    // Costs. Work units for the progress bar: costs, then verifiers x prompts.
    size_t n_verifiers = 1;
    for (const ProfileCandidate& c : p.candidates) n_verifiers += c.level.kind != LevelSpec::Kind::Ngram;
    const double units = 1.0 + (double)(n_verifiers * prompts.size());
    double done = 0;
    auto tick = [&](const std::string& what) {
        if (o.progress) o.progress(done / units, what);
    };
    tick("forward costs");
    {
        CostBench bench;
        ScoreItems target_items = make_score_items(target, pool, o.sampling, p.context, o.n_max, exits);
        const size_t full = add_score_items(bench, target_items, p.context, o.n_max, 0, tc.n_layer);
        // Exit pairs: every exit from scratch, and every exit or the target above a shallower exit.
        std::vector<std::pair<int, int>> pairs;
        for (size_t k = 0; k < exits.size(); ++k) {
            pairs.push_back({0, exits[k]});
            for (size_t l = k + 1; l <= exits.size(); ++l)
                pairs.push_back({exits[k], l < exits.size() ? exits[l] : tc.n_layer});
        }
        std::vector<size_t> pair_items;
        for (auto [from, to] : pairs)
            pair_items.push_back(add_score_items(bench, target_items, p.context, o.n_max, from, to));
        std::vector<size_t> draft_items;
        for (const ProfileCandidate& c : p.candidates) {
            if (c.level.kind != LevelSpec::Kind::Model) {
                draft_items.push_back(SIZE_MAX);
                continue;
            }
            const Model& m = models.get(c.level.path);
            draft_items.push_back(add_score_items(bench, make_score_items(m, pool, o.sampling, p.context, o.n_max, {}),
                                                  p.context, o.n_max, 0, m.config().n_layer));
        }
        bench.run(o.reps);
        auto cold = [&](size_t first) {
            std::vector<double> row;
            for (int n = 1; n <= o.n_max; ++n) row.push_back(median(bench.items[first + (size_t)n - 1].cold));
            return row;
        };
        auto warm = [&](size_t first) { return median(bench.items[first].warm); };
        p.target_cost_ms = cold(full);
        p.target_draft_ms = warm(full);
        for (size_t k = 0; k < pairs.size(); ++k)
            p.exit_pairs.push_back({pairs[k].first, pairs[k].second, cold(pair_items[k])});
        for (size_t i = 0; i < p.candidates.size(); ++i) {
            ProfileCandidate& c = p.candidates[i];
            if (draft_items[i] != SIZE_MAX) {
                c.cost_ms = cold(draft_items[i]);
                c.draft_ms = warm(draft_items[i]);
            } else if (c.level.kind == LevelSpec::Kind::Exit) {
                for (size_t k = 0; k < pairs.size(); ++k)
                    if (pairs[k].first == 0 && pairs[k].second == c.level.exit_layer) {
                        c.cost_ms = cold(pair_items[k]);
                        c.draft_ms = warm(pair_items[k]);
                    }
            } else {
                // The n-gram drafter: a lookup over a prompt-sized sequence, no model pass.
                std::vector<double> t;
                for (int r = 0; r < 21; ++r) {
                    const double t0 = now_seconds();
                    (void)NgramDrafter::lookup(prompts[(size_t)r % prompts.size()], c.level.ngram_n, 4);
                    t.push_back((now_seconds() - t0) * 1e3);
                }
                c.cost_ms.assign((size_t)o.n_max, median(t));
                c.draft_ms = median(t);
            }
        }
    }
    // Cheapest first (one-token cost): a chain runs from cheap drafters to the target.
    std::stable_sort(p.candidates.begin(), p.candidates.end(),
                     [](const ProfileCandidate& a, const ProfileCandidate& b) { return a.draft_ms < b.draft_ms; });
    // Exits must stay in depth order among themselves (they share one context).
    {
        std::vector<size_t> slots;
        std::vector<ProfileCandidate> ex;
        for (size_t i = 0; i < p.candidates.size(); ++i)
            if (p.candidates[i].level.kind == LevelSpec::Kind::Exit) {
                slots.push_back(i);
                ex.push_back(p.candidates[i]);
            }
        std::sort(ex.begin(), ex.end(), [](const ProfileCandidate& a, const ProfileCandidate& b) {
            return a.level.exit_layer < b.level.exit_layer;
        });
        for (size_t k = 0; k < slots.size(); ++k) p.candidates[slots[k]] = ex[k];
    }
    done += 1;

    // Acceptance along each verifier's own trajectories.
    const size_t C = p.candidates.size();
    p.accept.assign(C + 1, std::vector<double>(C + 1, 0.0));
    std::vector<std::vector<double>> sum(C + 1, std::vector<double>(C + 1, 0.0));
    std::vector<std::vector<double>> walk_tested(C + 1, std::vector<double>(C + 1, 0.0));
    // Two-type statistics: [i][k][j] accepted mass and weight of tokens i drafted, k accepted.
    std::vector<std::vector<std::vector<double>>> pass_acc(
        C + 1, std::vector<std::vector<double>>(C + 1, std::vector<double>(C + 1, 0.0)));
    auto pass_w = pass_acc;
    const bool greedy = o.sampling.greedy();
    Sampler warp(o.sampling, V);  // only its probabilities() transform is used

    // Rows of every model-like candidate (and the target) for positions [first, end - 1).
    auto model_rows = [&](const Model& m, const std::vector<TokenId>& seq, int64_t first, Rows& rows) {
        Context ctx(m, pool, m.config().n_ctx_train);
        if (first > 0) ctx.eval(seq.data(), first, false);
        const int64_t count = (int64_t)seq.size() - 1 - first;
        rows.probs.resize((size_t)(count * V));
        rows.argmax.resize((size_t)count);
        std::vector<float> probs;
        for (int64_t pos = first; pos < first + count; pos += 32) {
            const int64_t n = std::min<int64_t>(32, first + count - pos);
            const float* logits = ctx.eval(seq.data() + pos, n, true);
            for (int64_t t = 0; t < n; ++t) {
                const float* row = logits + t * V;
                rows.argmax[(size_t)(pos - first + t)] = argmax(row, V);
                warp.probabilities(row, probs);
                std::copy(probs.begin(), probs.end(), rows.probs.begin() + (pos - first + t) * V);
            }
        }
    };
    // All exits and the full target in one pass (the hidden state is kept at every depth).
    auto staged_rows = [&](const std::vector<TokenId>& seq, int64_t first, std::map<int, Rows>& out) {
        StagedContext st(target, pool, tc.n_ctx_train);
        for (int e : exits) st.add_depth(e);
        const int64_t end = (int64_t)seq.size() - 1;
        st.advance(seq.data(), end, tc.n_layer, 32);
        std::vector<float> probs;
        for (int d : st.depths()) {
            Rows& rows = out[d];
            const int64_t count = end - first;
            rows.probs.resize((size_t)(count * V));
            rows.argmax.resize((size_t)count);
            for (int64_t pos = first; pos < end; pos += 32) {
                const int64_t n = std::min<int64_t>(32, end - pos);
                const float* logits = st.logits(d, pos, n, 32);
                for (int64_t t = 0; t < n; ++t) {
                    const float* row = logits + t * V;
                    rows.argmax[(size_t)(pos - first + t)] = argmax(row, V);
                    warp.probabilities(row, probs);
                    std::copy(probs.begin(), probs.end(), rows.probs.begin() + (pos - first + t) * V);
                }
            }
        }
    };
    // A trajectory of n_tokens generated by verifier v (index C = the target).
    auto trajectory = [&](size_t v, const std::vector<TokenId>& prompt, uint64_t seed) {
        SamplingParams sp = o.sampling;
        sp.seed = seed;
        Sampler s(sp, V);
        std::vector<TokenId> seq = prompt;
        const bool is_exit = v < C && p.candidates[v].level.kind == LevelSpec::Kind::Exit;
        if (!is_exit) {
            const Model& m = v == C ? target : models.get(p.candidates[v].level.path);
            Context ctx(m, pool, m.config().n_ctx_train);
            const GenerationResult r = generate(ctx, s, prompt, o.n_tokens, true);
            seq.insert(seq.end(), r.tokens.begin(), r.tokens.end());
            return seq;
        }
        const int depth = p.candidates[v].level.exit_layer;
        StagedContext st(target, pool, tc.n_ctx_train);
        st.add_depth(depth);
        for (int k = 0; k < o.n_tokens; ++k) {
            st.advance(seq.data(), (int64_t)seq.size(), depth, 0);
            seq.push_back(s.sample(st.logits(depth, (int64_t)seq.size() - 1, 1, 0)));
        }
        return seq;
    };

    for (size_t v = 0; v <= C; ++v) {
        if (v < C && p.candidates[v].level.kind == LevelSpec::Kind::Ngram) continue;
        const std::string vname = v == C ? p.target_name : p.candidates[v].name;
        for (size_t pi = 0; pi < prompts.size(); ++pi) {
            tick(fmt::format("acceptance by {} ({}/{})", vname, pi + 1, prompts.size()));
            const std::vector<TokenId> seq = trajectory(v, prompts[pi], o.sampling.seed + 1000 * pi + v);
            const int64_t first = (int64_t)prompts[pi].size() - 1;
            const int64_t count = (int64_t)seq.size() - 1 - first;
            std::map<int, Rows> staged;
            bool need_staged = v == C;
            for (size_t i = 0; i < v; ++i) need_staged = need_staged || p.candidates[i].level.kind == LevelSpec::Kind::Exit;
            if (v < C && p.candidates[v].level.kind == LevelSpec::Kind::Exit) need_staged = true;
            if (need_staged) staged_rows(seq, first, staged);
            auto rows_of = [&](size_t i, Rows& scratch) -> const Rows& {
                if (i == C) return staged.at(tc.n_layer);
                const ProfileCandidate& c = p.candidates[i];
                if (c.level.kind == LevelSpec::Kind::Exit) return staged.at(c.level.exit_layer);
                if (c.level.kind == LevelSpec::Kind::Model) {
                    model_rows(models.get(c.level.path), seq, first, scratch);
                    return scratch;
                }
                // n-gram: the lookup (up to kNgramRun tokens) at each position, row-major.
                scratch.proposal.assign((size_t)(count * kNgramRun), -1);
                std::vector<TokenId> prefix(seq.begin(), seq.begin() + first + 1);
                for (int64_t t = 0; t < count; ++t) {
                    const std::vector<TokenId> got = NgramDrafter::lookup(prefix, c.level.ngram_n, kNgramRun);
                    std::copy(got.begin(), got.end(), scratch.proposal.begin() + t * kNgramRun);
                    prefix.push_back(seq[(size_t)(first + 1 + t)]);
                }
                return scratch;
            };
            Rows vscratch;
            const Rows& vr = rows_of(v, vscratch);
            std::vector<Rows> below(v);
            std::vector<const Rows*> rows_below(v);
            for (size_t i = 0; i < v; ++i) rows_below[i] = &rows_of(i, below[i]);
            // Tokens i drafted and k accepted: how often does v accept them?
            for (size_t k = 0; k < v; ++k) {
                if (p.candidates[k].level.kind == LevelSpec::Kind::Ngram) continue;
                const Rows& kr = *rows_below[k];
                for (size_t i = 0; i < k; ++i) {
                    const Rows& ir = *rows_below[i];
                    const bool ngram = p.candidates[i].level.kind == LevelSpec::Kind::Ngram;
                    for (int64_t t = 0; t < count; ++t) {
                        const float* pk = kr.probs.data() + t * V;
                        const float* pv = vr.probs.data() + t * V;
                        double w = 0, acc = 0;
                        if (ngram) {
                            const TokenId y = ir.proposal[(size_t)(t * kNgramRun)];
                            if (y < 0) continue;
                            if (greedy) {
                                w = y == kr.argmax[(size_t)t];
                                acc = w * (y == vr.argmax[(size_t)t]);
                            } else {
                                w = pk[y];
                                acc = std::min(pk[y], pv[y]);
                            }
                        } else if (greedy) {
                            w = ir.argmax[(size_t)t] == kr.argmax[(size_t)t];
                            acc = w * (kr.argmax[(size_t)t] == vr.argmax[(size_t)t]);
                        } else {
                            const float* pi_ = ir.probs.data() + t * V;
                            for (int x = 0; x < V; ++x) {
                                const double b = std::min(pi_[x], pk[x]);  // drafted by i and kept by k
                                if (b <= 0) continue;
                                w += b;
                                acc += b * std::min(1.0, (double)pv[x] / (double)pk[x]);
                            }
                        }
                        pass_w[i][k][v] += w;
                        pass_acc[i][k][v] += acc;
                    }
                }
            }
            for (size_t i = 0; i < v; ++i) {
                const Rows& ir = *rows_below[i];
                const bool ngram = p.candidates[i].level.kind == LevelSpec::Kind::Ngram;
                if (ngram) {
                    // Copied continuations are accepted in runs, not token by token, so walk the
                    // trajectory as the executor does: look up a proposal, accept its run, jump
                    // past it and the verifier's own token, look up again. The geometric model's
                    // estimate is E[run] / (E[run] + P(the run ends before the proposal does)),
                    // no proposal counting as one failure.
                    for (int64_t t = 0; t < count;) {
                        double run = 0, all = 1;
                        int m = 0;
                        for (int k = 0; k < kNgramRun && t + k < count; ++k) {
                            const TokenId y = ir.proposal[(size_t)(t * kNgramRun + k)];
                            if (y < 0) break;
                            ++m;
                            all *= greedy ? (double)(y == vr.argmax[(size_t)(t + k)])
                                          : (double)vr.probs[(size_t)((t + k) * V + y)];
                            run += all;
                        }
                        sum[i][v] += run;
                        walk_tested[i][v] += run + (m == 0 ? 1.0 : 1.0 - all);
                        t += (int64_t)(run + 0.5) + 1;
                    }
                    continue;
                }
                // Per position: P(v accepts i's token) (greedy: argmax agreement; sampling: the
                // speculative-sampling acceptance sum_x min(p_i, p_v)). Along v's trajectory a
                // drafter's k-th draft after an accepted run sees exactly the trajectory's prefix,
                // so a run of acceptances from t is a run of these events. Acceptance comes in
                // runs (easy stretches of code), so estimate the rate the way the executor samples
                // positions: a verification judges drafts from t until the first rejection (at
                // most kNgramRun), the verifier's own token takes the next position, the next
                // batch starts after it. Geometric estimate: E[accepted] / (E[accepted] + P(a
                // rejection ended the batch)).
                std::vector<double> a((size_t)count);
                for (int64_t t = 0; t < count; ++t) {
                    if (greedy) {
                        a[(size_t)t] = ir.argmax[(size_t)t] == vr.argmax[(size_t)t];
                    } else {
                        const float* pi_ = ir.probs.data() + t * V;
                        const float* pv = vr.probs.data() + t * V;
                        double m = 0;
                        for (int x = 0; x < V; ++x) m += std::min(pi_[x], pv[x]);
                        a[(size_t)t] = m;
                    }
                }
                for (int64_t t = 0; t < count;) {
                    double run = 0, all = 1;
                    for (int k = 0; k < kNgramRun && t + k < count; ++k) {
                        all *= a[(size_t)(t + k)];
                        run += all;
                    }
                    sum[i][v] += run;
                    walk_tested[i][v] += run + (1.0 - all);
                    t += (int64_t)(run + 0.5) + 1;
                }
            }
            done += 1;
        }
    }
    for (size_t i = 0; i <= C; ++i)
        for (size_t j = i + 1; j <= C; ++j)
            if (walk_tested[i][j] > 0) p.accept[i][j] = std::min(1.0, sum[i][j] / walk_tested[i][j]);
    // Too few tokens agreed on to estimate the two-type rate: fall back to the plain one.
    p.accept_passed.assign(C + 1, std::vector<std::vector<double>>(C + 1, std::vector<double>(C + 1, 0.0)));
    for (size_t i = 0; i <= C; ++i)
        for (size_t k = i + 1; k <= C; ++k)
            for (size_t j = k + 1; j <= C; ++j)
                p.accept_passed[i][k][j] =
                    pass_w[i][k][j] >= 8 ? std::min(1.0, pass_acc[i][k][j] / pass_w[i][k][j]) : p.accept[k][j];
    if (o.progress) o.progress(1.0, "done");
    return p;
}

}  // namespace hsd::planner
