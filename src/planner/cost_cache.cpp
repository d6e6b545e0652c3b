#include "planner/cost_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/timer.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "planner/profiler_internal.h"
#include "tokenizer/synthetic_tokens.h"

namespace hsd::planner {

namespace {

constexpr int kSchema = 1;
constexpr const char* kKind = "costs";

bool finite_row(const nlohmann::json& j, int n) {
    if (!j.is_array() || (int)j.size() != n) return false;
    for (const auto& v : j)
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) return false;
    return true;
}

bool finite_number(const nlohmann::json& j, const char* field) {
    return j.contains(field) && j[field].is_number() && std::isfinite(j[field].get<double>()) &&
           j[field].get<double>() >= 0;
}

// A model's entry value: {"cost_ms": [n_max], "draft_ms": x} (+ the target's "exit_pairs":
// [{"from", "to", "cost_ms", "draft_ms"}] for every pair the exits can form).
nlohmann::json model_value(const std::vector<double>& cost_ms, double draft_ms) {
    return {{"cost_ms", cost_ms}, {"draft_ms", draft_ms}};
}

// The target's entry value: its own costs and every exit pair, each from-layer-0 pair with the
// drafting cost of its exit (found among the profile's candidates).
nlohmann::json target_value(const Profile& p) {
    nlohmann::json v = model_value(p.target_cost_ms, p.target_draft_ms);
    v["exit_pairs"] = nlohmann::json::array();
    for (const Profile::ExitPair& e : p.exit_pairs) {
        double draft_ms = 0;
        for (const ProfileCandidate& c : p.candidates)
            if (e.from == 0 && c.level.is_exit() && c.level.exit_layer == e.to) draft_ms = c.draft_ms;
        v["exit_pairs"].push_back({{"from", e.from}, {"to", e.to}, {"cost_ms", e.cost_ms}, {"draft_ms", draft_ms}});
    }
    return v;
}

}  // namespace

nlohmann::json cost_key(const std::string& model_path, bool target, const std::vector<int>& exits,
                        const SamplingParams& sampling, int threads, int n_max) {
    nlohmann::json k = {{"schema", kSchema},
                        {"file", file_identity(model_path)},
                        {"cpu", cpu_model_name()},
                        {"threads", threads},
                        {"build", build_identity()},
                        {"repacked", Model::repack_default()},
                        {"pass", sampling.greedy() ? "argmax" : "distributions"},
                        {"context", kCostContext},
                        {"n_max", n_max}};
    if (target) k["exits"] = exits;
    return k;
}

