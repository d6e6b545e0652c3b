#include "common/paths.h"

#include <filesystem>

namespace hsd {

std::string canonical_path(const std::string& path) {
    std::error_code ec;
    const std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : p.string();
}

}  // namespace hsd
