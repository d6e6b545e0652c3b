#include "planner/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "common/error.h"
#include "common/paths.h"

namespace hsd::planner {

using json = nlohmann::json;

namespace {

const char* kind_name(LevelSpec::Kind k) {
    switch (k) {
        case LevelSpec::Kind::Model: return "model";
        case LevelSpec::Kind::Ngram: return "ngram";
        case LevelSpec::Kind::Exit: return "exit";
    }
    return "?";
}

template <typename T>
T field(const json& j, const char* key, const std::string& file) {
    if (!j.contains(key)) fail(fmt::format("{}: profile has no field \"{}\"", file, key));
    try {
        return j.at(key).get<T>();
    } catch (const json::exception& e) {
        fail(fmt::format("{}: profile field \"{}\" has the wrong type ({})", file, key, e.what()));
    }
}

}  // namespace

json to_json(const Profile& p) {
    json pairs = json::array();
    for (const Profile::ExitPair& e : p.exit_pairs) pairs.push_back({{"from", e.from}, {"to", e.to}, {"cost_ms", e.cost_ms}});
    json cands = json::array();
    for (const ProfileCandidate& c : p.candidates) {
        json j = {{"name", c.name}, {"kind", kind_name(c.level.kind)}, {"cost_ms", c.cost_ms}, {"draft_ms", c.draft_ms}};
        if (c.level.kind == LevelSpec::Kind::Model) j["path"] = c.level.path;
        if (c.level.kind == LevelSpec::Kind::Ngram) j["ngram"] = c.level.ngram_n;
        if (c.level.kind == LevelSpec::Kind::Exit) j["exit_layer"] = c.level.exit_layer;
        cands.push_back(j);
    }
    return {{"version", 1},
            {"target", {{"path", p.target_path}, {"name", p.target_name}, {"n_layer", p.target_layers}}},
            {"sampling",
             {{"temperature", p.sampling.temperature},
              {"top_k", p.sampling.top_k},
              {"top_p", p.sampling.top_p},
              {"min_p", p.sampling.min_p}}},
            {"threads", p.threads},
            {"context", p.context},
            {"n_max", p.n_max},
            {"prompts", p.prompts},
            {"n_prompts", p.n_prompts},
            {"n_tokens", p.n_tokens},
            {"candidates", cands},
            {"target_cost_ms", p.target_cost_ms},
            {"target_draft_ms", p.target_draft_ms},
            {"exit_pairs", pairs},
            {"accept", p.accept},
            {"accept_passed", p.accept_passed}};
}

Profile profile_from_json(const json& j, const std::string& file) {
    if (!j.is_object()) fail(fmt::format("{}: a profile is a JSON object", file));
    Profile p;
    const json target = field<json>(j, "target", file);
    p.target_path = field<std::string>(target, "path", file);
    p.target_name = field<std::string>(target, "name", file);
    p.target_layers = field<int>(target, "n_layer", file);
    const json s = field<json>(j, "sampling", file);
    p.sampling.temperature = field<float>(s, "temperature", file);
    p.sampling.top_k = field<int>(s, "top_k", file);
    p.sampling.top_p = field<float>(s, "top_p", file);
    p.sampling.min_p = field<float>(s, "min_p", file);
    p.threads = field<int>(j, "threads", file);
    p.context = field<int>(j, "context", file);
    p.n_max = field<int>(j, "n_max", file);
    p.prompts = field<std::string>(j, "prompts", file);
    p.n_prompts = field<int>(j, "n_prompts", file);
    p.n_tokens = field<int>(j, "n_tokens", file);
    for (const json& c : field<json>(j, "candidates", file)) {
        ProfileCandidate pc;
        pc.name = field<std::string>(c, "name", file);
        const std::string kind = field<std::string>(c, "kind", file);
        if (kind == "model") {
            pc.level.kind = LevelSpec::Kind::Model;
            pc.level.path = field<std::string>(c, "path", file);
        } else if (kind == "ngram") {
            pc.level.kind = LevelSpec::Kind::Ngram;
            pc.level.ngram_n = field<int>(c, "ngram", file);
        } else if (kind == "exit") {
            pc.level.kind = LevelSpec::Kind::Exit;
            pc.level.exit_layer = field<int>(c, "exit_layer", file);
        } else {
            fail(fmt::format("{}: candidate '{}' has unknown kind '{}'", file, pc.name, kind));
        }
        pc.cost_ms = field<std::vector<double>>(c, "cost_ms", file);
        pc.draft_ms = field<double>(c, "draft_ms", file);
        p.candidates.push_back(pc);
    }
    p.target_cost_ms = field<std::vector<double>>(j, "target_cost_ms", file);
    p.target_draft_ms = field<double>(j, "target_draft_ms", file);
    for (const json& e : field<json>(j, "exit_pairs", file))
        p.exit_pairs.push_back({field<int>(e, "from", file), field<int>(e, "to", file),
                                field<std::vector<double>>(e, "cost_ms", file)});
    p.accept = field<std::vector<std::vector<double>>>(j, "accept", file);
    if (j.contains("accept_passed"))
        p.accept_passed = field<std::vector<std::vector<std::vector<double>>>>(j, "accept_passed", file);

    // Shapes, so the planner never reads out of bounds.
    const size_t C = p.candidates.size();
    auto check_row = [&](const std::vector<double>& row, const std::string& what) {
        if ((int)row.size() != p.n_max)
            fail(fmt::format("{}: {} has {} entries, n_max is {}", file, what, row.size(), p.n_max));
        for (double v : row)
            if (!std::isfinite(v) || v < 0) fail(fmt::format("{}: {} holds {} (costs are finite, >= 0)", file, what, v));
    };
    if (p.n_max < 1) fail(fmt::format("{}: n_max must be >= 1", file));
    for (const ProfileCandidate& c : p.candidates) check_row(c.cost_ms, "cost_ms of " + c.name);
    check_row(p.target_cost_ms, "target_cost_ms");
    for (const Profile::ExitPair& e : p.exit_pairs) {
        if (e.from < 0 || e.to <= e.from || e.to > p.target_layers)
            fail(fmt::format("{}: exit pair {} -> {} is out of order or range", file, e.from, e.to));
        check_row(e.cost_ms, fmt::format("exit pair {} -> {}", e.from, e.to));
    }
    if (p.accept.size() != C + 1)
        fail(fmt::format("{}: accept must be {} x {} (candidates + target)", file, C + 1, C + 1));
    for (const auto& row : p.accept)
        if (row.size() != C + 1) fail(fmt::format("{}: accept must be {} x {} (candidates + target)", file, C + 1, C + 1));
    if (!p.accept_passed.empty()) {
        bool ok = p.accept_passed.size() == C + 1;
        for (const auto& plane : p.accept_passed) {
            ok = ok && plane.size() == C + 1;
            for (const auto& row : plane) ok = ok && row.size() == C + 1;
        }
        if (!ok) fail(fmt::format("{}: accept_passed must be {} x {} x {}", file, C + 1, C + 1, C + 1));
    }
    for (const ProfileCandidate& c : p.candidates)
        if (c.level.kind == LevelSpec::Kind::Exit && !c.cost_ms.empty()) {
            bool found = false;
            for (const Profile::ExitPair& e : p.exit_pairs) found = found || (e.from == 0 && e.to == c.level.exit_layer);
            if (!found) fail(fmt::format("{}: exit {} has no exit pair from 0", file, c.level.exit_layer));
        }
    return p;
}

Profile load_profile(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(fmt::format("cannot read profile '{}'", path));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        fail(fmt::format("{}: not JSON ({})", path, e.what()));
    }
    return profile_from_json(j, path);
}

