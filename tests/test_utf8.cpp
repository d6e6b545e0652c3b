// common/utf8: the per-character rules (valid 1-4 byte characters, overlong forms, surrogates,
// code points above U+10FFFF, truncated sequences, stray continuation bytes) checked
// exhaustively against a decoder written from the definition, and the string operations built
// on them (decoding, repair, validation, safe cut points, Utf8Stream).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/utf8.h"
#include "tokenizer/utf8_stream.h"
#include "utf8_oracle.h"

namespace hsd {
namespace {

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

using test::reference_char_len;  // the oracle (tests/utf8_oracle.h)

// ---------------------------------------------------------------------------------------
// One character

TEST(Utf8Char, DecodesValidOneToFourByteCharacters) {
    const std::vector<std::pair<std::string, uint32_t>> cases = {
        {std::string(1, '\0'), 0x0}, {"A", 0x41},        {"\x7F", 0x7F},
        {"\xC2\x80", 0x80},          {"\xC3\xA9", 0xE9}, {"\xDF\xBF", 0x7FF},
        {"\xE0\xA0\x80", 0x800},     {"\xE2\x82\xAC", 0x20AC}, {"\xED\x9F\xBF", 0xD7FF},
        {"\xEE\x80\x80", 0xE000},    {"\xEF\xBF\xBF", 0xFFFF}, {"\xF0\x90\x80\x80", 0x10000},
        {"\xF0\x9F\x98\x80", 0x1F600}, {"\xF4\x8F\xBF\xBF", 0x10FFFF},
    };
    for (const auto& [s, cpt] : cases) {
        const Utf8Char c = decode_utf8_char(bytes(s), s.size());
        EXPECT_EQ(c.cpt, cpt) << testing::PrintToString(s);
        EXPECT_EQ(c.len, s.size()) << testing::PrintToString(s);
        EXPECT_EQ(utf8_char_length(bytes(s)[0]), s.size());
        EXPECT_EQ(utf8_valid_prefix(bytes(s), s.size()), s.size());
        std::string back;
        append_utf8(back, cpt);
        EXPECT_EQ(back, s);
    }
}

TEST(Utf8Char, RejectsMalformedCharacters) {
    const std::vector<std::pair<std::string, size_t>> cases = {  // the bytes, how many begin validly
        {"\xC0\x80", 0},          {"\xC1\xBF", 0},            // overlong 2-byte forms (C0, C1 never start one)
        {"\xE0\x80\x80", 1},      {"\xE0\x9F\xBF", 1},        // overlong 3-byte forms
        {"\xF0\x80\x80\x80", 1},  {"\xF0\x8F\xBF\xBF", 1},    // overlong 4-byte forms
        {"\xED\xA0\x80", 1},      {"\xED\xBF\xBF", 1},        // surrogates U+D800, U+DFFF
        {"\xF4\x90\x80\x80", 1},  {"\xF5\x80\x80\x80", 0},    // U+110000, lead above F4
        {"\xF7\xBF\xBF\xBF", 0},  {"\xF8\x88\x80\x80\x80", 0}, {"\xFF", 0},
        {"\x80", 0},              {"\xBF\x80", 0},            // lone continuation bytes
        {"\xC3" "A", 1},          {"\xE2\x82" "A", 2},        {"\xF0\x9F\x98" "A", 3},  // broken
        {"\xC3", 1},              {"\xE2\x82", 2},            {"\xF0\x9F\x98", 3},      // truncated
    };
    for (const auto& [s, prefix] : cases) {
        const Utf8Char c = decode_utf8_char(bytes(s), s.size());
        EXPECT_EQ(c.len, 0u) << testing::PrintToString(s);
        EXPECT_EQ(c.cpt, kReplacementCodePoint) << testing::PrintToString(s);
        EXPECT_EQ(utf8_valid_char_len(bytes(s), s.size()), 0u) << testing::PrintToString(s);
        EXPECT_EQ(utf8_valid_prefix(bytes(s), s.size()), prefix) << testing::PrintToString(s);
    }
}

TEST(Utf8Char, AgreesWithTheDefinitionOnEveryShortSequence) {
    // Every 1-, 2- and 3-byte string (the shorter ones as truncations of the longer).
    unsigned char s[4] = {};
    for (unsigned a = 0; a < 256; ++a) {
        s[0] = (unsigned char)a;
        ASSERT_EQ(utf8_valid_char_len(s, 1), reference_char_len(s, 1)) << a;
        for (unsigned b = 0; b < 256; ++b) {
            s[1] = (unsigned char)b;
            ASSERT_EQ(utf8_valid_char_len(s, 2), reference_char_len(s, 2)) << a << " " << b;
            for (unsigned c = 0; c < 256; ++c) {
                s[2] = (unsigned char)c;
                ASSERT_EQ(utf8_valid_char_len(s, 3), reference_char_len(s, 3)) << a << " " << b << " " << c;
            }
        }
    }
    // 4-byte leads (and the invalid F5..F7) with every second byte and samples of the rest.
    for (unsigned a = 0xF0; a <= 0xF7; ++a)
        for (unsigned b = 0; b < 256; ++b)
            for (unsigned c : {0x00u, 0x7Fu, 0x80u, 0xBFu, 0xC0u})
                for (unsigned d : {0x41u, 0x80u, 0xA5u, 0xBFu, 0xF0u}) {
                    const unsigned char t[4] = {(unsigned char)a, (unsigned char)b, (unsigned char)c,
                                                (unsigned char)d};
                    ASSERT_EQ(utf8_valid_char_len(t, 4), reference_char_len(t, 4)) << a << " " << b;
                }
}

TEST(Utf8Char, EncodesAndDecodesEveryScalarValue) {
    std::string s;
    for (uint32_t cpt = 0; cpt <= 0x10FFFF; ++cpt) {
        if (cpt >= 0xD800 && cpt <= 0xDFFF) continue;
        s.clear();
        append_utf8(s, cpt);
        const Utf8Char c = decode_utf8_char(bytes(s), s.size());
        ASSERT_EQ(c.cpt, cpt);
        ASSERT_EQ(c.len, s.size());
        ASSERT_EQ(s.size(), cpt < 0x80 ? 1u : cpt < 0x800 ? 2u : cpt < 0x10000 ? 3u : 4u);
    }
}

// ---------------------------------------------------------------------------------------
// Strings

TEST(Utf8, DecodeReplacesEachBadByte) {
    std::vector<uint32_t> out;
    decode_utf8("a\xE2\x82\xAC\xC3", out);
    EXPECT_EQ(out, (std::vector<uint32_t>{'a', 0x20AC, 0xFFFD}));
    out.clear();
    decode_utf8("\xED\xA0\x80z\xF0\x9F\x98", out);  // a surrogate, then a truncated character
    EXPECT_EQ(out, (std::vector<uint32_t>{0xFFFD, 0xFFFD, 0xFFFD, 'z', 0xFFFD, 0xFFFD, 0xFFFD}));
}

TEST(Utf8, RepairReplacesEachBadByte) {
    const std::string r(kUtf8Replacement);
    auto repaired = [](std::string_view s) {
        std::string out = "<";
        append_utf8_repaired(out, s);
        return out;
    };
    EXPECT_EQ(repaired("caf\xC3\xA9"), "<caf\xC3\xA9");
    EXPECT_EQ(repaired("ok\xFF"), "<ok" + r);
    EXPECT_EQ(repaired("\xC3\xA9\xA9"), "<\xC3\xA9" + r);
    EXPECT_EQ(repaired("\xC0\x80" "a"), "<" + r + r + "a");
    EXPECT_EQ(repaired("\xE2\x82"), "<" + r + r);
    EXPECT_EQ(repaired("\xF4\x90\x80\x80"), "<" + r + r + r + r);
}

TEST(Utf8, AcceptsValid) {
    for (const std::string s : {"", "plain ascii", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                "\xF4\x8F\xBF\xBF" /* U+10FFFF */, "\xED\x9F\xBF" /* U+D7FF */,
                                "\xEE\x80\x80" /* U+E000 */, "\xC2\x80" /* U+0080 */, "\xE0\xA0\x80" /* U+0800 */,
                                "\xF0\x90\x80\x80" /* U+10000 */})
        EXPECT_TRUE(valid_utf8(s)) << s;
    EXPECT_TRUE(valid_utf8(std::string("a\0b", 3)));
}

TEST(Utf8, RejectsInvalidWithOffset) {
    const std::vector<std::pair<std::string, size_t>> cases = {
        {"\xC0\x80", 0},              // overlong NUL
        {"a\xC1\xBF", 1},             // overlong 2-byte
        {"ab\xE0\x80\x80", 2},        // overlong 3-byte
        {"\xE0\x9F\xBF", 0},          // overlong 3-byte (U+07FF)
        {"\xF0\x8F\xBF\xBF", 0},      // overlong 4-byte (U+FFFF)
        {"x\xED\xA0\x80", 1},         // surrogate U+D800
        {"\xED\xBF\xBF", 0},          // surrogate U+DFFF
        {"\xF4\x90\x80\x80", 0},      // U+110000
        {"\xF5\x80\x80\x80", 0},      // lead byte above F4
        {"ok\xFF", 2},                // never valid
        {"\x80", 0},                  // stray continuation
        {"\xC3\xA9\xA9", 2},          // one continuation too many
        {"ab\xE2\x82", 2},            // truncated at the end
        {"\xC3", 0},                  // truncated
        {"\xC3" "A", 0},              // lead without continuation
        {"\xF0\x9F\x98" "A", 0},      // 4-byte cut short
    };
    for (const auto& [s, offset] : cases) {
        size_t at = 999;
        EXPECT_FALSE(valid_utf8(s, &at)) << testing::PrintToString(s);
        EXPECT_EQ(at, offset) << testing::PrintToString(s);
    }
}

TEST(Utf8, SafeCut) {
    const std::string s = "a\xE2\x82\xAC";  // a€
    EXPECT_EQ(utf8_safe_cut(s, 4), 4u);
    EXPECT_EQ(utf8_safe_cut(s, 3), 1u);
    EXPECT_EQ(utf8_safe_cut(s, 2), 1u);
    EXPECT_EQ(utf8_safe_cut(s, 1), 1u);
    EXPECT_EQ(utf8_safe_cut(s, 0), 0u);
    EXPECT_EQ(utf8_safe_cut("\xE0\x80", 2), 2u);  // can never complete: not held
    EXPECT_EQ(utf8_safe_cut("\x80\x80\x80\x80", 4), 4u);
}

// Random bytes drawn mostly from the interesting ones (leads, continuations, ASCII).
std::string random_bytes(std::mt19937& rng, size_t n) {
    static const unsigned char pool[] = {'a', ' ', 0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                         0xC0, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
    std::string s;
    for (size_t i = 0; i < n; ++i)
        s += (char)(rng() % 4 == 0 ? (unsigned char)rng() : pool[rng() % sizeof(pool)]);
    return s;
}

TEST(Utf8, SafeCutHoldsBackExactlyAnUnfinishedCharacter) {
    std::mt19937 rng(7);
    for (int iter = 0; iter < 20000; ++iter) {
        const std::string s = random_bytes(rng, rng() % 12);
        for (size_t n = 0; n <= s.size(); ++n) {
            const size_t cut = utf8_safe_cut(s, n);
            ASSERT_LE(cut, n);
            ASSERT_LE(n - cut, 3u);
            if (cut == n) continue;
            // What is held back begins a valid character that the bytes up to n do not finish.
            const auto* p = bytes(s) + cut;
            ASSERT_EQ(utf8_valid_prefix(p, n - cut), n - cut);
            ASSERT_LT(n - cut, utf8_char_length(p[0]));
        }
    }
}

TEST(Utf8Stream, StreamedPiecesGiveTheRepairedWhole) {
    std::mt19937 rng(11);
    for (int iter = 0; iter < 20000; ++iter) {
        const std::string s = random_bytes(rng, rng() % 16);
        std::string want;
        append_utf8_repaired(want, s);
        Utf8Stream stream;
        std::string got;
        for (size_t i = 0; i < s.size();) {
            const size_t len = std::min<size_t>(s.size() - i, rng() % 4);
            const std::string out = stream.push(s.substr(i, len));
            ASSERT_TRUE(valid_utf8(out));
            got += out;
            i += len;
        }
        got += stream.flush();
        ASSERT_EQ(got, want) << testing::PrintToString(s);
    }
}

}  // namespace
}  // namespace hsd
