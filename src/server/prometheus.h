#pragma once
// Prometheus text exposition format 0.0.4 for GET /metrics: samples are collected first and
// rendered by str(), so every metric family gets exactly one "# HELP" and "# TYPE" header
// however its samples were added. Families appear in the order first added; samples within a
// family in the order added.
#include <string>
#include <utility>
#include <vector>

namespace hsd::server {

// Label name/value pairs, rendered in the given order.
using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
public:
    // Each throws hsd::Error for an invalid metric or label name (names must match
    // [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"),
    // a repeated label name, a family re-added with another type or help text, a repeated
    // sample (same family and labels), or a negative or NaN counter.
    void counter(const std::string& name, const std::string& help, double value, const Labels& labels = {});
    void gauge(const std::string& name, const std::string& help, double value, const Labels& labels = {});

    // The exposition text (ends with "\n" unless empty). Content type:
    // "text/plain; version=0.0.4; charset=utf-8".
    std::string str() const;

    static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

private:
    struct Family {
        std::string name, help, type;
        std::vector<std::pair<std::string, double>> samples;  // rendered labels, value
    };
    void add(const std::string& name, const std::string& help, const char* type, double value, const Labels& labels);

    std::vector<Family> families_;
};

// A sample value as Prometheus reads it: integral values below 1e21 without exponent or
// fraction ("3", "12345678901"), other finite values in the shortest form that reads back
// exactly ("0.1", "2.5e-07", "1e+300"),
// "NaN", "+Inf", "-Inf".
std::string format_metric_value(double v);
// Label value escaping: backslash, double quote and newline become \\, \" and \n.
std::string escape_label_value(const std::string& v);

}  // namespace hsd::server
