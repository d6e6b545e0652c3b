// Byte-level BPE and special-token handling: conformance with llama.cpp on every vocabulary of
// ../shared/tokenizers (ids of NAME.ids.gz / NAME.special.ids.gz for the 890 strings of
// tokenizer-tests.txt), round trips, and hand-made vocabularies for the rules one by one.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "gguf_writer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_stream.h"

namespace {

using hsd::TokenId;
using hsd::Tokenizer;
using hsd::test::GgufWriter;
namespace fs = std::filesystem;

const fs::path kDir = fs::path(HSD_SHARED_DIR) / "tokenizers";

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string gunzip(const fs::path& p) {
    gzFile f = gzopen(p.c_str(), "rb");
    if (!f) return {};
    std::string out;
    char buf[1 << 16];
    for (int got; (got = gzread(f, buf, sizeof buf)) > 0;) out.append(buf, (size_t)got);
    gzclose(f);
    return out;
}

std::vector<std::string> test_strings() {
    const std::string all = read_all(kDir / "tokenizer-tests.txt");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t at; (at = all.find(sep, from)) != std::string::npos; from = at + sep.size())
        out.push_back(all.substr(from, at - from));
    out.push_back(all.substr(from));
    return out;
}

std::vector<std::vector<TokenId>> read_ids(const fs::path& p) {
    std::vector<std::vector<TokenId>> out;
    std::istringstream in(gunzip(p));
    for (std::string line; std::getline(in, line);) {
        std::istringstream ls(line);
        std::vector<TokenId> ids;
        for (long v; ls >> v;) ids.push_back((TokenId)v);
        out.push_back(std::move(ids));
    }
    return out;
}

std::string show(const std::vector<TokenId>& ids) {
    std::string s;
    for (TokenId id : ids) {
        if (!s.empty()) s += ' ';
        s += std::to_string(id);
    }
    return s;
}

