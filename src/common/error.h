#pragma once
// One exception type for every user-facing failure: the message names the file, key,
// token or limit at fault so the CLI can print it as-is and exit non-zero.
#include <stdexcept>
#include <string>

namespace hsd {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

[[noreturn]] void fail(const std::string& msg);

}  // namespace hsd
