// The server's text building blocks, none of which needs a model: stop strings across piece
// boundaries (a property test against matching on the whole text; UTF-8 itself is in
// test_utf8.cpp), SSE framing and parsing, the Prometheus text format, and request parsing with
// the status, param and message of every rejection.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/utf8.h"
#include "server/api_request.h"
#include "server/prometheus.h"
#include "server/sse.h"
#include "server/stop_strings.h"

namespace hsd::server {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------
// Stop strings

struct StopResult {
    std::string text;
    bool stopped = false;
    std::string matched;
};

// The definition: cut before the earliest occurrence; the longest stop string there.
StopResult reference_stop(const std::string& text, const std::vector<std::string>& stops) {
    size_t best = std::string::npos;
    std::string matched;
    for (const auto& s : stops) {
        const size_t p = text.find(s);
        if (p == std::string::npos) continue;
        if (p < best || (p == best && s.size() > matched.size())) {
            best = p;
            matched = s;
        }
    }
    if (best == std::string::npos) return {text, false, ""};
    return {text.substr(0, best), true, matched};
}

StopResult run_pieces(const std::vector<std::string>& pieces, const std::vector<std::string>& stops,
                      bool check_utf8) {
    StopMatcher m(stops);
    size_t max_len = 0;
    for (const auto& s : stops) max_len = std::max(max_len, s.size());
    StopResult r;
    for (const auto& p : pieces) {
        r.text += m.feed(p);
        if (check_utf8) {
            EXPECT_TRUE(valid_utf8(r.text)) << "emitted text ends inside a code point";
        }
        EXPECT_LE(m.held(), max_len + 3);
    }
    r.text += m.flush();
    EXPECT_EQ(m.held(), 0u);
    r.stopped = m.stopped();
    r.matched = m.matched();
    return r;
}

// Every split of text into 1, 2 or 3 pieces gives the reference result.
void check_all_splits(const std::string& text, const std::vector<std::string>& stops) {
    const StopResult want = reference_stop(text, stops);
    const bool utf8 = valid_utf8(text);
    const size_t n = text.size();
    for (size_t i = 0; i <= n; ++i) {
        for (size_t j = i; j <= n; ++j) {
            std::vector<std::string> pieces = {text.substr(0, i), text.substr(i, j - i), text.substr(j)};
            // Only splits at code point boundaries keep each piece complete UTF-8.
            const bool pieces_utf8 = utf8 && valid_utf8(pieces[0]) && valid_utf8(pieces[1]);
            const StopResult got = run_pieces(pieces, stops, pieces_utf8);
            ASSERT_EQ(got.text, want.text) << "text '" << text << "' split at " << i << "," << j;
            ASSERT_EQ(got.stopped, want.stopped) << "text '" << text << "' split at " << i << "," << j;
            ASSERT_EQ(got.matched, want.matched) << "text '" << text << "' split at " << i << "," << j;
        }
    }
}

TEST(StopMatcher, AllSplitsMatchWholeTextHandPicked) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"hello world", {"world"}},
        {"hello world", {"lo", "world"}},
        {"abcd", {"abcd", "bc"}},
        {"abc", {"abcd", "bc"}},
        {"xxabcx", {"ab", "abc"}},
        {"xxab", {"ab", "abc"}},
        {"aaab", {"aab"}},
        {"abababc", {"ababc"}},
        {"no stop here", {"STOP", "\n\n"}},
        {"line\n\nnext", {"\n", "\n\n"}},
        {"caf\xC3\xA9 cr\xC3\xA8me", {"\xC3\xA8"}},
        {"emoji \xF0\x9F\x98\x80 end", {"\xF0\x9F\x98\x80 e"}},
        {"\xE2\x82\xAC\xE2\x82\xAC", {"\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC"}},
        {"<|im_end|>", {"<|im_end|>", "<|im"}},
        {"", {"x"}},
    };
    for (const auto& [text, stops] : cases) check_all_splits(text, stops);
}

TEST(StopMatcher, AllSplitsMatchWholeTextRandom) {
    std::mt19937 rng(1234);
    const std::vector<std::string> alphabet = {"a", "b", "c", "\xC3\xA9", "\xE2\x82\xAC"};
    auto random_string = [&](int max_chars) {
        std::string s;
        const int n = static_cast<int>(rng() % (max_chars + 1));
        for (int i = 0; i < n; ++i) s += alphabet[rng() % 3 == 0 ? rng() % alphabet.size() : rng() % 2];
        return s;
    };
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<std::string> stops;
        const int n_stops = 1 + static_cast<int>(rng() % 3);
        while (static_cast<int>(stops.size()) < n_stops) {
            std::string s = random_string(4);
            if (!s.empty()) stops.push_back(s);
        }
        check_all_splits(random_string(12), stops);
        if (HasFatalFailure()) return;
    }
}

TEST(StopMatcher, HoldsBackPossibleStartAndFlushReleasesIt) {
    StopMatcher m({"###"});
    EXPECT_EQ(m.feed("ab#"), "ab");
    EXPECT_EQ(m.held(), 1u);
    EXPECT_EQ(m.feed("#"), "");
    EXPECT_EQ(m.held(), 2u);
    EXPECT_EQ(m.feed("x"), "##x");
    EXPECT_EQ(m.held(), 0u);
    EXPECT_EQ(m.feed("##"), "");
    EXPECT_EQ(m.flush(), "##");
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.matched(), "");
}

