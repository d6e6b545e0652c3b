#pragma once
// The coarse Unicode categories (letter, number, punctuation, ...) that llama.cpp's
// pre-tokenizers test, for the byte-level BPE pre-tokenizers (code points come from
// common/utf8.h's decode_utf8). Categories come from PCRE2's Unicode tables, so no table is
// stored here.
#include <cstdint>

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

}  // namespace hsd::unicode