Problem make_problem(const Profile& p, bool conditional) {
    Problem pr;
    const int C = (int)p.candidates.size();
    pr.n_drafters = C;
    for (const ProfileCandidate& c : p.candidates) pr.names.push_back(c.name);
    pr.names.push_back(p.target_name);
    pr.accept = p.accept;
    if (conditional) pr.accept_passed = p.accept_passed;
    CostTable t;
    const double ms = 1e-3;
    auto seconds = [&](const std::vector<double>& row) {
        std::vector<double> out;
        for (double v : row) out.push_back(v * ms);
        return out;
    };
    for (const ProfileCandidate& c : p.candidates) t.seconds.push_back(seconds(c.cost_ms));
    t.seconds.push_back(seconds(p.target_cost_ms));
    // An early exit (or the target) above an early exit of the same target resumes from it.
    auto pair_row = [&](int from, int to) -> const std::vector<double>* {
        for (const Profile::ExitPair& e : p.exit_pairs)
            if (e.from == from && e.to == to) return &e.cost_ms;
        return nullptr;
    };
    for (int i = 0; i < C; ++i) {
        if (p.candidates[(size_t)i].level.kind != LevelSpec::Kind::Exit) continue;
        const int from = p.candidates[(size_t)i].level.exit_layer;
        for (int j = i + 1; j <= C; ++j) {
            const int to = j == C ? p.target_layers
                                  : p.candidates[(size_t)j].level.kind == LevelSpec::Kind::Exit
                                        ? p.candidates[(size_t)j].level.exit_layer
                                        : -1;
            if (to <= from) continue;
            if (const std::vector<double>* row = pair_row(from, to)) t.pairwise[{i, j}] = seconds(*row);
        }
    }
    auto table = cost_from_table(std::move(t));
    // Drafting (below = -1, one token, back to back) uses the warm costs.
    std::vector<double> draft;
    for (const ProfileCandidate& c : p.candidates) draft.push_back(c.draft_ms * ms);
    draft.push_back(p.target_draft_ms * ms);
    pr.cost = [table, draft](int below, int level, int n) {
        if (below < 0 && n == 1 && level >= 0 && (size_t)level < draft.size()) return draft[(size_t)level];
        return table(below, level, n);
    };
    validate(pr);
    return pr;
}

