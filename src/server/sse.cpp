// SSE framing and parsing; see sse.h.
#include "server/sse.h"

namespace hsd::server {

std::string sse_data(const nlohmann::json& j) {
    return "data: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

std::string sse_done() { return "data: [DONE]\n\n"; }

std::string sse_event(std::string_view data) {
    std::string out = "data: ";
    for (size_t i = 0; i < data.size(); ++i) {
        const char c = data[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
            out += "\ndata: ";
        } else {
            out += c;
        }
    }
    out += "\n\n";
    return out;
}

void SseParser::end_line(std::vector<std::string>& out) {
    if (line_.empty()) {  // blank line: dispatch
        if (has_data_) {
            data_.pop_back();  // the "\n" after the last data line
            out.push_back(std::move(data_));
        }
        data_.clear();
        has_data_ = false;
        return;
    }
    if (line_[0] != ':') {  // not a comment
        const size_t colon = line_.find(':');
        const std::string_view field = std::string_view(line_).substr(0, colon);
        std::string_view value;
        if (colon != std::string::npos) {
            value = std::string_view(line_).substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (field == "data") {
            data_.append(value);
            data_ += '\n';
            has_data_ = true;
        }
    }
    line_.clear();
}

std::vector<std::string> SseParser::feed(std::string_view chunk) {
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    std::vector<std::string> out;
    for (const char c : chunk) {
        if (at_start_) {  // skip a leading BOM, possibly split across chunks
            if (bom_matched_ < kBom.size() && c == kBom[bom_matched_]) {
                if (++bom_matched_ == kBom.size()) at_start_ = false;
                continue;
            }
            at_start_ = false;
            line_.append(kBom.substr(0, bom_matched_));  // not a BOM after all
        }
        if (after_cr_) {
            after_cr_ = false;
            if (c == '\n') continue;  // the second half of "\r\n"
        }
        if (c == '\r' || c == '\n') {
            after_cr_ = c == '\r';
            end_line(out);
        } else {
            line_ += c;
        }
    }
    return out;
}

std::vector<std::string> parse_sse_data(std::string_view stream) {
    SseParser parser;
    return parser.feed(stream);
}

}  // namespace hsd::server