std::vector<fs::path> vocab_files() {
    std::vector<fs::path> out;
    if (!fs::exists(kDir)) return out;
    for (const auto& e : fs::directory_iterator(kDir))
        if (e.path().extension() == ".gguf") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// Compares one vocabulary against one expected-ids file; returns the number of matches.
size_t conformance(const Tokenizer& tok, const std::vector<std::string>& strings, const fs::path& ids_file,
                   bool parse_special, const std::string& label) {
    const auto expected = read_ids(ids_file);
    EXPECT_EQ(expected.size(), strings.size()) << ids_file;
    size_t ok = 0, shown = 0;
    for (size_t i = 0; i < std::min(expected.size(), strings.size()); ++i) {
        const std::vector<TokenId> got = tok.encode(strings[i], false, parse_special);
        if (got == expected[i]) {
            ++ok;
        } else if (shown++ < 3) {
            ADD_FAILURE() << label << " string " << i << " '" << strings[i].substr(0, 80) << "'\n  hsd:      "
                          << show(got) << "\n  llama.cpp: " << show(expected[i]);
        }
    }
    std::printf("[conformance] %-45s %4zu / %zu\n", label.c_str(), ok, strings.size());
    return ok;
}

TEST(TokenizerConformance, EveryVocabularyMatchesLlamaCpp) {
    const auto files = vocab_files();
    if (files.empty()) GTEST_SKIP() << "no " << kDir;
    const auto strings = test_strings();
    ASSERT_EQ(strings.size(), 890u);
    for (const fs::path& f : files) {
        const std::string name = f.stem().string();
        const auto file = hsd::gguf::File::open(f.string());
        const Tokenizer tok = Tokenizer::from_gguf(*file);
        const size_t n = conformance(tok, strings, kDir / (name + ".ids.gz"), false, name);
        EXPECT_EQ(n, strings.size()) << name;
        const fs::path special = kDir / (name + ".special.ids.gz");
        if (fs::exists(special)) {
            const size_t m = conformance(tok, strings, special, true, name + " (parse_special)");
            EXPECT_EQ(m, strings.size()) << name << " parse_special";
        }
    }
}

// decode(encode(s)) == s wherever every byte of s is representable (BPE: always, as all 256
// byte-level characters are tokens; SentencePiece: the llama vocabulary has byte fallback).
TEST(TokenizerConformance, RoundTrips) {
    const auto files = vocab_files();
    if (files.empty()) GTEST_SKIP() << "no " << kDir;
    const auto strings = test_strings();
    for (const fs::path& f : files) {
        const auto file = hsd::gguf::File::open(f.string());
        const Tokenizer tok = Tokenizer::from_gguf(*file);
        size_t ok = 0;
        for (const std::string& s : strings) {
            const std::string back = tok.decode(tok.encode(s, false));
            if (back == s) ++ok;
            else if (ok + 3 > strings.size()) ADD_FAILURE() << f.stem() << ": '" << s.substr(0, 60) << "'";
        }
        std::printf("[round trip] %-45s %4zu / %zu\n", f.stem().c_str(), ok, strings.size());
        EXPECT_EQ(ok, strings.size()) << f.stem();
        // Streaming: token_bytes pieces through Utf8Stream give the same text.
        hsd::Utf8Stream st;
        std::string streamed;
        for (TokenId id : tok.encode(strings[strings.size() / 2], false)) streamed += st.push(tok.token_bytes(id));
        streamed += st.flush();
        if (tok.add_space_prefix() && !streamed.empty() && streamed[0] == ' ') streamed.erase(0, 1);  // dummy prefix
        EXPECT_EQ(streamed, strings[strings.size() / 2]) << f.stem();
    }
}

TEST(TokenizerConformance, EndOfGeneration) {
    if (!fs::exists(kDir / "ggml-vocab-gpt-2.gguf")) GTEST_SKIP();
    const auto file = hsd::gguf::File::open((kDir / "ggml-vocab-gpt-2.gguf").string());
    const Tokenizer tok = Tokenizer::from_gguf(*file);
    EXPECT_EQ(tok.kind(), Tokenizer::Kind::Bpe);
    EXPECT_TRUE(tok.is_eog(50256));  // <|endoftext|>
    EXPECT_TRUE(tok.is_eog(tok.eos_id()));
    EXPECT_FALSE(tok.is_eog(0));
    // With parse_special "<|endoftext|>" is the token, without it ordinary text.
    EXPECT_EQ(tok.encode("a<|endoftext|>", false, true).back(), 50256);
    EXPECT_GT(tok.encode("<|endoftext|>", false, false).size(), 1u);
}

// --- hand-made vocabularies ---------------------------------------------------------------

// Byte-level alphabet (all 256 characters) plus the given extra tokens and merges.
GgufWriter tiny_bpe(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                    const std::string& pre, const std::vector<int32_t>& extra_types = {}) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int b = 0; b < 256; ++b) {
        tokens.emplace_back(hsd::byte_level::encode_byte((uint8_t)b));
        types.push_back(1);
    }
    for (size_t i = 0; i < extra.size(); ++i) {
        tokens.push_back(extra[i]);
        types.push_back(i < extra_types.size() ? extra_types[i] : 1);
    }
    GgufWriter w;
    w.str("tokenizer.ggml.model", "gpt2")
        .array<std::string>("tokenizer.ggml.tokens", tokens)
        .array<int32_t>("tokenizer.ggml.token_type", types)
        .array<std::string>("tokenizer.ggml.merges", merges);
    if (!pre.empty()) w.str("tokenizer.ggml.pre", pre);
    return w;
}

