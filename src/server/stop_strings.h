#pragma once
// Stop strings for streamed generation: text arrives piece by piece as tokens are decoded,
// and a stop string can span several pieces, so text that might be the start of a stop
// string is held back until it is known either way. The result never depends on how the
// text was split into pieces: it is always the whole generated text cut right before the
// earliest occurrence of any stop string.
//
// Semantics (exact):
// - The cut is at the earliest byte position where any stop string occurs in the whole text.
// - If several stop strings occur at that position (each is then a prefix of the next), the
//   longest one is matched(). To be split-invariant this can defer the decision: with stops
//   {"ab", "abc"}, after "ab" the matcher waits for the next piece (or flush()) before
//   stopping. Likewise with {"abcd", "bc"} after "abc": "bc" is complete but "abcd" could
//   still match earlier, so the matcher waits. The emitted text is the same either way.
// - flush() ends the text: a deferred match then wins (stopped() may become true in flush()).
// - Emitted text never ends inside an unfinished UTF-8 sequence; such bytes are held back
//   until the rest arrives (flush() releases them as they are).
// - After stopped(), feed() and flush() return "" and the rest of the text is discarded.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hsd::server {

class StopMatcher {
public:
    static constexpr size_t kMaxStops = 16;
    static constexpr size_t kMaxStopBytes = 1024;

    // Throws hsd::Error for an empty stop string, more than kMaxStops strings or a string
    // longer than kMaxStopBytes. No stop strings is fine (only UTF-8 holding then).
    explicit StopMatcher(std::vector<std::string> stops = {});

    // Adds the next piece of text; returns the text that is now safe to emit.
    std::string feed(std::string_view text);
    // End of generation: returns whatever was held back (before a stop string, if one is
    // found now).
    std::string flush();

    bool stopped() const { return stopped_; }
    // The stop string found ("" until stopped()).
    const std::string& matched() const { return matched_; }
    // Bytes currently held back.
    size_t held() const { return buf_.size(); }
    const std::vector<std::string>& stops() const { return stops_; }

private:
    std::string process(bool final);
    // Earliest q <= limit such that buf_[q..] is a proper prefix of some stop string;
    // npos if none.
    size_t earliest_partial(size_t limit) const;

    std::vector<std::string> stops_;
    size_t max_len_ = 0;
    std::string buf_;  // held-back text
    bool stopped_ = false;
    std::string matched_;
};

}  // namespace hsd::server
