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
#include "model/staged_context.h"
#include "planner/profile.h"
#include "speculative/hierarchy.h"
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

// Forward costs of every model and of the target's layer segments, measured round-robin: each
// repetition times every (model, n) and (segment, n), so a change of machine load during the
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

// Adds n = 1..n_max forwards (logits of every row) after `context` tokens of model m; returns
// the index of the first item.
size_t add_forward_items(CostBench& b, std::vector<std::unique_ptr<Context>>& keep, const Model& m, ThreadPool& pool,
                         int context, int n_max) {
    keep.push_back(std::make_unique<Context>(m, pool, m.config().n_ctx_train));
    Context* ctx = keep.back().get();
    const int V = m.config().n_vocab;
    ctx->eval(filler(context, V, 7), false);
    const size_t first = b.items.size();
    for (int n = 1; n <= n_max; ++n) {
        auto block = std::make_shared<std::vector<TokenId>>(filler(n, V, 100 + (uint32_t)n));
        b.items.push_back({[ctx, block, context] {
                               const double s = now_seconds();
                               ctx->eval(*block, true);
                               const double dt = now_seconds() - s;
                               ctx->truncate(context);
                               return dt * 1e3;
                           },
                           {}, {}});
    }
    return first;
}

// Adds the target's layer segments [boundaries[s], boundaries[s+1]) and the head for
// n = 1..n_max rows; item index = first + (n-1) * (segments + 1) + s (s = segments: the head).
size_t add_segment_items(CostBench& b, std::vector<std::unique_ptr<Context>>& keep, const Model& m, ThreadPool& pool,
                         int context, int n_max, const std::vector<int>& boundaries) {
    keep.push_back(std::make_unique<Context>(m, pool, m.config().n_ctx_train));
    Context* ctx = keep.back().get();
    const ModelConfig& c = m.config();
    ctx->eval(filler(context, c.n_vocab, 9), false);
    auto h = std::make_shared<std::vector<float>>((size_t)(n_max * c.n_embd));
    ctx->embed(filler(n_max, c.n_vocab, 11).data(), n_max, h->data());
    auto work = std::make_shared<std::vector<float>>(h->size());
    auto logits = std::make_shared<std::vector<float>>((size_t)(n_max * c.n_vocab));
    const size_t first = b.items.size();
    for (int n = 1; n <= n_max; ++n) {
        for (size_t s = 0; s + 1 < boundaries.size(); ++s) {
            const int a = boundaries[s], e = boundaries[s + 1];
            b.items.push_back({[=] {
                                   std::copy(h->begin(), h->end(), work->begin());
                                   const double t0 = now_seconds();
                                   ctx->run_layers(a, e, work->data(), n, context);
                                   const double dt = now_seconds() - t0;
                                   ctx->cache().truncate_layers(a, e, context);
                                   return dt * 1e3;
                               },
                               {}, {}});
        }
        b.items.push_back({[=] {
                               const double t0 = now_seconds();
                               ctx->head(h->data(), n, logits->data());
                               return (now_seconds() - t0) * 1e3;
                           },
                           {}, {}});
    }
    return first;
}

// ms to turn one logits row into the sampling distribution (argmax + one-hot when greedy).
double sample_cost(const SamplingParams& sp, int n_vocab) {
    Sampler s(sp, n_vocab);
    std::vector<float> logits((size_t)n_vocab), probs;
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (float& v : logits) v = nd(rng);
    std::vector<double> t;
    for (int r = 0; r < 31; ++r) {
        const double t0 = now_seconds();
        s.probabilities(logits.data(), probs);
        t.push_back((now_seconds() - t0) * 1e3);
    }
    return median(t);
}