TEST(TokenizerBpe, MergesByRank) {
    // "Ġ" is the byte-level space. Ranks: "a b" first, then "ab c", then "Ġ ab".
    const auto f = tiny_bpe({"ab", "abc", "\xC4\xA0" "ab", "bc"}, {"a b", "ab c", "\xC4\xA0 ab", "b c"}, "gpt-2")
                       .file("tiny-bpe.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.kind(), Tokenizer::Kind::Bpe);
    EXPECT_EQ(tok.encode("abc", false), (std::vector<TokenId>{257}));  // a b c -> ab c -> abc
    EXPECT_EQ(tok.encode("bc", false), (std::vector<TokenId>{259}));
    // " ab" is one pre-token; "Ġ ab" merges after "a b".
    EXPECT_EQ(tok.encode("x ab", false), (std::vector<TokenId>{'x', 258}));
    EXPECT_EQ(tok.decode({258, 257}), " ababc");
    EXPECT_EQ(tok.token_bytes(258), " ab");
    // Multi-byte characters fall apart into byte tokens and come back whole.
    EXPECT_EQ(tok.decode(tok.encode("\xC3\xA9\xE2\x82\xAC \xF0\x9F\x98\x80", false)), "\xC3\xA9\xE2\x82\xAC \xF0\x9F\x98\x80");
    // Invalid UTF-8 becomes U+FFFD per byte before pre-tokenizing, as in llama.cpp.
    EXPECT_EQ(tok.decode(tok.encode("\xff\xfe raw", false)), "\xEF\xBF\xBD\xEF\xBF\xBD raw");
    EXPECT_FALSE(tok.add_bos_default());  // gpt-2: no BOS
}

TEST(TokenizerBpe, IgnoreMergesForLlama3) {
    // "abc" is a token but no merge builds it: llama-bpe takes the whole word, gpt-2 cannot.
    const std::vector<std::string> extra = {"ab", "abc"};
    const auto f1 = tiny_bpe(extra, {"a b"}, "llama-bpe").file("tiny-l3.gguf");
    const auto f2 = tiny_bpe(extra, {"a b"}, "gpt-2").file("tiny-g2.gguf");
    EXPECT_EQ(Tokenizer::from_gguf(*f1).encode("abc", false), (std::vector<TokenId>{257}));
    EXPECT_EQ(Tokenizer::from_gguf(*f2).encode("abc", false), (std::vector<TokenId>{256, 'c'}));
    EXPECT_TRUE(Tokenizer::from_gguf(*f1).add_bos_default());  // llama3 default
}

TEST(TokenizerBpe, SpecialTokensAndEog) {
    // 256: <|im_end|> typed normal (llama.cpp makes it control), 257: <tool> user-defined,
    // 258: <|custom|> control, 259: eot given by key.
    auto w = tiny_bpe({"<|im_end|>", "<tool>", "<|custom|>", "<stop>"}, {}, "qwen2", {1, 4, 3, 3});
    w.u32("tokenizer.ggml.eos_token_id", 258).u32("tokenizer.ggml.eot_token_id", 259);
    w.boolean("tokenizer.ggml.add_bos_token", false);
    const auto f = w.file("tiny-special.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.eog_ids(), (std::vector<TokenId>{256, 258, 259}));
    EXPECT_TRUE(tok.is_eog(256));
    EXPECT_FALSE(tok.is_eog(257));
    EXPECT_TRUE(tok.is_control(256));
    EXPECT_FALSE(tok.add_bos_default());
    // User-defined text is split out even without parse_special; control text only with it.
    EXPECT_EQ(tok.encode("<tool>", false), (std::vector<TokenId>{257}));
    EXPECT_EQ(tok.encode("x<|custom|>", false, true), (std::vector<TokenId>{'x', 258}));
    EXPECT_GT(tok.encode("<|custom|>", false, false).size(), 1u);
    EXPECT_EQ(tok.decode({'a', 258, 257}), "a<tool>");  // control tokens decode to nothing
}

TEST(TokenizerBpe, RefusesUnknownPreTokenizerAndModel) {
    try {
        const auto f = tiny_bpe({}, {}, "no-such-pre").file("bad-pre.gguf");
        (void)Tokenizer::from_gguf(*f);
        ADD_FAILURE() << "no error";
    } catch (const hsd::Error& e) {
        const std::string msg = e.what();
        for (const char* s : {"bad-pre.gguf", "no-such-pre", "llama-bpe", "qwen2", "tekken", "gpt-4o", "deepseek-v3"})
            EXPECT_NE(msg.find(s), std::string::npos) << s << " not in " << msg;
    }
    try {
        GgufWriter w;
        w.str("tokenizer.ggml.model", "t5").array<std::string>("tokenizer.ggml.tokens", {"a"});
        const auto f = w.file("bad-model.gguf");
        (void)Tokenizer::from_gguf(*f);
        ADD_FAILURE() << "no error";
    } catch (const hsd::Error& e) {
        const std::string msg = e.what();
        for (const char* s : {"bad-model.gguf", "t5", "llama", "gpt2"})
            EXPECT_NE(msg.find(s), std::string::npos) << s << " not in " << msg;
    }
}

TEST(TokenizerBpe, MissingPreIsDefault) {
    const auto f = tiny_bpe({}, {}, "").file("tiny-default.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.pre_tokenizer(), "default");
    EXPECT_EQ(tok.decode(tok.encode("Hello, world 12345!", false)), "Hello, world 12345!");
}

}  // namespace
