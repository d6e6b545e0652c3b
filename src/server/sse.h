#pragma once
// Server-sent events (the WHATWG "text/event-stream" format) as used by OpenAI-style
// streaming: each event is "data: <payload>\n\n", the stream ends with "data: [DONE]\n\n".
// The parser is for the tests and the benchmark client.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hsd::server {

// "data: " + j.dump() + "\n\n"; invalid UTF-8 inside strings is replaced by U+FFFD rather
// than throwing, non-ASCII is sent as UTF-8 (not \u escapes).
std::string sse_data(const nlohmann::json& j);
// "data: [DONE]\n\n"
std::string sse_done();
// One event carrying arbitrary text: one "data: " line per line of data (lines split at
// "\r\n", "\n" or "\r", as SSE parsers do), then a blank line. sse_event("") is one empty
// data line, which clients receive as an event with data "".
std::string sse_event(std::string_view data);

// Incremental parser: feed() chunks as they arrive (a chunk may end anywhere, even between
// "\r" and "\n"); returns the data of each event completed by this chunk. Follows the spec:
// comment lines (":...") and fields other than "data" are ignored, one space after the colon
// is removed, several data lines are joined with "\n", a blank line without any data line
// before it dispatches nothing, a leading UTF-8 BOM is skipped.
class SseParser {
public:
    std::vector<std::string> feed(std::string_view chunk);
    // True if an event has begun but not yet ended with a blank line.
    bool in_event() const { return !line_.empty() || has_data_; }

private:
    void end_line(std::vector<std::string>& out);

    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;
    bool at_start_ = true;
    size_t bom_matched_ = 0;
};

// The data of every complete event in a whole stream (an unterminated last event is dropped).
std::vector<std::string> parse_sse_data(std::string_view stream);

}  // namespace hsd::server
