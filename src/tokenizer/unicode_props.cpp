// Categories are looked up lazily in blocks of 256 code points: one PCRE2 match per code point
// the first time its block is touched, so start-up costs nothing and typical text touches few
// blocks.
#include "tokenizer/unicode_props.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <array>
#include <mutex>

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

void decode_utf8(std::string_view s, std::vector<uint32_t>& out) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    auto trail = [&](size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
    for (size_t i = 0; i < n;) {
        const unsigned c = p[i];
        if (c < 0x80) {
            out.push_back(c);
            ++i;
            continue;
        }
        uint32_t cpt = 0;
        size_t len = 0;
        if (c >= 0xC2 && c < 0xE0 && trail(i + 1)) {
            cpt = (c & 0x1F) << 6 | (p[i + 1] & 0x3F);
            len = 2;
        } else if (c >= 0xE0 && c < 0xF0 && trail(i + 1) && trail(i + 2)) {
            cpt = (c & 0x0F) << 12 | (p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
            len = (cpt >= 0x800 && (cpt < 0xD800 || cpt > 0xDFFF)) ? 3 : 0;
        } else if (c >= 0xF0 && c < 0xF5 && trail(i + 1) && trail(i + 2) && trail(i + 3)) {
            cpt = (c & 0x07) << 18 | (p[i + 1] & 0x3F) << 12 | (p[i + 2] & 0x3F) << 6 | (p[i + 3] & 0x3F);
            len = (cpt >= 0x10000 && cpt < kMaxCpt) ? 4 : 0;
        }
        if (len == 0) {
            out.push_back(0xFFFD);
            ++i;
        } else {
            out.push_back(cpt);
            i += len;
        }
    }
}

void append_utf8(std::string& out, uint32_t c) {
    if (c < 0x80) {
        out += (char)c;
    } else if (c < 0x800) {
        out += (char)(0xC0 | c >> 6);
        out += (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += (char)(0xE0 | c >> 12);
        out += (char)(0x80 | (c >> 6 & 0x3F));
        out += (char)(0x80 | (c & 0x3F));
    } else {
        out += (char)(0xF0 | c >> 18);
        out += (char)(0x80 | (c >> 12 & 0x3F));
        out += (char)(0x80 | (c >> 6 & 0x3F));
        out += (char)(0x80 | (c & 0x3F));
    }
}

}  // namespace hsd::unicode
