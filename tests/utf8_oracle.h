#pragma once
// UTF-8 validity written from the definition (Unicode 15, table 3-7) independently of
// src/common/utf8: the oracle the UTF-8 and tokenizer tests check the library against.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hsd::test {

// The lead byte's bit pattern gives the length, the payload bits the code point, which must
// use its shortest form, not be a surrogate and be at most U+10FFFF. Returns the length of the
// valid character at s[0..n) (n >= 1), 0 if there is none.
inline size_t reference_char_len(const unsigned char* s, size_t n) {
    const unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c >> 5) == 0x6) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c >> 4) == 0xE) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c >> 3) == 0x1E) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    const uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

// Every character of s valid (strict UTF-8).
inline bool reference_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const size_t len = reference_char_len(p + i, s.size() - i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

}  // namespace hsd::test
