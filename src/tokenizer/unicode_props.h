#pragma once
// Code-point level helpers for the byte-level BPE pre-tokenizers: lenient UTF-8 decoding and
// the coarse Unicode categories (letter, number, punctuation, ...) that llama.cpp's
// pre-tokenizers test. Categories come from PCRE2's Unicode tables, so no table is stored here.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hsd::unicode {

// One category bit (0 = unassigned code point, as llama.cpp's "undefined") plus kWhitespace.
enum Flags : uint8_t {
    kNumber = 1,
    kLetter = 2,
    kSeparator = 4,
    kMark = 8,
    kPunctuation = 16,
    kSymbol = 32,
    kControl = 64,
    kWhitespace = 128,
};

uint8_t flags(uint32_t cpt);

// Appends the code points of `s`; every byte that does not start a valid UTF-8 character
// becomes U+FFFD (as llama.cpp does, but also rejecting overlong forms and surrogates, which
// PCRE2 could not match).
void decode_utf8(std::string_view s, std::vector<uint32_t>& out);
void append_utf8(std::string& out, uint32_t cpt);

}  // namespace hsd::unicode
