#include "tokenizer/byte_level.h"

#include <array>

namespace hsd::byte_level {

namespace {

bool stands_for_itself(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

struct Tables {
    std::array<char, 512> utf8{};           // 2 bytes per byte value (second unused for ASCII)
    std::array<uint8_t, 256> len{};
    std::array<int16_t, 0x144> to_byte{};   // code point -> byte, -1 outside the alphabet
    Tables() {
        to_byte.fill(-1);
        unsigned next = 256;
        for (unsigned b = 0; b < 256; ++b) {
            const unsigned cpt = stands_for_itself(b) ? b : next++;
            to_byte[cpt] = (int16_t)b;
            if (cpt < 0x80) {
                utf8[2 * b] = (char)cpt;
                len[b] = 1;
            } else {
                utf8[2 * b] = (char)(0xC0 | cpt >> 6);
                utf8[2 * b + 1] = (char)(0x80 | (cpt & 0x3F));
                len[b] = 2;
            }
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

std::string_view encode_byte(uint8_t b) {
    const Tables& t = tables();
    return {&t.utf8[2 * b], t.len[b]};
}

void encode(std::string_view raw, std::string& out) {
    const Tables& t = tables();
    for (unsigned char b : raw) out.append(&t.utf8[2 * b], t.len[b]);
}

void decode(std::string_view s, std::string& out) {
    const Tables& t = tables();
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (len > s.size() - i) len = s.size() - i;
        uint32_t cpt = c;
        if (len == 2 && (p[i + 1] & 0xC0) == 0x80) cpt = (c & 0x1F) << 6 | (p[i + 1] & 0x3F);
        else if (len != 1) cpt = 0xFFFFFFFF;
        if (cpt < t.to_byte.size() && t.to_byte[cpt] >= 0 && (len == 1 ? c < 0x80 : true)) {
            out += (char)t.to_byte[cpt];
        } else {
            out.append(s.data() + i, len);
        }
        i += len;
    }
}

}  // namespace hsd::byte_level
