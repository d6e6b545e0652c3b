// Parsing and validation of the server's request bodies; the rules are in api_request.h.
//
// Unsupported OpenAI fields rejected with 400 unless neutral: n (!= 1), best_of (> 1),
// suffix (non-empty), logit_bias (non-empty), frequency_penalty / presence_penalty (!= 0),
// tools / functions (non-empty), tool_choice / function_call (other than "none"/"auto"),
// response_format (type other than "text"), assistant tool_calls (non-empty).
// Accepted and without effect: user, metadata, store, service_tier, service_level,
// parallel_tool_calls, echo false, logprobs false.
// /completion additionally rejects grammar, json_schema, mirostat, repeat_penalty != 1 and
// non-empty logit_bias; cache_prompt is accepted and ignored.
#include "server/api_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "common/utf8.h"
#include "server/stop_strings.h"

namespace hsd::server {

using json = nlohmann::json;

ApiError::ApiError(int status_, std::string message, std::string type_, std::string param_, std::string code_)
    : std::runtime_error(std::move(message)),
      status(status_),
      type(std::move(type_)),
      param(std::move(param_)),
      code(std::move(code_)) {}

json ApiError::to_json() const {
    json e = {{"message", what()}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (!param.empty()) e["param"] = param;
    if (!code.empty()) e["code"] = code;
    return {{"error", e}};
}

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxOpenAiStops = 4;

std::string describe(const json& j) {
    switch (j.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "integer";
        case json::value_t::number_float: return "number";
        case json::value_t::string: return "string";
        case json::value_t::array: return "array";
        case json::value_t::object: return "object";
        default: return "an unexpected value";
    }
}

[[noreturn]] void bad(const std::string& param, const std::string& message) {
    throw ApiError(400, message, "invalid_request_error", param);
}

[[noreturn]] void wrong_type(const std::string& param, const char* expected, const json& got) {
    bad(param, fmt::format("'{}' must be {}, got {}", param, expected, describe(got)));
}

// A JSON integer as int64 within [lo, hi].
int64_t to_integer(const json& v, const std::string& param, int64_t lo, int64_t hi) {
    if (!v.is_number_integer()) wrong_type(param, "an integer", v);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        bad(param, fmt::format("'{}' must be <= {}, got {}", param, hi, v.get<uint64_t>()));
    const auto x = v.get<int64_t>();
    if (x < lo) bad(param, fmt::format("'{}' must be >= {}, got {}", param, lo, x));
    if (x > hi) bad(param, fmt::format("'{}' must be <= {}, got {}", param, hi, x));
    return x;
}

// The fields of one JSON object: typed access that remembers which keys were asked for, so
// that the rest can be reported as ignored.
class Fields {
public:
    Fields(const json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

    std::string path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

    // The value, or nullptr when absent or null.
    const json* get(const std::string& key) {
        known_.push_back(key);
        const auto it = obj_.find(key);
        return it == obj_.end() || it->is_null() ? nullptr : &*it;
    }
    std::optional<bool> boolean(const std::string& key) {
        const json* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_boolean()) wrong_type(path(key), "a boolean", *v);
        return v->get<bool>();
    }
    std::optional<std::string> string(const std::string& key) {
        const json* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_string()) wrong_type(path(key), "a string", *v);
        return v->get<std::string>();
    }
    std::optional<double> number(const std::string& key) {
        const json* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_number()) wrong_type(path(key), "a number", *v);
        return v->get<double>();
    }
    std::optional<int64_t> integer(const std::string& key, int64_t lo = std::numeric_limits<int64_t>::min(),
                                   int64_t hi = kInt64Max) {
        const json* v = get(key);
        if (!v) return std::nullopt;
        return to_integer(*v, path(key), lo, hi);
    }
    const json* object(const std::string& key) {
        const json* v = get(key);
        if (v && !v->is_object()) wrong_type(path(key), "an object", *v);
        return v;
    }
    const json* array(const std::string& key) {
        const json* v = get(key);
        if (v && !v->is_array()) wrong_type(path(key), "an array", *v);
        return v;
    }
    // A number that must lie in [lo, hi]; lo_open excludes lo.
    std::optional<float> number_in(const std::string& key, double lo, double hi, bool lo_open = false) {
        const auto v = number(key);
        if (v && (*v < lo || *v > hi || (lo_open && *v == lo)))
            bad(path(key), fmt::format("'{}' must be {} {} and <= {}, got {}", path(key), lo_open ? ">" : ">=", lo, hi,
                                       *v));
        return v ? std::optional<float>(static_cast<float>(*v)) : std::nullopt;
    }

