// Streaming UTF-8 repair with the same rules as Tokenizer::decode (and SentencePiece's decoder):
// a byte that cannot start a valid character (overlong forms, surrogates, > U+10FFFF, stray
// continuation bytes, truncated sequences) becomes one U+FFFD; so the concatenation of push()
// outputs and flush() equals the decoded text whenever the pushed bytes are the tokens' bytes.
#include "tokenizer/utf8_stream.h"

#include <cstddef>

namespace hsd {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// Bytes a character starting with `c` needs (0: `c` cannot start a character).
inline size_t needed(unsigned char c) {
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF5) return 4;
    return 0;
}

// Whether s[k] (k >= 1) is acceptable as byte k of a character starting with s[0].
inline bool ok_continuation(const unsigned char* s, size_t k) {
    const unsigned char b = s[k];
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {
        switch (s[0]) {
            case 0xE0: return b >= 0xA0;  // no overlong
            case 0xED: return b < 0xA0;   // no surrogates
            case 0xF0: return b >= 0x90;  // no overlong
            case 0xF4: return b < 0x90;   // <= U+10FFFF
            default: break;
        }
    }
    return true;
}

}  // namespace

std::string Utf8Stream::push(const std::string& bytes) {
    pending_ += bytes;
    const auto* s = reinterpret_cast<const unsigned char*>(pending_.data());
    const size_t n = pending_.size();
    std::string out;
    out.reserve(n + 8);
    size_t i = 0;
    while (i < n) {
        const size_t need = needed(s[i]);
        if (need == 1) {
            out += (char)s[i++];
            continue;
        }
        if (need == 0) {
            out += kReplacement;
            ++i;
            continue;
        }
        size_t k = 1;
        while (k < need && i + k < n && ok_continuation(s + i, k)) ++k;
        if (k == need) {
            out.append(pending_, i, need);
            i += need;
        } else if (i + k == n) {
            break;  // a valid prefix cut short by the end of the input: wait for more bytes
        } else {
            out += kReplacement;  // s[i] starts a broken sequence
            ++i;
        }
    }
    pending_.erase(0, i);
    return out;
}

std::string Utf8Stream::flush() {
    std::string out;
    for (size_t i = 0; i < pending_.size(); ++i) out += kReplacement;  // one per byte, as decode does
    pending_.clear();
    return out;
}

}  // namespace hsd
