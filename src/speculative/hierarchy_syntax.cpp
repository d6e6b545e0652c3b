#include "speculative/hierarchy_syntax.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/strings.h"

namespace hsd {

std::vector<LevelSpec> parse_level_list(const std::string& text, const std::string& flag) {
    std::vector<LevelSpec> out;
    if (text.empty()) fail(fmt::format("{}: empty list (e.g. {} a.gguf:3,b.gguf:6)", flag, flag));
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(start, end - start);
        start = end + 1;
        const size_t colon = item.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
            fail(fmt::format("{}: '{}' is not LEVEL:THRESHOLD (LEVEL = MODEL.gguf, ngramN or @LAYER; e.g. {} "
                             "a.gguf:3,b.gguf:6)",
                             flag, item, flag));
        const std::string name = item.substr(0, colon);
        int threshold = 0;
        if (!parse_int(item.substr(colon + 1), &threshold) || threshold < 1)
            fail(fmt::format("{}: threshold '{}' of '{}' must be an integer >= 1", flag, item.substr(colon + 1), name));
        if (name[0] == '@') {
            int layer = 0;
            if (!parse_int(name.substr(1), &layer) || layer < 1)
                fail(fmt::format("{}: '{}' must name an early-exit layer as @LAYER, e.g. @4", flag, name));
            out.push_back(LevelSpec::early_exit(layer, threshold));
        } else if (name.rfind("ngram", 0) == 0 && name.find('.') == std::string::npos) {
            int n = 3;  // "ngram" alone
            if (name.size() > 5 && (!parse_int(name.substr(5), &n) || n < 1))
                fail(fmt::format("{}: '{}' must be ngramN with N >= 1, e.g. ngram3", flag, name));
            out.push_back(LevelSpec::ngram(n, threshold));
        } else {
            out.push_back(LevelSpec::draft_file(name, threshold));
        }
        if (end == text.size()) break;
    }
    return out;
}

std::string format_level_list(const std::vector<LevelSpec>& levels) {
    std::string s;
    for (const LevelSpec& l : levels) s += fmt::format("{}{}:{}", s.empty() ? "" : ",", l.name(), l.threshold);
    return s;
}

}  // namespace hsd