CachedCosts cached_costs(const Model& target, ModelCache& models, ThreadPool& pool, const CostRequest& req,
                         const std::vector<TokenId>& prompt, const CacheStore& store) {
    using namespace detail;
    const double t0 = now_seconds();
    if (req.rows.empty() || req.rows.front() != 1) fail("planner costs: the timed batch sizes must start at 1");
    const int n_max = req.rows.back();
    const int n_layer = target.config().n_layer;
    const std::vector<int> exits = distinct_exits(req.exits);

    CachedCosts out;
    Profile& p = out.profile;
    p.target_path = target.path();
    p.target_name = std::filesystem::path(target.path()).stem().string();
    p.target_layers = n_layer;
    p.sampling = req.sampling;
    p.threads = pool.size();
    p.n_max = n_max;
    p.context = std::min(kCostContext, target.config().n_ctx_train - n_max - 1);
    p.prompts = "(cached costs)";

    ProfileOptions po;
    po.drafts = req.drafts;
    po.exits = exits;
    po.ngram = req.ngram;
    po.n_max = n_max;
    po.reps = req.reps;
    po.cost_rows = req.rows;
    po.sampling = req.sampling;
    po.derive_exit_pairs = true;
    if (!req.all_exits && !exits.empty()) {  // the exit nearest half the depth
        int mid = exits.front();
        for (int e : exits)
            if (std::abs(2 * e - n_layer) < std::abs(2 * mid - n_layer)) mid = e;
        po.timed_exits = {mid};
    }
    // (The caller checked the drafts' vocabularies: a cache hit loads no draft model.)
    p.candidates = collect_candidates(target, models, po, exits, false);

    // The target's entry: its own costs, and every exit pair with the exits' drafting costs.
    const std::vector<std::pair<int, int>> pairs = exit_pairs(exits, n_layer);
    const nlohmann::json tkey = cost_key(target.path(), true, exits, req.sampling, pool.size(), n_max);
    bool target_ok = false;
    if (!req.reprofile)
        if (std::optional<nlohmann::json> v = store.load(kKind, tkey)) {
            bool ok = finite_row((*v)["cost_ms"], n_max) && finite_number(*v, "draft_ms") &&
                      (*v)["exit_pairs"].is_array() && (*v)["exit_pairs"].size() == pairs.size();
            for (size_t k = 0; ok && k < pairs.size(); ++k) {
                const nlohmann::json& e = (*v)["exit_pairs"][k];
                ok = e.is_object() && e.value("from", -1) == pairs[k].first && e.value("to", -1) == pairs[k].second &&
                     finite_row(e["cost_ms"], n_max) && finite_number(e, "draft_ms");
            }
            if (ok) {
                p.target_cost_ms = (*v)["cost_ms"].get<std::vector<double>>();
                p.target_draft_ms = (*v)["draft_ms"].get<double>();
                for (const nlohmann::json& e : (*v)["exit_pairs"]) {
                    p.exit_pairs.push_back({e["from"].get<int>(), e["to"].get<int>(),
                                            e["cost_ms"].get<std::vector<double>>()});
                    if (e["from"].get<int>() == 0)
                        for (ProfileCandidate& c : p.candidates)
                            if (c.level.is_exit() && c.level.exit_layer == e["to"].get<int>()) {
                                c.cost_ms = p.exit_pairs.back().cost_ms;
                                c.draft_ms = e["draft_ms"].get<double>();
                            }
                }
                target_ok = true;
            } else {
                store.ignore(kKind, tkey, "its costs do not have the expected shape");
            }
        }
    out.hits += target_ok;

    // Draft models: each its own entry.
    std::vector<std::string> missing;
    std::vector<nlohmann::json> keys(p.candidates.size());
    for (size_t i = 0; i < p.candidates.size(); ++i) {
        ProfileCandidate& c = p.candidates[i];
        if (!c.level.is_model()) continue;
        keys[i] = cost_key(c.level.path, false, {}, req.sampling, pool.size(), n_max);
        std::optional<nlohmann::json> v;
        if (!req.reprofile) v = store.load(kKind, keys[i]);
        if (v && finite_row((*v)["cost_ms"], n_max) && finite_number(*v, "draft_ms")) {
            c.cost_ms = (*v)["cost_ms"].get<std::vector<double>>();
            c.draft_ms = (*v)["draft_ms"].get<double>();
            ++out.hits;
            continue;
        }
        if (v) store.ignore(kKind, keys[i], "its costs do not have the expected shape");
        missing.push_back(c.level.path);
    }

    std::vector<std::vector<TokenId>> prompts = {prompt};
    if (prompt.size() < 2) prompts = {synthetic_tokens(target.tokenizer(), 64, 7)};
    if (!target_ok || !missing.empty()) {
        // One round-robin run over everything missing (the target's rows with its exit pairs
        // only when the target is missing), so machine drift shifts them alike.
        Profile m = p;
        m.candidates.clear();
        for (const ProfileCandidate& c : p.candidates)
            if ((c.level.is_model() && std::count(missing.begin(), missing.end(), c.level.path)) ||
                (c.level.is_exit() && !target_ok))
                m.candidates.push_back(c);
        po.measure_target = !target_ok;
        const ProfileSetup s{target, models, pool, po, prompts, exits};
        measure_costs(m, s);
        if (!target_ok) {
            p.target_cost_ms = m.target_cost_ms;
            p.target_draft_ms = m.target_draft_ms;
            p.exit_pairs = m.exit_pairs;
            store.store(kKind, tkey, target_value(m));
            ++out.measured;
        }
        for (const ProfileCandidate& mc : m.candidates)
            for (size_t i = 0; i < p.candidates.size(); ++i) {
                ProfileCandidate& c = p.candidates[i];
                const bool same = (mc.level.is_model() && c.level.is_model() && mc.level.path == c.level.path) ||
                                  (mc.level.is_exit() && c.level.is_exit() && mc.level.exit_layer == c.level.exit_layer);
                if (!same) continue;
                c.cost_ms = mc.cost_ms;
                c.draft_ms = mc.draft_ms;
                if (c.level.is_model()) {
                    store.store(kKind, keys[i], model_value(c.cost_ms, c.draft_ms));
                    ++out.measured;
                }
            }
    }
    for (ProfileCandidate& c : p.candidates)
        if (c.level.is_ngram()) {
            c.draft_ms = ngram_lookup_ms(prompts, c.level.ngram_n);
            c.cost_ms.assign((size_t)n_max, c.draft_ms);
        }
    order_candidates(p.candidates);
    out.seconds = now_seconds() - t0;
    return out;
}

void store_profile_costs(const Profile& p, const std::vector<int>& exits, const CacheStore& store) {
    const std::vector<int> ex = detail::distinct_exits(exits);
    store.store(kKind, cost_key(p.target_path, true, ex, p.sampling, p.threads, p.n_max), target_value(p));
    for (const ProfileCandidate& c : p.candidates)
        if (c.level.is_model())
            store.store(kKind, cost_key(c.level.path, false, {}, p.sampling, p.threads, p.n_max),
                        model_value(c.cost_ms, c.draft_ms));
}

}  // namespace hsd::planner
