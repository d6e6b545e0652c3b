#include "planner/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/error.h"

namespace hsd::planner {

using json = nlohmann::json;

namespace {

const char* kind_name(LevelRequest::Kind k) {
    switch (k) {
        case LevelRequest::Kind::Model: return "model";
        case LevelRequest::Kind::Ngram: return "ngram";
        case LevelRequest::Kind::Exit: return "exit";
    }
    return "?";
}

// Cost row (ms, n = 1..n_max) of running the target from depth a to depth b, plus the head
// and the sampling transform of every row.
std::vector<double> segment_row(const Profile& p, int a, int b) {
    std::vector<double> row((size_t)p.n_max, 0.0);
    for (size_t s = 0; s + 1 < p.boundaries.size(); ++s)
        if (p.boundaries[s] >= a && p.boundaries[s + 1] <= b)
            for (int n = 1; n <= p.n_max; ++n) row[(size_t)n - 1] += p.segment_ms[s][(size_t)n - 1];
    for (int n = 1; n <= p.n_max; ++n) row[(size_t)n - 1] += p.head_ms[(size_t)n - 1] + n * p.sample_ms;
    return row;
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
    json cands = json::array();
    for (const ProfileCandidate& c : p.candidates) {
        json j = {{"name", c.name}, {"kind", kind_name(c.level.kind)}, {"cost_ms", c.cost_ms}, {"draft_ms", c.draft_ms}};
        if (c.level.kind == LevelRequest::Kind::Model) j["path"] = c.level.path;
        if (c.level.kind == LevelRequest::Kind::Ngram) j["ngram"] = c.level.ngram_n;
        if (c.level.kind == LevelRequest::Kind::Exit) j["exit_layer"] = c.level.exit_layer;
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
            {"boundaries", p.boundaries},
            {"segment_ms", p.segment_ms},
            {"head_ms", p.head_ms},
            {"segment_draft_ms", p.segment_draft_ms},
            {"head_draft_ms", p.head_draft_ms},
            {"sample_ms", p.sample_ms},
            {"accept", p.accept},
            {"accept_positions", p.accept_positions},
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
            pc.level.kind = LevelRequest::Kind::Model;
            pc.level.path = field<std::string>(c, "path", file);
        } else if (kind == "ngram") {
            pc.level.kind = LevelRequest::Kind::Ngram;
            pc.level.ngram_n = field<int>(c, "ngram", file);
        } else if (kind == "exit") {
            pc.level.kind = LevelRequest::Kind::Exit;
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
    p.boundaries = field<std::vector<int>>(j, "boundaries", file);
    p.segment_ms = field<std::vector<std::vector<double>>>(j, "segment_ms", file);
    p.head_ms = field<std::vector<double>>(j, "head_ms", file);
    p.segment_draft_ms = field<std::vector<double>>(j, "segment_draft_ms", file);
    p.head_draft_ms = field<double>(j, "head_draft_ms", file);
    p.sample_ms = field<double>(j, "sample_ms", file);
    p.accept = field<std::vector<std::vector<double>>>(j, "accept", file);
    p.accept_positions = field<std::vector<std::vector<int64_t>>>(j, "accept_positions", file);
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
    check_row(p.head_ms, "head_ms");
    if (p.boundaries.size() < 2 || p.boundaries.front() != 0 || p.boundaries.back() != p.target_layers ||
        p.segment_ms.size() + 1 != p.boundaries.size())
        fail(fmt::format("{}: boundaries must run from 0 to n_layer with one segment_ms row per segment", file));
    for (size_t s = 0; s < p.segment_ms.size(); ++s) check_row(p.segment_ms[s], fmt::format("segment_ms[{}]", s));
    if (p.segment_draft_ms.size() != p.segment_ms.size())
        fail(fmt::format("{}: segment_draft_ms needs one entry per segment", file));
    for (double v : p.segment_draft_ms)
        if (!std::isfinite(v) || v < 0) fail(fmt::format("{}: segment_draft_ms holds {}", file, v));
    for (const ProfileCandidate& c : p.candidates)
        if (!std::isfinite(c.draft_ms) || c.draft_ms < 0) fail(fmt::format("{}: draft_ms of {} is {}", file, c.name, c.draft_ms));
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
        if (c.level.kind == LevelRequest::Kind::Exit &&
            std::find(p.boundaries.begin(), p.boundaries.end(), c.level.exit_layer) == p.boundaries.end())
            fail(fmt::format("{}: exit {} is not a segment boundary", file, c.level.exit_layer));
    return p;
}

Problem make_problem(const Profile& p) {
    Problem pr;
    const int C = (int)p.candidates.size();
    pr.n_drafters = C;
    for (const ProfileCandidate& c : p.candidates) pr.names.push_back(c.name);
    pr.names.push_back(p.target_name);
    pr.accept = p.accept;
    pr.accept_passed = p.accept_passed;
    CostTable t;
    const double ms = 1e-3;
    auto seconds = [&](const std::vector<double>& row) {
        std::vector<double> out;
        for (double v : row) out.push_back(v * ms);
        return out;
    };
    for (const ProfileCandidate& c : p.candidates) t.seconds.push_back(seconds(c.cost_ms));
    t.seconds.push_back(seconds(p.target_cost_ms));
    // An early exit (or the target) above an early exit only runs the layers in between for
    // the batch, plus the layers below for one token: the last one of the batch, which the
    // level below produced and never ran (its unevaluated last draft, or its own correction).
    for (int i = 0; i < C; ++i) {
        if (p.candidates[(size_t)i].level.kind != LevelRequest::Kind::Exit) continue;
        const int from = p.candidates[(size_t)i].level.exit_layer;
        const std::vector<double> lower = segment_row(p, 0, from);
        for (int j = i + 1; j <= C; ++j) {
            const int to = j == C ? p.target_layers
                                  : p.candidates[(size_t)j].level.kind == LevelRequest::Kind::Exit
                                        ? p.candidates[(size_t)j].level.exit_layer
                                        : -1;
            if (to <= from) continue;
            std::vector<double> row = segment_row(p, from, to);
            const double one = lower[0] - p.head_ms[0] - p.sample_ms;  // layers [0, from) for one row
            for (double& v : row) v += one;
            t.pairwise[{i, j}] = seconds(row);
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

std::vector<LevelRequest> chain_levels(const Profile& p, const Chain& chain) {
    std::vector<LevelRequest> out;
    for (size_t k = 0; k < chain.levels.size(); ++k) {
        LevelRequest r = p.candidates.at((size_t)chain.levels[k]).level;
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

bool chain_of(const Profile& p, const std::vector<LevelRequest>& levels, Chain& out) {
    namespace fs = std::filesystem;
    out = Chain{};
    for (const LevelRequest& r : levels) {
        int found = -1;
        for (size_t i = 0; i < p.candidates.size() && found < 0; ++i) {
            const LevelRequest& c = p.candidates[i].level;
            if (c.kind != r.kind) continue;
            std::error_code e1, e2;
            if ((r.kind == LevelRequest::Kind::Model && fs::weakly_canonical(c.path, e1) == fs::weakly_canonical(r.path, e2)) ||
                (r.kind == LevelRequest::Kind::Exit && c.exit_layer == r.exit_layer) ||
                (r.kind == LevelRequest::Kind::Ngram && c.ngram_n == r.ngram_n))
                found = (int)i;
        }
        if (found < 0 || (!out.levels.empty() && found <= out.levels.back())) return false;
        out.levels.push_back(found);
        out.thresholds.push_back(r.threshold);
    }
    return true;
}

}  // namespace hsd::planner