TEST(StopMatcher, StopAcrossPiecesDiscardsTheRest) {
    StopMatcher m({"</s>"});
    EXPECT_EQ(m.feed("Hi there<"), "Hi there");
    EXPECT_EQ(m.feed("/"), "");
    EXPECT_EQ(m.feed("s> and more"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.matched(), "</s>");
    EXPECT_EQ(m.feed("ignored"), "");
    EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EarliestMatchWins) {
    StopMatcher m({"world", "lo"});
    EXPECT_EQ(m.feed("hello world"), "hel");
    EXPECT_EQ(m.matched(), "lo");
}

TEST(StopMatcher, LongestAtSamePositionDefersUntilKnown) {
    StopMatcher m({"ab", "abc"});
    EXPECT_EQ(m.feed("xab"), "x");
    EXPECT_FALSE(m.stopped());  // "abc" could still follow
    EXPECT_EQ(m.feed("c"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.matched(), "abc");

    StopMatcher n({"ab", "abc"});
    EXPECT_EQ(n.feed("xab"), "x");
    EXPECT_EQ(n.feed("d"), "");
    EXPECT_TRUE(n.stopped());
    EXPECT_EQ(n.matched(), "ab");

    StopMatcher f({"ab", "abc"});
    EXPECT_EQ(f.feed("xab"), "x");
    EXPECT_EQ(f.flush(), "");  // the end decides: "ab"
    EXPECT_TRUE(f.stopped());
    EXPECT_EQ(f.matched(), "ab");
}

TEST(StopMatcher, EarlierPossibleMatchDefersLaterComplete) {
    StopMatcher m({"abcd", "bc"});
    EXPECT_EQ(m.feed("abc"), "");  // "bc" is complete, but "abcd" may still start at 0
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.feed("x"), "a");
    EXPECT_EQ(m.matched(), "bc");
}

TEST(StopMatcher, HoldsPartialCodePoints) {
    StopMatcher m;
    EXPECT_EQ(m.feed("a\xC3"), "a");
    EXPECT_EQ(m.held(), 1u);
    EXPECT_EQ(m.feed("\xA9"), "\xC3\xA9");
    EXPECT_EQ(m.feed("\xF0"), "");
    EXPECT_EQ(m.feed("\x9F"), "");
    EXPECT_EQ(m.feed("\x98"), "");
    EXPECT_EQ(m.held(), 3u);
    EXPECT_EQ(m.feed("\x80!"), "\xF0\x9F\x98\x80!");
    // An unfinished sequence at the end comes out in flush(); invalid bytes are not held.
    EXPECT_EQ(m.feed("\xE2\x82"), "");
    EXPECT_EQ(m.flush(), "\xE2\x82");
    StopMatcher k;
    EXPECT_EQ(k.feed("\xFF\x80z"), "\xFF\x80z");
}

TEST(StopMatcher, HeldStopPrefixDoesNotSplitCodePoint) {
    // A stop string starting in the middle of a character (not valid UTF-8 by itself): the
    // held-back prefix starts mid-character, so the lead byte is held back with it.
    StopMatcher m({"\xA9!"});
    EXPECT_EQ(m.feed("caf\xC3\xA9"), "caf");
    EXPECT_EQ(m.held(), 2u);
    EXPECT_EQ(m.feed("?"), "\xC3\xA9?");
}

TEST(StopMatcher, RejectsBadStops) {
    EXPECT_THROW(StopMatcher({"a", ""}), hsd::Error);
    EXPECT_THROW(StopMatcher(std::vector<std::string>(StopMatcher::kMaxStops + 1, "x")), hsd::Error);
    EXPECT_THROW(StopMatcher({std::string(StopMatcher::kMaxStopBytes + 1, 'x')}), hsd::Error);
    EXPECT_NO_THROW(StopMatcher(std::vector<std::string>(StopMatcher::kMaxStops, "x")));
}

// ---------------------------------------------------------------------------------------
// SSE

TEST(Sse, Framing) {
    EXPECT_EQ(sse_data(json{{"a", 1}}), "data: {\"a\":1}\n\n");
    EXPECT_EQ(sse_data(json{{"t", "caf\xC3\xA9"}}), "data: {\"t\":\"caf\xC3\xA9\"}\n\n");
    EXPECT_EQ(sse_data(json{{"t", "a\nb"}}), "data: {\"t\":\"a\\nb\"}\n\n");
    EXPECT_EQ(sse_data(json{{"t", "bad\xFF"}}), "data: {\"t\":\"bad\xEF\xBF\xBD\"}\n\n");
    EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
    EXPECT_EQ(sse_event("one"), "data: one\n\n");
    EXPECT_EQ(sse_event("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    EXPECT_EQ(sse_event(""), "data: \n\n");
    EXPECT_EQ(sse_event("x\n"), "data: x\ndata: \n\n");
}

TEST(Sse, RoundTrip) {
    const std::vector<std::string> payloads = {"{\"a\":1}", "two\nlines", "", " leading space", "x\n", "[DONE]"};
    std::string stream;
    for (const auto& p : payloads) stream += sse_event(p);
    EXPECT_EQ(parse_sse_data(stream), payloads);

    const json chunk = {{"choices", json::array({{{"text", "hi\n"}}})}};
    const auto parsed = parse_sse_data(sse_data(chunk) + sse_done());
    ASSERT_EQ(parsed.size(), 2u);
    EXPECT_EQ(json::parse(parsed[0]), chunk);
    EXPECT_EQ(parsed[1], "[DONE]");
}

TEST(Sse, ParserFollowsSpec) {
    const std::string stream =
        "\xEF\xBB\xBF: a comment\n"
        "event: message\nid: 7\ndata:no space\n\n"
        "data\n\n"                          // a field without colon: empty data
        "retry: 100\n\n"                    // no data line: no event
        "data: a\r\ndata: b\r\n\r\n"        // CRLF lines, joined with \n
        "data: c\rdata:  d\r\r"             // CR lines; only one space is removed
        "data: unterminated";
    const std::vector<std::string> want = {"no space", "", "a\nb", "c\n d"};
    EXPECT_EQ(parse_sse_data(stream), want);

    // Byte by byte, including "\r" | "\n" across chunks, gives the same.
    SseParser p;
    std::vector<std::string> got;
    for (const char c : stream)
        for (auto& e : p.feed(std::string_view(&c, 1))) got.push_back(e);
    EXPECT_EQ(got, want);
    EXPECT_TRUE(p.in_event());
}

// ---------------------------------------------------------------------------------------
// Prometheus

TEST(Prometheus, ExactOutput) {
    MetricsText m;
    m.counter("hsd_requests_total", "Requests served.", 3, {{"endpoint", "/v1/completions"}, {"code", "200"}});
    m.gauge("hsd_busy_slots", "Slots generating now.", 0.5);
    m.counter("hsd_requests_total", "Requests served.", 1, {{"endpoint", "/v1/chat/completions"}, {"code", "400"}});
    m.gauge("hsd_tokens_per_second", "Decode speed.\nBackslash \\ here.", 1e20);
    EXPECT_EQ(m.str(),
              "# HELP hsd_requests_total Requests served.\n"
              "# TYPE hsd_requests_total counter\n"
              "hsd_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 3\n"
              "hsd_requests_total{endpoint=\"/v1/chat/completions\",code=\"400\"} 1\n"
              "# HELP hsd_busy_slots Slots generating now.\n"
              "# TYPE hsd_busy_slots gauge\n"
              "hsd_busy_slots 0.5\n"
              "# HELP hsd_tokens_per_second Decode speed.\\nBackslash \\\\ here.\n"
              "# TYPE hsd_tokens_per_second gauge\n"
              "hsd_tokens_per_second 100000000000000000000\n");
    EXPECT_EQ(MetricsText().str(), "");
}

TEST(Prometheus, LabelEscaping) {
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    MetricsText m;
    m.gauge("g", "h", 1, {{"path", "C:\\x \"q\"\n"}});
    EXPECT_EQ(m.str(), "# HELP g h\n# TYPE g gauge\ng{path=\"C:\\\\x \\\"q\\\"\\n\"} 1\n");
}

TEST(Prometheus, NumberFormat) {
    EXPECT_EQ(format_metric_value(0), "0");
    EXPECT_EQ(format_metric_value(-0.0), "0");
    EXPECT_EQ(format_metric_value(42), "42");
    EXPECT_EQ(format_metric_value(-7), "-7");
    EXPECT_EQ(format_metric_value(12345678901.0), "12345678901");
    EXPECT_EQ(format_metric_value(0.1), "0.1");
    EXPECT_EQ(format_metric_value(2.5e-7), "2.5e-07");
    EXPECT_EQ(format_metric_value(1e300), "1e+300");
    EXPECT_EQ(format_metric_value(1e21), "1e+21");
    EXPECT_EQ(format_metric_value(-1e20), "-100000000000000000000");
    EXPECT_EQ(format_metric_value(9007199254740993.0), "9007199254740992");
    EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
    EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
    for (const double v : {1.0 / 3, 2.0 / 3 * 1e-5, 123.456, 9.999999999999999e22})
        EXPECT_EQ(std::strtod(format_metric_value(v).c_str(), nullptr), v);
}

TEST(Prometheus, Rejections) {
    MetricsText m;
    EXPECT_THROW(m.gauge("", "h", 1), hsd::Error);
    EXPECT_THROW(m.gauge("1abc", "h", 1), hsd::Error);
    EXPECT_THROW(m.gauge("a-b", "h", 1), hsd::Error);
    EXPECT_NO_THROW(m.gauge("ns:sub_name9", "h", 1));
    EXPECT_NO_THROW(m.gauge("_x", "h", 1));
    EXPECT_THROW(m.gauge("l", "h", 1, {{"a:b", "v"}}), hsd::Error);
    EXPECT_THROW(m.gauge("l", "h", 1, {{"__name", "v"}}), hsd::Error);
    EXPECT_THROW(m.gauge("l", "h", 1, {{"9a", "v"}}), hsd::Error);
    EXPECT_THROW(m.gauge("l", "h", 1, {{"a", "v"}, {"a", "w"}}), hsd::Error);
    EXPECT_THROW(m.counter("c_total", "h", -1), hsd::Error);
    EXPECT_THROW(m.counter("c_total", "h", std::nan("")), hsd::Error);
    m.counter("c_total", "h", 1, {{"a", "1"}});
    EXPECT_THROW(m.gauge("c_total", "h", 1, {{"a", "2"}}), hsd::Error);    // other type
    EXPECT_THROW(m.counter("c_total", "h2", 1, {{"a", "2"}}), hsd::Error); // other help
    EXPECT_THROW(m.counter("c_total", "h", 2, {{"a", "1"}}), hsd::Error);  // same sample twice
    EXPECT_NO_THROW(m.counter("c_total", "h", 2, {{"a", "2"}}));
}

// ---------------------------------------------------------------------------------------
// Requests

// Runs f, which must throw ApiError with this status, param and exact message.
template <class F>
void expect_api_error(F f, int status, const std::string& param, const std::string& message) {
    try {
        f();
        ADD_FAILURE() << "no ApiError; expected: " << message;
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status, status) << e.what();
        EXPECT_EQ(e.param, param) << e.what();
        EXPECT_EQ(std::string(e.what()), message);
    }
}

void completion_error(const json& body, const std::string& param, const std::string& message) {
    expect_api_error([&] { parse_completion_request(body); }, 400, param, message);
}

void chat_error(const json& body, const std::string& param, const std::string& message) {
    expect_api_error([&] { parse_chat_request(body); }, 400, param, message);
}

json chat_body(json extra = json::object()) {
    json b = {{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}};
    b.update(extra);
    return b;
}

json completion_body(json extra = json::object()) {
    json b = {{"prompt", "Once"}};
    b.update(extra);
    return b;
}

TEST(ApiError, ToJson) {
    const ApiError e(400, "bad thing");
    EXPECT_EQ(e.to_json(), json::parse(R"({"error":{"message":"bad thing","type":"invalid_request_error",
                                              "param":null,"code":null}})"));
    const ApiError f(404, "no model", "not_found_error", "model", "model_not_found");
    EXPECT_EQ(f.to_json()["error"]["param"], "model");
    EXPECT_EQ(f.to_json()["error"]["code"], "model_not_found");
    EXPECT_EQ(f.to_json()["error"]["type"], "not_found_error");
}

TEST(JsonBody, Limits) {
    EXPECT_EQ(parse_json_body(R"({"a": [1, "x"]})", 100), json::parse(R"({"a":[1,"x"]})"));
    try {
        parse_json_body(std::string(101, ' '), 100);
        ADD_FAILURE() << "no error";
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status, 413);
        EXPECT_EQ(e.code, "request_too_large");
        EXPECT_EQ(std::string(e.what()), "request body is 101 bytes; the limit is 100 bytes");
    }
    expect_api_error([] { parse_json_body("{\"a\": \"x\xC0\x80\"}", 100); }, 400, "",
                     "request body is not valid UTF-8 (bad byte sequence at offset 8)");
    expect_api_error([] { parse_json_body("[1, 2]", 100); }, 400, "", "request body must be a JSON object, got array");
    expect_api_error([] { parse_json_body("\"s\"", 100); }, 400, "", "request body must be a JSON object, got string");
    expect_api_error([] { parse_json_body(std::string(65, '[') + std::string(65, ']'), 1000); }, 400, "",
                     "request body is nested more than 64 levels deep");
    EXPECT_NO_THROW(parse_json_body("{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}", 1000));
    EXPECT_NO_THROW(parse_json_body(R"({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})", 1000));
}