std::vector<LevelSpec> chain_levels(const Profile& p, const Chain& chain) {
    std::vector<LevelSpec> out;
    for (size_t k = 0; k < chain.levels.size(); ++k) {
        LevelSpec r = p.candidates.at((size_t)chain.levels[k]).level;
        r.threshold = chain.thresholds[k];
        out.push_back(r);
    }
    return out;
}

std::string chain_text(const Profile& p, const Chain& chain) {
    if (chain.levels.empty()) return "none (target alone)";
    std::string s;
    for (size_t k = 0; k < chain.levels.size(); ++k)
        s += fmt::format("{}{}:{}", k ? "," : "", p.candidates.at((size_t)chain.levels[k]).name, chain.thresholds[k]);
    return s;
}

bool chain_of(const Profile& p, const std::vector<LevelSpec>& levels, Chain& out) {
    out = Chain{};
    for (const LevelSpec& r : levels) {
        int found = -1;
        for (size_t i = 0; i < p.candidates.size() && found < 0; ++i) {
            const LevelSpec& c = p.candidates[i].level;
            if (c.kind != r.kind) continue;
            if ((r.kind == LevelSpec::Kind::Model && canonical_path(c.path) == canonical_path(r.path)) ||
                (r.kind == LevelSpec::Kind::Exit && c.exit_layer == r.exit_layer) ||
                (r.kind == LevelSpec::Kind::Ngram && c.ngram_n == r.ngram_n))
                found = (int)i;
        }
        if (found < 0 || (!out.levels.empty() && found <= out.levels.back())) return false;
        out.levels.push_back(found);
        out.thresholds.push_back(r.threshold);
    }
    return true;
}

}  // namespace hsd::planner