    void collect_unknown(std::vector<std::string>& out) const {
        for (auto it = obj_.begin(); it != obj_.end(); ++it)
            if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) out.push_back(path(it.key()));
    }

private:
    const json& obj_;
    std::string prefix_;
    std::vector<std::string> known_;
};

const json& require_object(const json& body) {
    if (!body.is_object()) bad("", fmt::format("request body must be a JSON object, got {}", describe(body)));
    return body;
}

// Token ids: integers in [0, 2^31 - 1].
std::vector<int32_t> token_array(const json& arr, const std::string& param) {
    std::vector<int32_t> out;
    out.reserve(arr.size());
    for (const auto& t : arr) {
        if (!t.is_number_integer()) wrong_type(param, "an array of integer token ids", arr);
        const bool in_range = t.is_number_unsigned() ? t.get<uint64_t>() <= static_cast<uint64_t>(kInt32Max)
                                                     : t.get<int64_t>() >= 0 && t.get<int64_t>() <= kInt32Max;
        if (!in_range)
            bad(param, fmt::format("'{}' token ids must be between 0 and {}, got {}", param, kInt32Max, t.dump()));
        out.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    return out;
}

bool all_integers(const json& arr) {
    return std::all_of(arr.begin(), arr.end(), [](const json& t) { return t.is_number_integer(); });
}

// "prompt": a string, [string], token ids or [token ids].
void parse_prompt(Fields& f, CompletionRequest& r) {
    const json* p = f.get("prompt");
    if (!p) bad("prompt", "'prompt' is required");
    if (p->is_string()) {
        r.prompt = p->get<std::string>();
        return;
    }
    if (!p->is_array()) wrong_type("prompt", "a string or an array", *p);
    if (p->empty()) bad("prompt", "'prompt' must not be an empty array");
    const json* tokens = nullptr;
    if (all_integers(*p)) {
        tokens = p;
    } else if (p->size() == 1 && (*p)[0].is_string()) {
        r.prompt = (*p)[0].get<std::string>();
        return;
    } else if (p->size() == 1 && (*p)[0].is_array() && all_integers((*p)[0])) {
        tokens = &(*p)[0];
    } else if (std::all_of(p->begin(), p->end(), [](const json& x) { return x.is_string() || x.is_array(); })) {
        bad("prompt", "batched prompts are not supported; send one request per prompt");
    } else {
        bad("prompt", "'prompt' must be a string, an array with one string, or an array of integer token ids");
    }
    if (tokens->empty()) bad("prompt", "'prompt' must not be an empty array");
    r.prompt_tokens = token_array(*tokens, "prompt");
    r.prompt_is_tokens = true;
}

// "stop": a string or an array of strings, each non-empty.
std::vector<std::string> parse_stop(Fields& f, size_t max_count) {
    const json* s = f.get("stop");
    if (!s) return {};
    std::vector<std::string> out;
    if (s->is_string()) {
        out.push_back(s->get<std::string>());
    } else if (s->is_array()) {
        for (const auto& x : *s) {
            if (!x.is_string()) bad("stop", fmt::format("'stop' must be a string or an array of strings, got an array "
                                                        "containing {}",
                                                        describe(x)));
            out.push_back(x.get<std::string>());
        }
    } else {
        wrong_type("stop", "a string or an array of strings", *s);
    }
    if (out.size() > max_count)
        bad("stop", fmt::format("'stop' may hold at most {} strings, got {}", max_count, out.size()));
    for (const auto& x : out) {
        if (x.empty()) bad("stop", "'stop' strings must not be empty");
        if (x.size() > StopMatcher::kMaxStopBytes)
            bad("stop", fmt::format("'stop' strings must be at most {} bytes, got one of {} bytes",
                                    StopMatcher::kMaxStopBytes, x.size()));
    }
    return out;
}

void parse_speculative(Fields& f, GenerationParams& g) {
    const json* s = f.get("speculative");
    if (!s) return;
    if (!s->is_string() && !s->is_object()) wrong_type("speculative", "a string or an object", *s);
    g.speculative = *s;
}

// A number that must be 0 (or absent) since the feature is not implemented.
void require_zero(Fields& f, const std::string& key) {
    const auto v = f.number(key);
    if (v && *v != 0) bad(key, fmt::format("'{}' is not supported (only 0)", key));
}

void require_empty(Fields& f, const std::string& key, const char* what) {
    const json* v = f.get(key);
    if (v && !(v->is_object() || v->is_array())) wrong_type(key, what, *v);
    if (v && !v->empty()) bad(key, fmt::format("'{}' is not supported", key));
}

// "seed": any non-negative 64-bit integer; with minus_one_is_random, -1 means "not given".
std::optional<uint64_t> parse_seed(Fields& f, bool minus_one_is_random) {
    const json* s = f.get("seed");
    if (!s) return std::nullopt;
    if (s->is_number_unsigned()) return s->get<uint64_t>();
    const int64_t v = to_integer(*s, "seed", minus_one_is_random ? -1 : 0, kInt64Max);
    if (v < 0) return std::nullopt;
    return static_cast<uint64_t>(v);
}

// Fields shared by /v1/completions and /v1/chat/completions.
void parse_openai_common(Fields& f, GenerationParams& g) {
    if (auto v = f.string("model")) g.model = *v;
    g.temperature = f.number_in("temperature", 0, 2);
    g.top_p = f.number_in("top_p", 0, 1, true);
    if (auto v = f.integer("top_k", 0, kInt32Max)) g.top_k = static_cast<int>(*v);
    g.min_p = f.number_in("min_p", 0, 1);
    g.seed = parse_seed(f, false);
    g.stop = parse_stop(f, kMaxOpenAiStops);
    g.stream = f.boolean("stream").value_or(false);
    if (const json* so = f.object("stream_options")) {
        if (!g.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
        Fields o(*so, "stream_options");
        g.include_usage = o.boolean("include_usage").value_or(false);
        o.collect_unknown(g.ignored_fields);
    }
    if (auto n = f.integer("n"); n && *n != 1) bad("n", "only n=1 is supported");
    require_empty(f, "logit_bias", "an object");
    require_zero(f, "frequency_penalty");
    require_zero(f, "presence_penalty");
    parse_speculative(f, g);
    g.ignore_eos = f.boolean("ignore_eos").value_or(false);
    // Accepted, no effect on the output.
    f.string("user");
    f.object("metadata");
    f.boolean("store");
    f.string("service_tier");
    f.string("service_level");
    f.boolean("parallel_tool_calls");
}

int parse_max_tokens(Fields& f, const std::string& key) {
    const auto v = f.integer(key, 1, kInt32Max);
    return v ? static_cast<int>(*v) : -1;
}

// "tool_choice" / "function_call": only the values that mean "no tool".
void require_no_tool_choice(Fields& f, const std::string& key) {
    const json* v = f.get(key);
    if (!v) return;
    if (!v->is_string() && !v->is_object()) wrong_type(key, "a string or an object", *v);
    if (v->is_string() && (*v == "none" || *v == "auto")) return;
    bad(key, fmt::format("'{}' is not supported (tools are not supported)", key));
}

ChatMessageIn parse_message(const json& m, size_t i, std::vector<std::string>& ignored) {
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) wrong_type(at, "an object", m);
    Fields f(m, at);
    ChatMessageIn out;
    const auto role = f.string("role");
    if (!role) bad(at + ".role", fmt::format("'{}.role' is required", at));
    if (*role == "system" || *role == "user" || *role == "assistant") {
        out.role = *role;
    } else if (*role == "developer") {
        out.role = "system";
    } else if (*role == "tool" || *role == "function") {
        bad(at + ".role", fmt::format("'{}.role' '{}' is not supported (tools are not supported)", at, *role));
    } else {
        bad(at + ".role", fmt::format("'{}.role' must be one of system, user, assistant, developer; got '{}'", at,
                                      *role));
    }

    const json* c = f.get("content");
    if (!c) {
        if (out.role != "assistant") bad(at + ".content", fmt::format("'{}.content' is required", at));
    } else if (c->is_string()) {
        out.content = c->get<std::string>();
    } else if (c->is_array()) {
        for (size_t j = 0; j < c->size(); ++j) {
            const std::string part_at = fmt::format("{}.content[{}]", at, j);
            const json& part = (*c)[j];
            if (!part.is_object()) wrong_type(part_at, "an object", part);
            Fields p(part, part_at);
            const auto type = p.string("type");
            if (!type) bad(part_at + ".type", fmt::format("'{}.type' is required", part_at));
            if (*type != "text")
                bad(part_at + ".type",
                    fmt::format("'{}.type' '{}' is not supported (only 'text')", part_at, *type));
            const auto text = p.string("text");
            if (!text) bad(part_at + ".text", fmt::format("'{}.text' is required", part_at));
            out.content += *text;
            p.collect_unknown(ignored);
        }
    } else {
        wrong_type(at + ".content", "a string or an array of content parts", *c);
    }
    if (const json* tc = f.get("tool_calls"); tc && (!tc->is_array() || !tc->empty()))
        bad(at + ".tool_calls", fmt::format("'{}.tool_calls' is not supported (tools are not supported)", at));
    f.collect_unknown(ignored);  // "name", "refusal", ...
    return out;
}

// Nesting depth of a JSON text, counting brackets outside strings (the text need not be valid).
int json_depth(std::string_view s) {
    int depth = 0, max_depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            max_depth = std::max(max_depth, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return max_depth;
}

}  // namespace

json parse_json_body(std::string_view body, size_t max_bytes) {
    if (body.size() > max_bytes)
        throw ApiError(413, fmt::format("request body is {} bytes; the limit is {} bytes", body.size(), max_bytes),
                       "invalid_request_error", "", "request_too_large");
    size_t bad_at = 0;
    if (!valid_utf8(body, &bad_at))
        bad("", fmt::format("request body is not valid UTF-8 (bad byte sequence at offset {})", bad_at));
    if (json_depth(body) > kMaxJsonDepth)
        bad("", fmt::format("request body is nested more than {} levels deep", kMaxJsonDepth));
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix, keep the position.
        std::string_view what = e.what();
        if (const size_t p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
        bad("", fmt::format("request body is not valid JSON: {}", what));
    }
    require_object(j);
    return j;
}

CompletionRequest parse_completion_request(const json& body) {
    Fields f(require_object(body), "");
    CompletionRequest r;
    parse_prompt(f, r);
    parse_openai_common(f, r);
    r.max_tokens = parse_max_tokens(f, "max_tokens");
    r.echo = f.boolean("echo").value_or(false);
    if (const json* lp = f.get("logprobs")) {
        if (lp->is_boolean()) {
            r.logprobs = lp->get<bool>();
        } else {
            r.top_logprobs = static_cast<int>(to_integer(*lp, "logprobs", 0, 5));
            r.logprobs = true;
        }
    }
    if (auto b = f.integer("best_of"); b && *b != 1)
        bad("best_of", fmt::format("'best_of' other than 1 is not supported, got {}", *b));
    if (auto s = f.string("suffix"); s && !s->empty()) bad("suffix", "'suffix' is not supported");
    f.collect_unknown(r.ignored_fields);
    return r;
}

ChatRequest parse_chat_request(const json& body) {
    Fields f(require_object(body), "");
    ChatRequest r;
    const json* msgs = f.array("messages");
    if (!msgs) bad("messages", "'messages' is required");
    if (msgs->empty()) bad("messages", "'messages' must not be empty");
    for (size_t i = 0; i < msgs->size(); ++i) r.messages.push_back(parse_message((*msgs)[i], i, r.ignored_fields));

    parse_openai_common(f, r);
    const int max_tokens = parse_max_tokens(f, "max_tokens");
    const int max_completion = parse_max_tokens(f, "max_completion_tokens");
    if (max_tokens > 0 && max_completion > 0 && max_tokens != max_completion)
        bad("max_completion_tokens",
            fmt::format("'max_completion_tokens' ({}) and 'max_tokens' ({}) disagree; give one of them",
                        max_completion, max_tokens));
    r.max_tokens = max_completion > 0 ? max_completion : max_tokens;

    r.logprobs = f.boolean("logprobs").value_or(false);
    if (auto n = f.integer("top_logprobs", 0, 20)) {
        if (*n > 0 && !r.logprobs) bad("top_logprobs", "'top_logprobs' requires 'logprobs': true");
        r.top_logprobs = static_cast<int>(*n);
    }
    require_empty(f, "tools", "an array");
    require_empty(f, "functions", "an array");
    require_no_tool_choice(f, "tool_choice");
    require_no_tool_choice(f, "function_call");
    if (const json* rf = f.object("response_format")) {
        const auto it = rf->find("type");
        if (it == rf->end() || !it->is_string())
            bad("response_format", "'response_format' must have a string 'type'");
        if (*it != "text")
            bad("response_format",
                fmt::format("'response_format' type '{}' is not supported (only 'text')", it->get<std::string>()));
    }
    f.collect_unknown(r.ignored_fields);
    return r;
}

NativeCompletionRequest parse_native_completion_request(const json& body) {
    Fields f(require_object(body), "");
    NativeCompletionRequest r;
    parse_prompt(f, r);
    if (auto v = f.string("model")) r.model = *v;

    // n_predict wins over its alias max_tokens; -1 = unlimited.
    auto n_predict = f.integer("n_predict", -1, kInt32Max);
    const char* n_predict_name = "n_predict";
    if (!n_predict) {
        n_predict = f.integer("max_tokens", -1, kInt32Max);
        n_predict_name = "max_tokens";
    } else {
        f.get("max_tokens");
    }
    if (n_predict && *n_predict == 0)
        bad(n_predict_name, fmt::format("'{}' must be -1 (unlimited) or >= 1, got 0", n_predict_name));
    r.max_tokens = n_predict ? static_cast<int>(*n_predict) : -1;

    // llama.cpp semantics: temperature <= 0 is greedy, top_k <= 0 is off.
    if (auto t = f.number("temperature")) {
        if (*t > 100) bad("temperature", fmt::format("'temperature' must be <= 100, got {}", *t));
        r.temperature = static_cast<float>(std::max(*t, 0.0));
    }
    if (auto k = f.integer("top_k", std::numeric_limits<int32_t>::min(), kInt32Max))
        r.top_k = static_cast<int>(std::max<int64_t>(*k, 0));
    r.top_p = f.number_in("top_p", 0, 1, true);
    r.min_p = f.number_in("min_p", 0, 1);
    r.seed = parse_seed(f, true);
    r.stop = parse_stop(f, StopMatcher::kMaxStops);
    r.stream = f.boolean("stream").value_or(false);
    if (auto n = f.integer("n_probs", 0, 20)) {
        r.n_probs = static_cast<int>(*n);
        r.logprobs = r.n_probs > 0;
        r.top_logprobs = r.n_probs;
    }
    r.ignore_eos = f.boolean("ignore_eos").value_or(false);
    f.boolean("cache_prompt");  // accepted, no effect
    parse_speculative(f, r);

    if (auto g = f.string("grammar"); g && !g->empty()) bad("grammar", "'grammar' is not supported");
    if (const json* js = f.get("json_schema"); js && !(js->is_object() && js->empty()))
        bad("json_schema", "'json_schema' is not supported");
    if (const json* lb = f.get("logit_bias"); lb && !((lb->is_array() || lb->is_object()) && lb->empty()))
        bad("logit_bias", "'logit_bias' is not supported");
    if (auto m = f.integer("mirostat"); m && *m != 0) bad("mirostat", "'mirostat' is not supported (only 0)");
    if (auto p = f.number("repeat_penalty"); p && *p != 1)
        bad("repeat_penalty", "'repeat_penalty' is not supported (only 1)");
    require_zero(f, "presence_penalty");
    require_zero(f, "frequency_penalty");
    f.collect_unknown(r.ignored_fields);
    return r;
}

TokenizeRequest parse_tokenize_request(const json& body) {
    Fields f(require_object(body), "");
    TokenizeRequest r;
    const auto content = f.string("content");
    if (!content) bad("content", "'content' is required");
    r.content = *content;
    r.add_special = f.boolean("add_special").value_or(false);
    r.with_pieces = f.boolean("with_pieces").value_or(false);
    f.collect_unknown(r.ignored_fields);
    return r;
}

DetokenizeRequest parse_detokenize_request(const json& body) {
    Fields f(require_object(body), "");
    DetokenizeRequest r;
    const json* tokens = f.array("tokens");
    if (!tokens) bad("tokens", "'tokens' is required");
    r.tokens = token_array(*tokens, "tokens");
    f.collect_unknown(r.ignored_fields);
    return r;
}

}  // namespace hsd::server