TEST(JsonBody, MalformedNamesPosition) {
    for (const std::string body : {"", "{", "{\"a\": }", "{\"a\": 1,}"}) {
        try {
            parse_json_body(body, 100);
            ADD_FAILURE() << "accepted: " << body;
        } catch (const ApiError& e) {
            const std::string m = e.what();
            EXPECT_EQ(e.status, 400);
            EXPECT_EQ(m.rfind("request body is not valid JSON: parse error at line 1, column ", 0), 0u) << m;
            EXPECT_EQ(m.find("[json.exception"), std::string::npos) << m;
        }
    }
}

TEST(CompletionRequest, Defaults) {
    const auto r = parse_completion_request(completion_body());
    EXPECT_EQ(r.prompt, "Once");
    EXPECT_FALSE(r.prompt_is_tokens);
    EXPECT_EQ(r.model, "");
    EXPECT_EQ(r.max_tokens, -1);
    EXPECT_FALSE(r.temperature || r.top_p || r.top_k || r.min_p || r.seed || r.speculative);
    EXPECT_TRUE(r.stop.empty());
    EXPECT_FALSE(r.stream || r.include_usage || r.logprobs || r.echo || r.ignore_eos);
    EXPECT_EQ(r.top_logprobs, 0);
    EXPECT_TRUE(r.ignored_fields.empty());
}

