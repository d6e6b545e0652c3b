#pragma once
// SentencePiece's text units, shared by loading (the character-pair set built from the
// vocabulary), the encoder and the decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hsd::spm {

inline constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// One character length by the first byte only (SentencePiece's OneCharLen): text is normalized
// to valid UTF-8 before the encoder splits it, and vocabulary pieces are cut at their end.
inline size_t one_char_len(unsigned char c) {
    return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4];
}

// A character of 1..4 bytes packed big-endian into 32 bits; unique, as the length follows from
// p[0]. Two of them make the key of an adjacent pair.
inline uint32_t pack_char(const char* p, size_t len) {
    uint32_t v = 0;
    for (size_t i = 0; i < len; ++i) v = (v << 8) | (unsigned char)p[i];
    return v;
}

}  // namespace hsd::spm
