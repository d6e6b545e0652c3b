#pragma once
// UTF-8 as the Unicode standard defines it (Table 3-7; RFC 3629): no overlong forms, no
// surrogates (U+D800..DFFF), nothing above U+10FFFF. The one place that knows these rules:
// the tokenizers' normalization and decoding, streamed detokenization and the HTTP server's
// request checks all use it, so they agree on which bytes are text. Per-character checks are
// inline because the tokenizers run them on every byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hsd {

inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";  // U+FFFD, encoded
inline constexpr uint32_t kReplacementCodePoint = 0xFFFD;

// Bytes a character starting with `lead` has (1..4); 0 if `lead` cannot start one (continuation
// bytes, C0 and C1, which could only start overlong forms, F5..FF, which could only start code
// points above U+10FFFF).
constexpr size_t utf8_char_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC2) return 0;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF5) return 4;
    return 0;
}

// Whether `b` may be byte k (1..3) of a character starting with `lead`: a continuation byte,
// and for byte 1 inside the range that rules out overlong forms (E0, F0), surrogates (ED) and
// code points above U+10FFFF (F4).
constexpr bool utf8_continues(unsigned char lead, size_t k, unsigned char b) {
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {
        switch (lead) {
            case 0xE0: return b >= 0xA0;
            case 0xED: return b < 0xA0;
            case 0xF0: return b >= 0x90;
            case 0xF4: return b < 0x90;
            default: break;
        }
    }
    return true;
}

// How many of the first bytes of s[0..n) (n >= 1) begin a valid character: its whole length if
// the character is complete, fewer if it is cut short or broken after that many bytes, 0 if
// s[0] cannot start a character.
constexpr size_t utf8_valid_prefix(const unsigned char* s, size_t n) {
    const size_t need = utf8_char_length(s[0]);
    size_t k = need == 0 ? 0 : 1;
    while (k < need && k < n && utf8_continues(s[0], k, s[k])) ++k;
    return k;
}

// Length of the complete, valid character at s[0..n) (n >= 1), or 0 if s[0] does not start one
// (invalid lead byte, broken or truncated sequence).
constexpr size_t utf8_valid_char_len(const unsigned char* s, size_t n) {
    const size_t need = utf8_char_length(s[0]);
    return need != 0 && utf8_valid_prefix(s, n) == need ? need : 0;
}

// One decoded character: its code point and length in bytes; len == 0 (and cpt U+FFFD) when
// the bytes do not start a valid character.
struct Utf8Char {
    uint32_t cpt;
    size_t len;
};

constexpr Utf8Char decode_utf8_char(const unsigned char* s, size_t n) {
    switch (utf8_valid_char_len(s, n)) {
        case 1: return {s[0], 1};
        case 2: return {(s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu), 2};
        case 3: return {(s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu), 3};
        case 4: return {(s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu), 4};
        default: return {kReplacementCodePoint, 0};
    }
}

// Appends the encoding of `cpt`, which must be at most U+10FFFF (surrogates are encoded as
// they come: callers pass code points decoded by decode_utf8, which has none).
void append_utf8(std::string& out, uint32_t cpt);

// Appends the code points of `s`; every byte that does not start a valid character becomes
// U+FFFD (one per byte).
void decode_utf8(std::string_view s, std::vector<uint32_t>& out);

// Appends `bytes` with every byte that does not start a valid character replaced by U+FFFD (one
// per byte, as SentencePiece's decoder does), so the result is always valid UTF-8.
void append_utf8_repaired(std::string& out, std::string_view bytes);

// True if s is well-formed UTF-8, with no truncated sequence at the end. On false, *bad_offset
// (if given) is the offset of the first byte of the offending sequence.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// The largest n' <= n such that s[0, n') does not end inside an incomplete (but so far valid)
// character: a lead byte followed by fewer acceptable continuation bytes than it announces,
// reaching exactly up to n. Invalid bytes are not held back (they could never complete), so
// streamed text is never held forever.
size_t utf8_safe_cut(std::string_view s, size_t n);

}  // namespace hsd
