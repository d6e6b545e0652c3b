#include "common/error.h"

#include <fmt/format.h>

namespace hsd {

void fail(const std::string& msg) { throw Error(msg); }

void internal_error(const char* file, int line, const char* condition, const std::string& detail) {
    throw InternalError(fmt::format("internal error (a bug in hsd, please report it): {} [{} failed at {}:{}]", detail,
                                    condition, file, line));
}

}  // namespace hsd
