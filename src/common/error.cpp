#include "common/error.h"

namespace hsd {

void fail(const std::string& msg) { throw Error(msg); }

}  // namespace hsd
