// Synthetic token sequences (profiler, bench_forward) and the shared median: only ordinary text
// tokens, wherever a vocabulary puts its specials, BOS first iff the model adds it.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/stats.h"
#include "gguf/gguf_file.h"
#include "gguf_writer.h"
#include "test_support.h"
#include "tokenizer/synthetic_tokens.h"
#include "tokenizer/tokenizer.h"

using hsd::TokenId;
using hsd::Tokenizer;
using hsd::test::GgufWriter;

namespace {

// Specials, byte, unused and user-defined pieces away from ids 0..2, which hold text.
struct OddVocab {
    std::vector<std::string> tokens = {"a",      "b",     "<0x41>", "<s>",   "c",     "<unk>", "</s>",
                                       "<pad>", "\xE2\x96\x81" "ab", "<|u|>", "<ctl>", "bc"};
    std::vector<float> scores = {-1, -1, 0, 0, -1, 0, 0, 0, -2, 0, 0, -3};
    // 1 Normal, 2 Unknown, 3 Control, 4 UserDefined, 5 Unused, 6 Byte
    std::vector<int32_t> types = {1, 1, 6, 3, 1, 2, 3, 5, 1, 4, 3, 1};
    std::set<TokenId> normal = {0, 1, 4, 8, 11};

    Tokenizer tokenizer(bool add_bos) const {
        GgufWriter b;
        b.str("tokenizer.ggml.model", "llama")
            .array<std::string>("tokenizer.ggml.tokens", tokens)
            .array<float>("tokenizer.ggml.scores", scores)
            .array<int32_t>("tokenizer.ggml.token_type", types)
            .u32("tokenizer.ggml.bos_token_id", 3)
            .u32("tokenizer.ggml.eos_token_id", 6)
            .u32("tokenizer.ggml.unknown_token_id", 5)
            .boolean("tokenizer.ggml.add_bos_token", add_bos);
        return Tokenizer::from_gguf(*b.file(add_bos ? "odd-bos.gguf" : "odd-nobos.gguf"));
    }
};

// Every token after the optional leading BOS is an ordinary text piece.
void expect_text_after_bos(const Tokenizer& tok, const std::vector<TokenId>& t) {
    const size_t from = tok.add_bos_default() ? 1 : 0;
    for (size_t i = from; i < t.size(); ++i)
        EXPECT_EQ(tok.type(t[i]), Tokenizer::PieceType::Normal) << "token " << i << " = id " << t[i];
}

}  // namespace

TEST(SyntheticTokens, OnlyNormalPiecesWhereverSpecialsAre) {
    const OddVocab v;
    for (bool add_bos : {true, false}) {
        SCOPED_TRACE(add_bos ? "add_bos" : "no bos");
        const Tokenizer tok = v.tokenizer(add_bos);
        ASSERT_EQ(tok.bos_id(), 3);
        ASSERT_EQ(tok.add_bos_default(), add_bos);
        const std::vector<TokenId> t = hsd::synthetic_tokens(tok, 2000, 7);
        ASSERT_EQ(t.size(), 2000u);
        EXPECT_EQ(t[0] == tok.bos_id(), add_bos);
        expect_text_after_bos(tok, t);
        // All of them, and nothing else (BOS only where it leads).
        const std::set<TokenId> seen(t.begin() + (add_bos ? 1 : 0), t.end());
        EXPECT_EQ(seen, v.normal);
    }
}

TEST(SyntheticTokens, DeterministicPerSeedAndPrefixes) {
    const Tokenizer tok = OddVocab().tokenizer(true);
    const std::vector<TokenId> a = hsd::synthetic_tokens(tok, 300, 12345);
    EXPECT_EQ(a, hsd::synthetic_tokens(tok, 300, 12345));
    EXPECT_NE(a, hsd::synthetic_tokens(tok, 300, 12346));
    const std::vector<TokenId> shorter = hsd::synthetic_tokens(tok, 17, 12345);
    EXPECT_EQ(shorter, std::vector<TokenId>(a.begin(), a.begin() + 17));
    EXPECT_EQ(hsd::synthetic_tokens(tok, 1, 12345), std::vector<TokenId>{3});
    EXPECT_TRUE(hsd::synthetic_tokens(tok, 0, 12345).empty());
}

TEST(SyntheticTokens, NoTextPiecesIsAnError) {
    GgufWriter b;
    b.str("tokenizer.ggml.model", "llama")
        .array<std::string>("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"})
        .array<float>("tokenizer.ggml.scores", {0, 0, 0})
        .array<int32_t>("tokenizer.ggml.token_type", {2, 3, 3});
    const Tokenizer tok = Tokenizer::from_gguf(*b.file("specials-only.gguf"));
    EXPECT_THROW((void)hsd::synthetic_tokens(tok, 4, 1), hsd::Error);
}

TEST(SyntheticTokens, SharedModelVocabulary) {
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*hsd::gguf::File::open(hsd::test::shared_path("models/hsd-m0.gguf")));
    const std::vector<TokenId> t = hsd::synthetic_tokens(tok, 4096, 7);
    EXPECT_EQ(t[0] == tok.bos_id(), tok.add_bos_default());
    expect_text_after_bos(tok, t);
    for (TokenId id : t) EXPECT_LT(id, tok.n_vocab());
}

// The median of timing samples (shared by the profiler and bench_forward with the sequences above).
TEST(SyntheticTokens, MedianOfTimings) {
    EXPECT_EQ(hsd::median({}), 0.0);
    EXPECT_EQ(hsd::median({4.5}), 4.5);
    EXPECT_EQ(hsd::median({3, 1, 2}), 2.0);
    EXPECT_EQ(hsd::median({5, 1, 4, 2}), 4.0);  // even count: the upper middle sample, not an average
    EXPECT_EQ(hsd::median({2, 2, 9, 2, 9}), 2.0);
    const std::vector<double> v = {9, 1, 5};
    EXPECT_EQ(hsd::median(v), 5.0);
    EXPECT_EQ(v, (std::vector<double>{9, 1, 5}));  // the caller's samples stay in their order
}
