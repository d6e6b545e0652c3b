// Categories are looked up lazily in blocks of 256 code points: one PCRE2 match per code point
// the first time its block is touched, so start-up costs nothing and typical text touches few
// blocks.
#include "tokenizer/unicode_props.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <array>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace hsd::unicode {

namespace {

constexpr uint32_t kMaxCpt = 0x110000;
constexpr uint32_t kBlock = 256;

// Unicode White_Space (the list llama.cpp uses); PCRE2's \s differs slightly, so it is explicit.
bool is_whitespace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

pcre2_code* compile_class(const char* pat) {
    std::vector<PCRE2_UCHAR> p(pat, pat + std::char_traits<char>::length(pat));
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* re = pcre2_compile(p.data(), p.size(), PCRE2_UTF | PCRE2_ANCHORED, &err, &off, nullptr);
    HSD_ASSERT(re != nullptr, "PCRE2 rejected a Unicode category pattern");
    return re;
}

struct Table {
    std::array<uint8_t, kMaxCpt> flags{};
    std::array<std::once_flag, kMaxCpt / kBlock> done;
    // Group k matched = category bit k-1 (the order of Flags); unassigned code points (Cn) are
    // tested first, as \p{C} includes them.
    pcre2_code* category = compile_class("(\\p{N})|(\\p{L})|(\\p{Z})|(\\p{M})|(\\p{P})|(\\p{S})|(\\p{C})");
    pcre2_code* unassigned = compile_class("\\p{Cn}");

    void fill(uint32_t block) {
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(category, nullptr);
        for (uint32_t c = block * kBlock; c < (block + 1) * kBlock; ++c) {
            uint8_t f = 0;
            if (c >= 0xD800 && c <= 0xDFFF) {
                f = kControl;  // surrogates (Cs); decode_utf8 never produces them
            } else {
                const PCRE2_UCHAR s[1] = {c};
                if (pcre2_match(unassigned, s, 1, 0, 0, md, nullptr) < 0) {
                    const int rc = pcre2_match(category, s, 1, 0, 0, md, nullptr);
                    if (rc > 1) f = (uint8_t)(1u << (rc - 2));
                }
            }
            if (is_whitespace(c)) f |= kWhitespace;
            flags[c] = f;
        }
        pcre2_match_data_free(md);
    }
};

Table& table() {
    static Table* t = new Table();  // leaked on purpose: used until exit, from any thread
    return *t;
}

}  // namespace

uint8_t flags(uint32_t cpt) {
    if (cpt >= kMaxCpt) return 0;
    Table& t = table();
    const uint32_t block = cpt / kBlock;
    std::call_once(t.done[block], [&] { t.fill(block); });
    return t.flags[cpt];
}

}  // namespace hsd::unicode