TEST(CompletionRequest, AllFields) {
    const auto r = parse_completion_request(json::parse(R"({
        "model": "m", "prompt": "p", "max_tokens": 16, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
        "min_p": 0.1, "seed": 18446744073709551615, "stop": "\n", "stream": true,
        "stream_options": {"include_usage": true}, "logprobs": 3, "echo": true,
        "speculative": {"draft": "d.gguf"}, "ignore_eos": true})"));
    EXPECT_EQ(r.model, "m");
    EXPECT_EQ(r.max_tokens, 16);
    EXPECT_FLOAT_EQ(*r.temperature, 0.5f);
    EXPECT_FLOAT_EQ(*r.top_p, 0.9f);
    EXPECT_EQ(*r.top_k, 40);
    EXPECT_FLOAT_EQ(*r.min_p, 0.1f);
    EXPECT_EQ(*r.seed, std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
    EXPECT_TRUE(r.stream && r.include_usage && r.echo && r.ignore_eos);
    EXPECT_TRUE(r.logprobs);
    EXPECT_EQ(r.top_logprobs, 3);
    EXPECT_EQ(*r.speculative, json::parse(R"({"draft": "d.gguf"})"));
    EXPECT_TRUE(r.ignored_fields.empty());
    EXPECT_EQ(*parse_completion_request(completion_body({{"speculative", "off"}})).speculative, "off");
}

TEST(CompletionRequest, NullMeansNotGiven) {
    const auto r = parse_completion_request(completion_body(
        {{"max_tokens", nullptr}, {"temperature", nullptr}, {"stop", nullptr}, {"seed", nullptr}, {"n", nullptr},
         {"stream_options", nullptr}, {"logprobs", nullptr}, {"suffix", nullptr}}));
    EXPECT_EQ(r.max_tokens, -1);
    EXPECT_FALSE(r.temperature || r.seed);
    EXPECT_TRUE(r.ignored_fields.empty());
}

TEST(CompletionRequest, WrongTypes) {
    completion_error(completion_body({{"max_tokens", "16"}}), "max_tokens", "'max_tokens' must be an integer, got string");
    completion_error(completion_body({{"max_tokens", 1.5}}), "max_tokens", "'max_tokens' must be an integer, got number");
    completion_error(completion_body({{"temperature", "hot"}}), "temperature",
                     "'temperature' must be a number, got string");
    completion_error(completion_body({{"top_p", true}}), "top_p", "'top_p' must be a number, got boolean");
    completion_error(completion_body({{"top_k", 1.5}}), "top_k", "'top_k' must be an integer, got number");
    completion_error(completion_body({{"seed", "1"}}), "seed", "'seed' must be an integer, got string");
    completion_error(completion_body({{"stream", 1}}), "stream", "'stream' must be a boolean, got integer");
    completion_error(completion_body({{"echo", "yes"}}), "echo", "'echo' must be a boolean, got string");
    completion_error(completion_body({{"model", 3}}), "model", "'model' must be a string, got integer");
    completion_error(completion_body({{"stop", 3}}), "stop", "'stop' must be a string or an array of strings, got integer");
    completion_error(completion_body({{"stop", {"a", 1}}}), "stop",
                     "'stop' must be a string or an array of strings, got an array containing integer");
    completion_error(completion_body({{"stream", true}, {"stream_options", "x"}}), "stream_options",
                     "'stream_options' must be an object, got string");
    completion_error(completion_body({{"stream", true}, {"stream_options", {{"include_usage", 1}}}}),
                     "stream_options.include_usage", "'stream_options.include_usage' must be a boolean, got integer");
    completion_error(completion_body({{"speculative", 5}}), "speculative",
                     "'speculative' must be a string or an object, got integer");
    completion_error(completion_body({{"user", 5}}), "user", "'user' must be a string, got integer");
    completion_error(completion_body({{"logprobs", "2"}}), "logprobs", "'logprobs' must be an integer, got string");
    completion_error(completion_body({{"n", "1"}}), "n", "'n' must be an integer, got string");
    completion_error(completion_body({{"logit_bias", 1}}), "logit_bias", "'logit_bias' must be an object, got integer");
}

TEST(CompletionRequest, Ranges) {
    completion_error(completion_body({{"max_tokens", 0}}), "max_tokens", "'max_tokens' must be >= 1, got 0");
    completion_error(completion_body({{"max_tokens", -5}}), "max_tokens", "'max_tokens' must be >= 1, got -5");
    completion_error(completion_body({{"max_tokens", 3000000000u}}), "max_tokens",
                     "'max_tokens' must be <= 2147483647, got 3000000000");
    completion_error(completion_body({{"temperature", 2.5}}), "temperature",
                     "'temperature' must be >= 0 and <= 2, got 2.5");
    completion_error(completion_body({{"temperature", -0.1}}), "temperature",
                     "'temperature' must be >= 0 and <= 2, got -0.1");
    completion_error(completion_body({{"top_p", 0}}), "top_p", "'top_p' must be > 0 and <= 1, got 0");
    completion_error(completion_body({{"top_p", 1.01}}), "top_p", "'top_p' must be > 0 and <= 1, got 1.01");
    completion_error(completion_body({{"min_p", 2}}), "min_p", "'min_p' must be >= 0 and <= 1, got 2");
    completion_error(completion_body({{"top_k", -1}}), "top_k", "'top_k' must be >= 0, got -1");
    completion_error(completion_body({{"seed", -1}}), "seed", "'seed' must be >= 0, got -1");
    completion_error(completion_body({{"logprobs", 6}}), "logprobs", "'logprobs' must be <= 5, got 6");
    completion_error(completion_body({{"logprobs", -1}}), "logprobs", "'logprobs' must be >= 0, got -1");
    EXPECT_EQ(*parse_completion_request(completion_body({{"temperature", 0}})).temperature, 0.0f);
    EXPECT_EQ(*parse_completion_request(completion_body({{"temperature", 2}})).temperature, 2.0f);
    EXPECT_EQ(*parse_completion_request(completion_body({{"top_k", 0}})).top_k, 0);
}

TEST(CompletionRequest, Prompt) {
    completion_error(json::object(), "prompt", "'prompt' is required");
    completion_error({{"prompt", nullptr}}, "prompt", "'prompt' is required");
    completion_error({{"prompt", 5}}, "prompt", "'prompt' must be a string or an array, got integer");
    completion_error({{"prompt", json::array()}}, "prompt", "'prompt' must not be an empty array");
    completion_error({json::parse(R"({"prompt": [[]]})")}, "prompt", "'prompt' must not be an empty array");
    completion_error({{"prompt", {"a", "b"}}}, "prompt",
                     "batched prompts are not supported; send one request per prompt");
    completion_error({json::parse(R"({"prompt": [[1, 2], [3]]})")}, "prompt",
                     "batched prompts are not supported; send one request per prompt");
    completion_error({{"prompt", {1, "a"}}}, "prompt",
                     "'prompt' must be a string, an array with one string, or an array of integer token ids");
    completion_error({{"prompt", {1, -2}}}, "prompt", "'prompt' token ids must be between 0 and 2147483647, got -2");
    completion_error({{"prompt", {1, 4294967296}}}, "prompt",
                     "'prompt' token ids must be between 0 and 2147483647, got 4294967296");

    EXPECT_EQ(parse_completion_request({{"prompt", ""}}).prompt, "");
    const auto one = parse_completion_request(json::parse(R"({"prompt": ["only"]})"));
    EXPECT_EQ(one.prompt, "only");
    EXPECT_FALSE(one.prompt_is_tokens);
    const auto toks = parse_completion_request({{"prompt", {1, 2, 3}}});
    EXPECT_TRUE(toks.prompt_is_tokens);
    EXPECT_EQ(toks.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
    const auto nested = parse_completion_request(json::parse(R"({"prompt": [[7, 8]]})"));
    EXPECT_TRUE(nested.prompt_is_tokens);
    EXPECT_EQ(nested.prompt_tokens, (std::vector<int32_t>{7, 8}));
}

TEST(CompletionRequest, Stop) {
    EXPECT_EQ(parse_completion_request(completion_body({{"stop", {"a", "b", "c", "d"}}})).stop,
              (std::vector<std::string>{"a", "b", "c", "d"}));
    EXPECT_TRUE(parse_completion_request(completion_body({{"stop", json::array()}})).stop.empty());
    completion_error(completion_body({{"stop", {"a", "b", "c", "d", "e"}}}), "stop",
                     "'stop' may hold at most 4 strings, got 5");
    completion_error(completion_body({{"stop", ""}}), "stop", "'stop' strings must not be empty");
    completion_error(completion_body({{"stop", {"a", ""}}}), "stop", "'stop' strings must not be empty");
    completion_error(completion_body({{"stop", std::string(1025, 'x')}}), "stop",
                     "'stop' strings must be at most 1024 bytes, got one of 1025 bytes");
}

TEST(CompletionRequest, UnsupportedFields) {
    completion_error(completion_body({{"n", 2}}), "n", "only n=1 is supported");
    completion_error(completion_body({{"n", 0}}), "n", "only n=1 is supported");
    completion_error(completion_body({{"best_of", 3}}), "best_of", "'best_of' other than 1 is not supported, got 3");
    completion_error(completion_body({{"suffix", "end"}}), "suffix", "'suffix' is not supported");
    completion_error(completion_body({{"logit_bias", {{"50256", -100}}}}), "logit_bias", "'logit_bias' is not supported");
    completion_error(completion_body({{"frequency_penalty", 0.5}}), "frequency_penalty",
                     "'frequency_penalty' is not supported (only 0)");
    completion_error(completion_body({{"presence_penalty", -1}}), "presence_penalty",
                     "'presence_penalty' is not supported (only 0)");
    completion_error(completion_body({{"stream_options", {{"include_usage", true}}}}), "stream_options",
                     "'stream_options' is only allowed when 'stream' is true");
    completion_error(completion_body({{"stream", false}, {"stream_options", {{"include_usage", true}}}}),
                     "stream_options", "'stream_options' is only allowed when 'stream' is true");
}

TEST(CompletionRequest, HarmlessFieldsAccepted) {
    const auto r = parse_completion_request(completion_body(
        {{"user", "u1"}, {"metadata", {{"k", "v"}}}, {"store", false}, {"service_tier", "auto"},
         {"service_level", "default"}, {"parallel_tool_calls", true}, {"logprobs", false}, {"echo", false},
         {"frequency_penalty", 0}, {"presence_penalty", 0.0}, {"n", 1}, {"best_of", 1}, {"suffix", ""},
         {"logit_bias", json::object()}}));
    EXPECT_TRUE(r.ignored_fields.empty());
    EXPECT_FALSE(r.logprobs);
    const auto lp0 = parse_completion_request(completion_body({{"logprobs", 0}}));
    EXPECT_TRUE(lp0.logprobs);
    EXPECT_EQ(lp0.top_logprobs, 0);
}

TEST(CompletionRequest, UnknownFieldsCollected) {
    const auto r = parse_completion_request(completion_body(
        {{"zeta", 1}, {"alpha", "x"}, {"stream", true}, {"stream_options", {{"include_usage", true}, {"extra", 2}}}}));
    EXPECT_EQ(r.ignored_fields, (std::vector<std::string>{"stream_options.extra", "alpha", "zeta"}));
    EXPECT_TRUE(r.include_usage);
}

TEST(CompletionRequest, BodyMustBeObject) {
    completion_error(json::array(), "", "request body must be a JSON object, got array");
}

TEST(ChatRequest, Messages) {
    const auto r = parse_chat_request(json::parse(R"({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Dev note."},
        {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]},
        {"role": "assistant", "content": null},
        {"role": "user", "content": "Again", "name": "bob"}]})"));
    ASSERT_EQ(r.messages.size(), 5u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[0].content, "Be brief.");
    EXPECT_EQ(r.messages[1].role, "system");  // developer -> system
    EXPECT_EQ(r.messages[2].role, "user");
    EXPECT_EQ(r.messages[2].content, "Hello, world");
    EXPECT_EQ(r.messages[3].role, "assistant");
    EXPECT_EQ(r.messages[3].content, "");
    EXPECT_EQ(r.ignored_fields, std::vector<std::string>{"messages[4].name"});
}

