#include "server/speculative_choice.h"

#include <filesystem>
#include <fmt/format.h>

#include "common/error.h"
#include "server/api_request.h"
#include "speculative/hierarchy_syntax.h"

namespace hsd::server {

namespace {

ApiError bad(const std::string& msg) { return ApiError(400, msg, "invalid_request_error", "speculative"); }

std::string stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }
std::string filename(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::string find_model(const std::string& name, const std::vector<std::string>& allowed) {
    for (const std::string& p : allowed)
        if (name == p || name == filename(p) || name == stem(p)) return p;
    std::string known;
    for (const std::string& p : allowed) known += (known.empty() ? "" : ", ") + stem(p);
    throw bad(fmt::format("'speculative' names model '{}', which this server was not started with{}", name,
                          known.empty() ? " (it was started with no draft models)" : " (it has: " + known + ")"));
}

std::string resolve_hierarchy(const std::string& text, const std::vector<std::string>& allowed) {
    std::vector<LevelSpec> levels;
    try {
        levels = parse_level_list(text, "speculative");
    } catch (const Error& e) {
        throw bad(e.what());
    }
    for (LevelSpec& l : levels)
        if (l.is_model()) l.path = find_model(l.path, allowed);
    return format_level_list(levels);
}

DecodingChoice keyed(DecodingRequest d) {
    try {
        d.validate();
    } catch (const Error& e) {
        throw bad(e.what());
    }
    nlohmann::json k = {{"draft", d.draft}, {"hierarchy", d.hierarchy}, {"hispec", d.hispec},
                        {"self_spec", d.self_spec}, {"plan", d.plan}, {"draft_max", d.draft_max},
                        {"draft_ngram", d.draft_ngram}, {"drafts", d.auto_drafts},
                        {"hs", {d.hs.exit_draft, d.hs.exit_verify, d.hs.draft_n, d.hs.window}}};
    return {std::move(d), k.dump()};
}

}  // namespace

std::vector<std::string> models_named(const DecodingRequest& d) {
    std::vector<std::string> out;
    if (!d.draft.empty()) out.push_back(d.draft);
    if (!d.hierarchy.empty() && !d.is_auto())
        for (const LevelSpec& l : parse_level_list(d.hierarchy))
            if (l.is_model()) out.push_back(l.path);
    return out;
}

DecodingChoice choose_decoding(const std::optional<nlohmann::json>& field, const DecodingRequest& def,
                               const std::vector<std::string>& allowed, const std::vector<std::string>& auto_drafts) {
    if (!field || field->is_null()) return keyed(def);
    const nlohmann::json& v = *field;
    DecodingRequest d;
    d.hs = def.hs;
    d.draft_max = def.draft_max;
    if (v.is_boolean()) {
        if (v.get<bool>()) return keyed(def);
        return keyed(d);
    }
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (s == "default" || s == "on") return keyed(def);
        if (s == "off" || s == "none" || s == "ar") return keyed(d);
        if (s == "auto") {
            d.hierarchy = "auto";
            d.auto_drafts = auto_drafts;
            return keyed(d);
        }
        if (s == "hispec") {
            d.hispec = true;
            return keyed(d);
        }
        if (s == "self-spec" || s == "self_spec") {
            d.self_spec = true;
            return keyed(d);
        }
        if (s.empty()) throw bad("'speculative' is an empty string");
        d.hierarchy = resolve_hierarchy(s, allowed);
        return keyed(d);
    }
    if (!v.is_object())
        throw bad(fmt::format("'speculative' must be a string, a boolean or an object, got {}", v.type_name()));
    for (const auto& [key, val] : v.items()) {
        auto want_int = [&, &key = key, &val = val]() {
            if (!val.is_number_integer()) throw bad(fmt::format("'speculative.{}' must be an integer", key));
            return val.get<int>();
        };
        auto want_bool = [&, &key = key, &val = val]() {
            if (!val.is_boolean()) throw bad(fmt::format("'speculative.{}' must be a boolean", key));
            return val.get<bool>();
        };
        auto want_string = [&, &key = key, &val = val]() {
            if (!val.is_string()) throw bad(fmt::format("'speculative.{}' must be a string", key));
            return val.get<std::string>();
        };
        if (key == "hierarchy") {
            const std::string h = want_string();
            d.hierarchy = h == "auto" ? h : resolve_hierarchy(h, allowed);
            if (d.is_auto()) d.auto_drafts = auto_drafts;
        } else if (key == "draft")
            d.draft = find_model(want_string(), allowed);
        else if (key == "draft_max")
            d.draft_max = want_int();
        else if (key == "draft_ngram")
            d.draft_ngram = want_int();
        else if (key == "hispec")
            d.hispec = want_bool();
        else if (key == "self_spec")
            d.self_spec = want_bool();
        else
            throw bad(fmt::format("'speculative.{}' is not a known field (hierarchy, draft, draft_max, draft_ngram, "
                                  "hispec, self_spec)",
                                  key));
    }
    return keyed(d);
}

}  // namespace hsd::server
