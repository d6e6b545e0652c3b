#pragma once
// Two kinds of failure, kept apart so that a message always tells who can act on it:
// - hsd::Error (fail()): the user's input is at fault; the message names the file, key,
//   token, flag or limit, and the CLI prints it as-is and exits non-zero.
// - hsd::InternalError (HSD_ASSERT): a state the code believes cannot happen, i.e. a bug in
//   hsd; the message says so and where. Thrown rather than aborting so that a server can fail
//   the one request and keep serving.
#include <stdexcept>
#include <string>

namespace hsd {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

class InternalError : public std::logic_error {
public:
    explicit InternalError(const std::string& msg) : std::logic_error(msg) {}
};

[[noreturn]] void fail(const std::string& msg);
[[noreturn]] void internal_error(const char* file, int line, const char* condition, const std::string& detail);

}  // namespace hsd

// HSD_ASSERT(condition, detail): detail is any expression convertible to std::string, only
// evaluated when the condition is false.
#define HSD_ASSERT(condition, detail)                                                   \
    do {                                                                                \
        if (!(condition)) ::hsd::internal_error(__FILE__, __LINE__, #condition, detail); \
    } while (0)
