// Prometheus text format builder; see prometheus.h.
#include "server/prometheus.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>

#include "common/error.h"

namespace hsd::server {
namespace {

bool name_char(char c, bool first, bool allow_colon) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

bool valid_name(const std::string& s, bool allow_colon) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (!name_char(s[i], i == 0, allow_colon)) return false;
    return true;
}

// HELP text escaping: only backslash and newline.
std::string escape_help(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

}  // namespace

std::string format_metric_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    // Integral values below 1e21 print in full (fmt would write 1e+20); as in JavaScript,
    // larger ones keep the exponent rather than print 300 digits.
    if (v == 0) return "0";  // also -0
    if (v == std::trunc(v) && std::fabs(v) < 1e21) return fmt::format("{:.0f}", v);
    return fmt::format("{}", v);
}

std::string escape_label_value(const std::string& v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

void MetricsText::counter(const std::string& name, const std::string& help, double value, const Labels& labels) {
    if (!(value >= 0)) fail(fmt::format("metric '{}': a counter must be >= 0, got {}", name, value));
    add(name, help, "counter", value, labels);
}

void MetricsText::gauge(const std::string& name, const std::string& help, double value, const Labels& labels) {
    add(name, help, "gauge", value, labels);
}

void MetricsText::add(const std::string& name, const std::string& help, const char* type, double value,
                      const Labels& labels) {
    if (!valid_name(name, true))
        fail(fmt::format("invalid metric name '{}': must match [a-zA-Z_:][a-zA-Z0-9_:]*", name));
    std::string rendered;
    for (size_t i = 0; i < labels.size(); ++i) {
        const auto& [key, val] = labels[i];
        if (!valid_name(key, false) || key.rfind("__", 0) == 0)
            fail(fmt::format("metric '{}': invalid label name '{}': must match [a-zA-Z_][a-zA-Z0-9_]* and not "
                             "start with '__'",
                             name, key));
        for (size_t j = 0; j < i; ++j)
            if (labels[j].first == key) fail(fmt::format("metric '{}': label '{}' given twice", name, key));
        rendered += fmt::format("{}{}=\"{}\"", i ? "," : "", key, escape_label_value(val));
    }

    Family* family = nullptr;
    for (auto& f : families_)
        if (f.name == name) family = &f;
    if (!family) {
        families_.push_back({name, help, type, {}});
        family = &families_.back();
    } else if (family->type != type || family->help != help) {
        fail(fmt::format("metric '{}' added again as a {} with help '{}'; it was a {} with help '{}'", name, type,
                         help, family->type, family->help));
    }
    for (const auto& s : family->samples)
        if (s.first == rendered) fail(fmt::format("metric '{}': sample {{{}}} added twice", name, rendered));
    family->samples.emplace_back(std::move(rendered), value);
}

std::string MetricsText::str() const {
    std::string out;
    for (const auto& f : families_) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escape_help(f.help), f.name, f.type);
        for (const auto& [labels, value] : f.samples) {
            if (labels.empty())
                out += fmt::format("{} {}\n", f.name, format_metric_value(value));
            else
                out += fmt::format("{}{{{}}} {}\n", f.name, labels, format_metric_value(value));
        }
    }
    return out;
}

}  // namespace hsd::server
