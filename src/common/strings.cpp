#include "common/strings.h"

#include <sstream>

namespace hsd {

std::vector<std::string> split_list(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, sep);)
        if (!item.empty()) out.push_back(item);
    return out;
}

bool parse_int(const std::string& s, int* out) {
    size_t used = 0;
    int v = 0;
    try {
        v = std::stoi(s, &used);
    } catch (const std::exception&) {
        return false;
    }
    if (s.empty() || used != s.size()) return false;
    *out = v;
    return true;
}

}  // namespace hsd
