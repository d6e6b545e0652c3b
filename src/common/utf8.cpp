// The string-level UTF-8 operations, all built on the per-character checks of utf8.h.
#include "common/utf8.h"

namespace hsd {

namespace {

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

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

void decode_utf8(std::string_view s, std::vector<uint32_t>& out) {
    const unsigned char* p = bytes_of(s);
    for (size_t i = 0; i < s.size();) {
        const Utf8Char c = decode_utf8_char(p + i, s.size() - i);
        out.push_back(c.cpt);
        i += c.len == 0 ? 1 : c.len;
    }
}

void append_utf8_repaired(std::string& out, std::string_view bytes) {
    const unsigned char* p = bytes_of(bytes);
    for (size_t i = 0; i < bytes.size();) {
        const size_t len = utf8_valid_char_len(p + i, bytes.size() - i);
        if (len == 0) {
            out += kUtf8Replacement;
            ++i;
        } else {
            out.append(bytes.data() + i, len);
            i += len;
        }
    }
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
    const unsigned char* p = bytes_of(s);
    for (size_t i = 0; i < s.size();) {
        const size_t len = utf8_valid_char_len(p + i, s.size() - i);
        if (len == 0) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

size_t utf8_safe_cut(std::string_view s, size_t n) {
    if (n > s.size()) n = s.size();
    const unsigned char* p = bytes_of(s);
    // A character is at most 4 bytes, so an unfinished one starts within the last 3 bytes: at
    // the last byte there that is not a continuation byte.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const unsigned char b = p[n - back];
        if ((b & 0xC0) == 0x80) continue;
        const bool unfinished = utf8_char_length(b) > back && utf8_valid_prefix(p + n - back, back) == back;
        return unfinished ? n - back : n;
    }
    return n;
}

}  // namespace hsd
