// StopMatcher: see stop_strings.h for the exact semantics. The held-back buffer is always
// shorter than the longest stop string plus one unfinished UTF-8 sequence, so rescanning it
// on every piece is cheap.
#include "server/stop_strings.h"

#include <fmt/format.h>

#include <utility>

#include "common/error.h"
#include "common/utf8.h"

namespace hsd::server {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    if (stops_.size() > kMaxStops)
        fail(fmt::format("too many stop strings: {} given, at most {} allowed", stops_.size(), kMaxStops));
    for (size_t i = 0; i < stops_.size(); ++i) {
        if (stops_[i].empty()) fail(fmt::format("stop string {} is empty", i));
        if (stops_[i].size() > kMaxStopBytes)
            fail(fmt::format("stop string {} is {} bytes long, at most {} allowed", i, stops_[i].size(),
                             kMaxStopBytes));
        if (stops_[i].size() > max_len_) max_len_ = stops_[i].size();
    }
}

std::string StopMatcher::feed(std::string_view text) {
    if (stopped_) return {};
    buf_.append(text);
    return process(false);
}

std::string StopMatcher::flush() {
    if (stopped_) return {};
    return process(true);
}

size_t StopMatcher::earliest_partial(size_t limit) const {
    const size_t n = buf_.size();
    // A proper prefix is shorter than the longest stop string.
    size_t q = n >= max_len_ ? n - max_len_ + 1 : 0;
    for (; q <= limit && q < n; ++q) {
        const size_t rest = n - q;
        for (const auto& s : stops_)
            if (s.size() > rest && s.compare(0, rest, buf_, q, rest) == 0) return q;
    }
    return std::string::npos;
}

std::string StopMatcher::process(bool final) {
    // Earliest complete occurrence; the longest stop string at that position.
    size_t hit = std::string::npos;
    const std::string* hit_stop = nullptr;
    for (const auto& s : stops_) {
        const size_t p = buf_.find(s);
        if (p == std::string::npos) continue;
        if (p < hit || (p == hit && s.size() > hit_stop->size())) {
            hit = p;
            hit_stop = &s;
        }
    }

    // Could a stop string still turn out to match at or before the hit (or anywhere, if none)?
    const size_t partial = final ? std::string::npos : earliest_partial(hit);
    if (hit != std::string::npos && partial == std::string::npos) {
        std::string out = buf_.substr(0, hit);
        matched_ = *hit_stop;
        stopped_ = true;
        buf_.clear();
        return out;
    }
    if (final) return std::exchange(buf_, {});

    const size_t keep_from = utf8_safe_cut(buf_, partial == std::string::npos ? buf_.size() : partial);
    std::string out = buf_.substr(0, keep_from);
    buf_.erase(0, keep_from);
    return out;
}

}  // namespace hsd::server