constexpr int kNgramRun = 8;  // longest n-gram proposal followed when estimating its acceptance

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
        c.level.kind = LevelRequest::Kind::Model;
        c.level.path = path;
        c.name = std::filesystem::path(path).stem().string();
        p.candidates.push_back(c);
    }
    std::vector<int> exits = o.exits;
    std::sort(exits.begin(), exits.end());
    exits.erase(std::unique(exits.begin(), exits.end()), exits.end());
    for (int e : exits) {
        if (!target.is_exit_layer(e) || e >= tc.n_layer)
            fail(fmt::format("profile: '{}' has no early exit after layer {}", target.path(), e));
        ProfileCandidate c;
        c.level.kind = LevelRequest::Kind::Exit;
        c.level.exit_layer = e;
        c.name = fmt::format("@{}", e);
        p.candidates.push_back(c);
    }
    if (o.ngram > 0) {
        ProfileCandidate c;
        c.level.kind = LevelRequest::Kind::Ngram;
        c.level.ngram_n = o.ngram;
        c.name = fmt::format("ngram{}", o.ngram);
        p.candidates.push_back(c);
    }

    // Costs. Work units for the progress bar: costs, then verifiers x prompts.
    size_t n_verifiers = 1;
    for (const ProfileCandidate& c : p.candidates) n_verifiers += c.level.kind != LevelRequest::Kind::Ngram;
    const double units = 1.0 + (double)(n_verifiers * prompts.size());
    double done = 0;
    auto tick = [&](const std::string& what) {
        if (o.progress) o.progress(done / units, what);
    };
    tick("forward costs");
    p.sample_ms = sample_cost(o.sampling, V);
    p.boundaries = {0};
    for (int e : exits) p.boundaries.push_back(e);
    p.boundaries.push_back(tc.n_layer);
    const size_t S = p.boundaries.size() - 1;
    {
        CostBench bench;
        std::vector<std::unique_ptr<Context>> keep;
        const size_t target_items = add_forward_items(bench, keep, target, pool, p.context, o.n_max);
        const size_t segment_items = add_segment_items(bench, keep, target, pool, p.context, o.n_max, p.boundaries);
        std::vector<size_t> draft_items;
        for (const ProfileCandidate& c : p.candidates)
            draft_items.push_back(c.level.kind == LevelRequest::Kind::Model
                                      ? add_forward_items(bench, keep, models.get(c.level.path), pool, p.context, o.n_max)
                                      : SIZE_MAX);
        bench.run(o.reps);
        auto med = [&](size_t i) { return median(bench.items[i].cold); };
        auto warm = [&](size_t i) { return median(bench.items[i].warm); };
        p.target_cost_ms.clear();
        for (int n = 1; n <= o.n_max; ++n) p.target_cost_ms.push_back(med(target_items + (size_t)n - 1));
        p.target_draft_ms = warm(target_items) + p.sample_ms;
        p.segment_ms.assign(S, {});
        p.head_ms.clear();
        for (int n = 1; n <= o.n_max; ++n) {
            const size_t base = segment_items + (size_t)(n - 1) * (S + 1);
            for (size_t s = 0; s < S; ++s) p.segment_ms[s].push_back(med(base + s));
            p.head_ms.push_back(med(base + S));
        }
        p.segment_draft_ms.clear();
        for (size_t s = 0; s < S; ++s) p.segment_draft_ms.push_back(warm(segment_items + s));
        p.head_draft_ms = warm(segment_items + S);
        for (size_t i = 0; i < p.candidates.size(); ++i)
            if (draft_items[i] != SIZE_MAX) {
                for (int n = 1; n <= o.n_max; ++n) p.candidates[i].cost_ms.push_back(med(draft_items[i] + (size_t)n - 1));
                p.candidates[i].draft_ms = warm(draft_items[i]) + p.sample_ms;
            }
    }
    auto with_sampling = [&](std::vector<double> row) {
        for (size_t n = 1; n <= row.size(); ++n) row[n - 1] += (double)n * p.sample_ms;
        return row;
    };
    p.target_cost_ms = with_sampling(p.target_cost_ms);
    for (ProfileCandidate& c : p.candidates) {
        switch (c.level.kind) {
            case LevelRequest::Kind::Model:
                c.cost_ms = with_sampling(c.cost_ms);
                break;
            case LevelRequest::Kind::Exit: {
                std::vector<double> row((size_t)o.n_max, 0.0);
                for (size_t s = 0; s + 1 < p.boundaries.size(); ++s)
                    if (p.boundaries[s + 1] <= c.level.exit_layer)
                        for (int n = 1; n <= o.n_max; ++n) row[(size_t)n - 1] += p.segment_ms[s][(size_t)n - 1];
                for (int n = 1; n <= o.n_max; ++n) row[(size_t)n - 1] += p.head_ms[(size_t)n - 1];
                c.cost_ms = with_sampling(row);
                c.draft_ms = p.head_draft_ms + p.sample_ms;
                for (size_t s = 0; s + 1 < p.boundaries.size(); ++s)
                    if (p.boundaries[s + 1] <= c.level.exit_layer) c.draft_ms += p.segment_draft_ms[s];
                break;
            }
            case LevelRequest::Kind::Ngram: {
                // A lookup over a prompt-sized sequence; no model pass, q is one-hot.
                std::vector<double> t;
                for (int r = 0; r < 21; ++r) {
                    const double t0 = now_seconds();
                    (void)NgramDrafter::lookup(prompts[(size_t)r % prompts.size()], c.level.ngram_n, 4);
                    t.push_back((now_seconds() - t0) * 1e3);
                }
                c.cost_ms.assign((size_t)o.n_max, median(t));
                c.draft_ms = median(t);
                break;
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
            if (p.candidates[i].level.kind == LevelRequest::Kind::Exit) {
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
    p.accept_positions.assign(C + 1, std::vector<int64_t>(C + 1, 0));
    std::vector<std::vector<double>> sum(C + 1, std::vector<double>(C + 1, 0.0));
    std::vector<std::vector<double>> ngram_tested(C + 1, std::vector<double>(C + 1, 0.0));
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
        const bool is_exit = v < C && p.candidates[v].level.kind == LevelRequest::Kind::Exit;
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
        if (v < C && p.candidates[v].level.kind == LevelRequest::Kind::Ngram) continue;
        const std::string vname = v == C ? p.target_name : p.candidates[v].name;
        for (size_t pi = 0; pi < prompts.size(); ++pi) {
            tick(fmt::format("acceptance by {} ({}/{})", vname, pi + 1, prompts.size()));
            const std::vector<TokenId> seq = trajectory(v, prompts[pi], o.sampling.seed + 1000 * pi + v);
            const int64_t first = (int64_t)prompts[pi].size() - 1;
            const int64_t count = (int64_t)seq.size() - 1 - first;
            std::map<int, Rows> staged;
            bool need_staged = v == C;
            for (size_t i = 0; i < v; ++i) need_staged = need_staged || p.candidates[i].level.kind == LevelRequest::Kind::Exit;
            if (v < C && p.candidates[v].level.kind == LevelRequest::Kind::Exit) need_staged = true;
            if (need_staged) staged_rows(seq, first, staged);
            auto rows_of = [&](size_t i, Rows& scratch) -> const Rows& {
                if (i == C) return staged.at(tc.n_layer);
                const ProfileCandidate& c = p.candidates[i];
                if (c.level.kind == LevelRequest::Kind::Exit) return staged.at(c.level.exit_layer);
                if (c.level.kind == LevelRequest::Kind::Model) {
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
                if (p.candidates[k].level.kind == LevelRequest::Kind::Ngram) continue;
                const Rows& kr = *rows_below[k];
                for (size_t i = 0; i < k; ++i) {
                    const Rows& ir = *rows_below[i];
                    const bool ngram = p.candidates[i].level.kind == LevelRequest::Kind::Ngram;
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
                const bool ngram = p.candidates[i].level.kind == LevelRequest::Kind::Ngram;
                for (int64_t t = 0; t < count; ++t) {
                    double a = 0;
                    if (ngram) {
                        // Copied continuations are accepted in runs, not token by token: the
                        // geometric model's estimate is E[run] / (E[run] + P(the run ends before
                        // the proposal does)), with no proposal counting as one failure.
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
                        ngram_tested[i][v] += run + (m == 0 ? 1.0 : 1.0 - all);
                        continue;
                    } else if (greedy) {
                        a = ir.argmax[(size_t)t] == vr.argmax[(size_t)t];
                    } else {
                        const float* pi_ = ir.probs.data() + t * V;
                        const float* pv = vr.probs.data() + t * V;
                        for (int x = 0; x < V; ++x) a += std::min(pi_[x], pv[x]);
                    }
                    sum[i][v] += a;
                    ++p.accept_positions[i][v];
                }
            }
            done += 1;
        }
    }
    for (size_t i = 0; i <= C; ++i)
        for (size_t j = i + 1; j <= C; ++j)
            if (ngram_tested[i][j] > 0)
                p.accept[i][j] = std::min(1.0, sum[i][j] / ngram_tested[i][j]);
            else if (p.accept_positions[i][j] > 0)
                p.accept[i][j] = std::min(1.0, sum[i][j] / (double)p.accept_positions[i][j]);
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
