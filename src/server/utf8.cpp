// UTF-8 validation (RFC 3629, Table 3-7 of the Unicode standard) and code point boundary search.
#include "server/utf8.h"

#include <cstdint>

namespace hsd::server {
namespace {

// Expected sequence length for a lead byte, 0 if the byte cannot start a sequence.
int sequence_length(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;  // C0, C1 would be overlong
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;  // F5.. would be above U+10FFFF
    return 0;
}

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// The allowed range of the second byte, which is where overlongs, surrogates and values above
// U+10FFFF are ruled out; later bytes are plain continuation bytes.
bool second_byte_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
        case 0xE0: return b >= 0xA0 && b <= 0xBF;  // no overlong 3-byte forms
        case 0xED: return b >= 0x80 && b <= 0x9F;  // no surrogates
        case 0xF0: return b >= 0x90 && b <= 0xBF;  // no overlong 4-byte forms
        case 0xF4: return b >= 0x80 && b <= 0x8F;  // nothing above U+10FFFF
        default: return is_continuation(b);
    }
}

}  // namespace

bool valid_utf8(std::string_view s, size_t* bad_offset) {
    size_t i = 0;
    while (i < s.size()) {
        const auto lead = static_cast<uint8_t>(s[i]);
        const int len = sequence_length(lead);
        bool ok = len > 0 && i + len <= s.size();
        if (ok && len >= 2) ok = second_byte_ok(lead, static_cast<uint8_t>(s[i + 1]));
        for (int k = 2; ok && k < len; ++k) ok = is_continuation(static_cast<uint8_t>(s[i + k]));
        if (!ok) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

size_t utf8_safe_cut(std::string_view s, size_t n) {
    if (n > s.size()) n = s.size();
    // A sequence is at most 4 bytes, so an unfinished one starts within the last 3 bytes.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const auto b = static_cast<uint8_t>(s[n - back]);
        if (is_continuation(b)) continue;
        const int len = sequence_length(b);
        if (len >= 2 && static_cast<size_t>(len) > back) {
            // Hold it back only if what follows the lead so far is a valid beginning.
            if (back >= 2 && !second_byte_ok(b, static_cast<uint8_t>(s[n - back + 1]))) return n;
            return n - back;
        }
        return n;
    }
    return n;
}

}  // namespace hsd::server