TEST(ChatRequest, MessageErrors) {
    chat_error(json::object(), "messages", "'messages' is required");
    chat_error({{"messages", "hi"}}, "messages", "'messages' must be an array, got string");
    chat_error({{"messages", json::array()}}, "messages", "'messages' must not be empty");
    chat_error(json::parse(R"({"messages": ["hi"]})"), "messages[0]", "'messages[0]' must be an object, got string");
    chat_error(json::parse(R"({"messages": [{"content": "x"}]})"), "messages[0].role", "'messages[0].role' is required");
    chat_error(json::parse(R"({"messages": [{"role": 1, "content": "x"}]})"), "messages[0].role",
               "'messages[0].role' must be a string, got integer");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]})"),
               "messages[1].role", "'messages[1].role' 'tool' is not supported (tools are not supported)");
    chat_error(json::parse(R"({"messages": [{"role": "bot", "content": "x"}]})"), "messages[0].role",
               "'messages[0].role' must be one of system, user, assistant, developer; got 'bot'");
    chat_error(json::parse(R"({"messages": [{"role": "user"}]})"), "messages[0].content", "'messages[0].content' is required");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": 5}]})"), "messages[0].content",
               "'messages[0].content' must be a string or an array of content parts, got integer");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                              {"type": "image_url", "image_url": {"url": "x"}}]}]})"),
               "messages[0].content[1].type", "'messages[0].content[1].type' 'image_url' is not supported (only 'text')");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": ["a"]}]})"), "messages[0].content[0]",
               "'messages[0].content[0]' must be an object, got string");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})"),
               "messages[0].content[0].text", "'messages[0].content[0].text' is required");
    chat_error(json::parse(R"({"messages": [{"role": "user", "content": [{"text": "a"}]}]})"),
               "messages[0].content[0].type", "'messages[0].content[0].type' is required");
    chat_error(json::parse(R"({"messages": [{"role": "assistant", "content": null,
                              "tool_calls": [{"id": "c1"}]}]})"),
               "messages[0].tool_calls", "'messages[0].tool_calls' is not supported (tools are not supported)");
}

