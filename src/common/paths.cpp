#include "common/paths.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace hsd {

std::string canonical_path(const std::string& path) {
    std::error_code ec;
    const std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : p.string();
}

std::string read_file_or_fail(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(fmt::format("{}: cannot read '{}'", what, path));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(fmt::format("{}: error while reading '{}'", what, path));
    return ss.str();
}

}  // namespace hsd
