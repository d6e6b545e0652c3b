#pragma once
// GPT-2's byte-level alphabet: every byte value is written as one printable code point (bytes
// that are printable Latin-1 stand for themselves, the others map to U+0100 upwards), so BPE
// vocabularies can hold arbitrary bytes as text.
#include <cstdint>
#include <string>
#include <string_view>

namespace hsd::byte_level {

// UTF-8 of the code point standing for byte b (1 or 2 bytes).
std::string_view encode_byte(uint8_t b);
// Appends the byte-level form of raw bytes.
void encode(std::string_view raw, std::string& out);
// Appends the raw bytes a byte-level string stands for; code points outside the alphabet are
// kept as their UTF-8.
void decode(std::string_view text, std::string& out);

}  // namespace hsd::byte_level