TEST(ChatRequest, MaxTokensAlias) {
    EXPECT_EQ(parse_chat_request(chat_body({{"max_completion_tokens", 32}})).max_tokens, 32);
    EXPECT_EQ(parse_chat_request(chat_body({{"max_tokens", 8}})).max_tokens, 8);
    EXPECT_EQ(parse_chat_request(chat_body({{"max_tokens", 8}, {"max_completion_tokens", 8}})).max_tokens, 8);
    EXPECT_EQ(parse_chat_request(chat_body()).max_tokens, -1);
    chat_error(chat_body({{"max_tokens", 8}, {"max_completion_tokens", 9}}), "max_completion_tokens",
               "'max_completion_tokens' (9) and 'max_tokens' (8) disagree; give one of them");
    chat_error(chat_body({{"max_completion_tokens", 0}}), "max_completion_tokens",
               "'max_completion_tokens' must be >= 1, got 0");
}

TEST(ChatRequest, Logprobs) {
    const auto r = parse_chat_request(chat_body({{"logprobs", true}, {"top_logprobs", 5}}));
    EXPECT_TRUE(r.logprobs);
    EXPECT_EQ(r.top_logprobs, 5);
    EXPECT_FALSE(parse_chat_request(chat_body({{"logprobs", false}, {"top_logprobs", 0}})).logprobs);
    chat_error(chat_body({{"top_logprobs", 5}}), "top_logprobs", "'top_logprobs' requires 'logprobs': true");
    chat_error(chat_body({{"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs", "'top_logprobs' must be <= 20, got 21");
    chat_error(chat_body({{"logprobs", 3}}), "logprobs", "'logprobs' must be a boolean, got integer");
}

TEST(ChatRequest, UnsupportedFields) {
    chat_error(chat_body({{"n", 3}}), "n", "only n=1 is supported");
    chat_error(chat_body(json::parse(R"({"tools": [{"type": "function"}]})")), "tools", "'tools' is not supported");
    chat_error(chat_body(json::parse(R"({"functions": [{"name": "f"}]})")), "functions", "'functions' is not supported");
    chat_error(chat_body({{"tools", "x"}}), "tools", "'tools' must be an array, got string");
    chat_error(chat_body({{"tool_choice", "required"}}), "tool_choice",
               "'tool_choice' is not supported (tools are not supported)");
    chat_error(chat_body({{"tool_choice", {{"type", "function"}}}}), "tool_choice",
               "'tool_choice' is not supported (tools are not supported)");
    chat_error(chat_body({{"response_format", {{"type", "json_object"}}}}), "response_format",
               "'response_format' type 'json_object' is not supported (only 'text')");
    chat_error(chat_body({{"response_format", json::object()}}), "response_format",
               "'response_format' must have a string 'type'");
    chat_error(chat_body({{"response_format", "text"}}), "response_format",
               "'response_format' must be an object, got string");
    chat_error(chat_body({{"logit_bias", {{"1", 5}}}}), "logit_bias", "'logit_bias' is not supported");
    chat_error(chat_body({{"presence_penalty", 0.1}}), "presence_penalty", "'presence_penalty' is not supported (only 0)");
    chat_error(chat_body({{"temperature", 3}}), "temperature", "'temperature' must be >= 0 and <= 2, got 3");
}

TEST(ChatRequest, HarmlessAndUnknownFields) {
    const auto r = parse_chat_request(chat_body(
        {{"tools", json::array()}, {"tool_choice", "none"}, {"function_call", "auto"},
         {"response_format", {{"type", "text"}}}, {"parallel_tool_calls", false}, {"user", "u"}, {"store", true},
         {"metadata", json::object()}, {"service_tier", "default"}, {"n", 1}, {"frequency_penalty", 0},
         {"stream", true}, {"stream_options", {{"include_usage", false}}}, {"modalities", {"text"}},
         {"reasoning_effort", "low"}}));
    EXPECT_EQ(r.ignored_fields, (std::vector<std::string>{"modalities", "reasoning_effort"}));
    EXPECT_TRUE(r.stream);
    EXPECT_FALSE(r.include_usage);
}

TEST(NativeCompletionRequest, Fields) {
    const auto r = parse_native_completion_request(json::parse(R"({
        "prompt": "Once", "n_predict": 32, "temperature": 0.7, "top_k": 20, "top_p": 0.8, "min_p": 0.02,
        "seed": 5, "stop": ["a", "b", "c", "d", "e"], "stream": true, "n_probs": 3, "ignore_eos": true,
        "cache_prompt": true, "speculative": "auto", "n_keep": 4})"));
    EXPECT_EQ(r.prompt, "Once");
    EXPECT_EQ(r.max_tokens, 32);
    EXPECT_FLOAT_EQ(*r.temperature, 0.7f);
    EXPECT_EQ(*r.top_k, 20);
    EXPECT_FLOAT_EQ(*r.top_p, 0.8f);
    EXPECT_FLOAT_EQ(*r.min_p, 0.02f);
    EXPECT_EQ(*r.seed, 5u);
    EXPECT_EQ(r.stop.size(), 5u);  // no OpenAI limit of 4 here
    EXPECT_TRUE(r.stream && r.ignore_eos && r.logprobs);
    EXPECT_EQ(r.n_probs, 3);
    EXPECT_EQ(r.top_logprobs, 3);
    EXPECT_EQ(*r.speculative, "auto");
    EXPECT_EQ(r.ignored_fields, std::vector<std::string>{"n_keep"});
}

TEST(NativeCompletionRequest, LlamaCppConventions) {
    auto native = [](json extra) {
        json b = {{"prompt", {1, 2}}};
        if (extra.is_object()) b.update(extra);
        return parse_native_completion_request(b);
    };
    EXPECT_TRUE(native({}).prompt_is_tokens);
    EXPECT_EQ(native({}).max_tokens, -1);
    EXPECT_EQ(native({{"n_predict", -1}}).max_tokens, -1);
    EXPECT_EQ(native({{"max_tokens", 7}}).max_tokens, 7);
    EXPECT_EQ(native({{"n_predict", 9}, {"max_tokens", 7}}).max_tokens, 9);
    EXPECT_FALSE(native({{"seed", -1}}).seed.has_value());
    EXPECT_EQ(*native({{"temperature", -1}}).temperature, 0.0f);  // <= 0: greedy
    EXPECT_EQ(*native({{"top_k", -1}}).top_k, 0);                 // <= 0: off
    EXPECT_FALSE(native({{"n_probs", 0}}).logprobs);
    EXPECT_NO_THROW(native({{"repeat_penalty", 1}, {"mirostat", 0}, {"grammar", ""}, {"presence_penalty", 0}}));

    auto native_error = [&](json extra, const std::string& param, const std::string& message) {
        expect_api_error([&] { native(extra); }, 400, param, message);
    };
    native_error({{"n_predict", 0}}, "n_predict", "'n_predict' must be -1 (unlimited) or >= 1, got 0");
    native_error({{"n_predict", -2}}, "n_predict", "'n_predict' must be >= -1, got -2");
    native_error({{"max_tokens", 0}}, "max_tokens", "'max_tokens' must be -1 (unlimited) or >= 1, got 0");
    native_error({{"seed", -2}}, "seed", "'seed' must be >= -1, got -2");
    native_error({{"temperature", 101}}, "temperature", "'temperature' must be <= 100, got 101");
    native_error({{"n_probs", 21}}, "n_probs", "'n_probs' must be <= 20, got 21");
    native_error({{"stop", std::vector<std::string>(17, "x")}}, "stop", "'stop' may hold at most 16 strings, got 17");
    native_error({{"grammar", "root ::= \"a\""}}, "grammar", "'grammar' is not supported");
    native_error({{"json_schema", {{"type", "object"}}}}, "json_schema", "'json_schema' is not supported");
    native_error({{"repeat_penalty", 1.1}}, "repeat_penalty", "'repeat_penalty' is not supported (only 1)");
    native_error({{"mirostat", 2}}, "mirostat", "'mirostat' is not supported (only 0)");
    native_error({{"logit_bias", {{15043, 1.0}}}}, "logit_bias", "'logit_bias' is not supported");
    native_error({{"cache_prompt", "yes"}}, "cache_prompt", "'cache_prompt' must be a boolean, got string");
    expect_api_error([] { parse_native_completion_request({{"n_predict", 5}}); }, 400, "prompt",
                     "'prompt' is required");
}

TEST(TokenizeRequest, Fields) {
    const auto a = parse_tokenize_request({{"content", "Hello"}});
    EXPECT_EQ(a.content, "Hello");
    EXPECT_FALSE(a.add_special);
    EXPECT_FALSE(a.with_pieces);
    const auto b = parse_tokenize_request({{"content", ""}, {"add_special", true}, {"with_pieces", true}, {"x", 1}});
    EXPECT_TRUE(b.add_special && b.with_pieces);
    EXPECT_EQ(b.ignored_fields, std::vector<std::string>{"x"});
    expect_api_error([] { parse_tokenize_request(json::object()); }, 400, "content", "'content' is required");
    expect_api_error([] { parse_tokenize_request({{"content", 1}}); }, 400, "content",
                     "'content' must be a string, got integer");
    expect_api_error([] { parse_tokenize_request({{"content", "a"}, {"add_special", "no"}}); }, 400, "add_special",
                     "'add_special' must be a boolean, got string");
}

TEST(DetokenizeRequest, Fields) {
    EXPECT_EQ(parse_detokenize_request({{"tokens", {1, 2, 3}}}).tokens, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_TRUE(parse_detokenize_request({{"tokens", json::array()}}).tokens.empty());
    expect_api_error([] { parse_detokenize_request(json::object()); }, 400, "tokens", "'tokens' is required");
    expect_api_error([] { parse_detokenize_request({{"tokens", "1 2"}}); }, 400, "tokens",
                     "'tokens' must be an array, got string");
    expect_api_error([] { parse_detokenize_request({{"tokens", {1, "a"}}}); }, 400, "tokens",
                     "'tokens' must be an array of integer token ids, got array");
    expect_api_error([] { parse_detokenize_request({{"tokens", {-1}}}); }, 400, "tokens",
                     "'tokens' token ids must be between 0 and 2147483647, got -1");
}

}  // namespace
}  // namespace hsd::server
