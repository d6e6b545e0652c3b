#pragma once
// Streaming detokenization: tokens may end in the middle of a UTF-8 character (byte-fallback
// tokens). push() returns only complete, valid UTF-8; incomplete tails wait for the next
// token; invalid bytes are replaced by U+FFFD so the output is always valid UTF-8.
#include <string>

namespace hsd {

class Utf8Stream {
public:
    std::string push(const std::string& bytes);
    std::string flush();  // emits any incomplete tail as U+FFFD

private:
    std::string pending_;
};

}  // namespace hsd
