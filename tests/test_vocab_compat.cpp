// Hierarchies across model families: a draft whose vocabulary is a prefix of the target's
// (the target adds ids, as Qwen2.5 7B's padded vocabulary extends 0.5B's) is accepted and
// stays lossless, also when the target emits, or the prompt holds, ids the draft lacks;
// a different token (text or type) at a shared id, or a draft larger than its verifier, is
// refused with both files and the first differing id.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "decoding/generate.h"
#include "gguf/gguf_writer.h"
#include "model/context.h"
#include "spec_support.h"
#include "speculative/hierarchy.h"

using namespace hsd;
using namespace hsd::test;

namespace {

const std::vector<std::string> kBase = {"<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"};

std::vector<std::string> padded(std::vector<std::string> v, const std::vector<std::string>& extra) {
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
}

TinySpec spec(uint64_t seed, std::vector<std::string> pieces, int n_layer = 1, std::vector<uint32_t> exits = {}) {
    TinySpec t = tiny_target_spec(seed, n_layer, std::move(exits));
    t.pieces = std::move(pieces);
    return t;
}

// Target: the base vocabulary plus 8 ids (two layers, an exit after the first); draft: the
// base vocabulary only.
struct PrefixPair {
    TempModels files;
    const Model* target = nullptr;
    const Model* draft = nullptr;
    PrefixPair() {
        target = &files.add("vc_target", spec(71, padded(kBase, {"f", "g", "h", "i", "j", "k", "l", "m"}), 2, {1}));
        draft = &files.add("vc_draft", spec(72, kBase));
    }
};

std::string message(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

std::vector<std::vector<LevelSpec>> prefix_hierarchies(const PrefixPair& f) {
    return {
        {LevelSpec::draft_model(*f.draft, 1)},
        {LevelSpec::draft_model(*f.draft, 4)},
        {LevelSpec::draft_model(*f.draft, 2), LevelSpec::early_exit(1, 3)},
        // The n-gram drafter proposes ids from the sequence, which the draft model may lack.
        {LevelSpec::ngram(2, 2), LevelSpec::draft_model(*f.draft, 3)},
    };
}

TEST(VocabCompat, PrefixVocabularyIsAcceptedIdenticalOnlyWhereRequired) {
    PrefixPair f;
    EXPECT_NO_THROW(check_draft_vocabulary(*f.draft, *f.target));
    EXPECT_NO_THROW(Hierarchy(*f.target, {LevelSpec::draft_model(*f.draft, 3)}, tiny_pool()));
    // check_same_vocabulary (the planner's rule) still wants identical vocabularies.
    const std::string m = message([&] { check_same_vocabulary(*f.draft, *f.target); });
    EXPECT_NE(m.find("first differing token id 8"), std::string::npos) << m;
}

// Greedy: token for token the target's autoregressive output, for prompts that do and do not
// hold ids beyond the draft's vocabulary, and on a path where the target emits such ids.
TEST(VocabCompat, GreedyLosslessWithPrefixDraft) {
    PrefixPair f;
    const int Vd = f.draft->config().n_vocab, V = f.target->config().n_vocab;
    bool emitted_beyond = false;
    for (const std::vector<TokenId>& prompt : std::vector<std::vector<TokenId>>{
             {1, 3, 4}, {1, 5, 6, 7}, {1, 12, 3}, {1, 15, 9, 4}, {1, 4, 4, 10}}) {
        Context ctx(*f.target, tiny_pool(), 0);
        Sampler s0(greedy_params(), V);
        const GenerationResult ar = generate(ctx, s0, prompt, 40, true);
        for (TokenId t : ar.tokens) emitted_beyond |= t >= Vd;
        for (const auto& levels : prefix_hierarchies(f)) {
            Hierarchy h(*f.target, levels, tiny_pool());
            Sampler s(greedy_params(), V);
            const SpeculativeResult r = generate_speculative(h, s, prompt, 40, true);
            EXPECT_EQ(r.tokens, ar.tokens) << "prompt of " << prompt.size() << " tokens, " << levels.size() << " levels";
        }
    }
    EXPECT_TRUE(emitted_beyond) << "no greedy path emitted an id >= " << Vd << ": the test would not cover it";
}

// Sampled: the joint distribution of the first two tokens is the target's (the draft's rows
// give exactly 0 to ids it lacks; a mid-level verifier's rows too).
TEST(VocabCompat, SampledDistributionWithPrefixDraft) {
    PrefixPair f;
    EXPECT_GT(sampled_distribution_p(*f.target, {LevelSpec::draft_model(*f.draft, 3)}, VerifyRule::Exact,
                                     sampling_runs(), 2, 6),
              kAlpha);
    EXPECT_GT(sampled_distribution_p(*f.target, {LevelSpec::ngram(2, 2), LevelSpec::draft_model(*f.draft, 3)},
                                     VerifyRule::Exact, sampling_runs(), 2, 6),
              kAlpha);
}

// A copy of `src` whose token types are `types` (same texts).
void write_with_types(const std::string& src, const std::string& dst, const std::vector<int32_t>& types) {
    auto f = gguf::File::open(src);
    gguf::Writer w(dst);
    w.copy_metadata(*f);
    gguf::Value v;
    v.type = gguf::ValueType::ARRAY;
    v.elem_type = gguf::ValueType::INT32;
    for (int32_t t : types) {
        gguf::Value e;
        e.type = gguf::ValueType::INT32;
        e.i = t;
        e.u = (uint64_t)t;
        v.arr.push_back(e);
    }
    w.set("tokenizer.ggml.token_type", v);
    for (const gguf::TensorInfo& t : f->tensors()) w.add_tensor(t.name, t.dims, t.type());
    w.begin();
    for (const gguf::TensorInfo& t : f->tensors()) w.write(t.data, t.n_bytes);
    w.finish();
}

TEST(VocabCompat, IncompatibleVocabulariesAreRefusedNamingBothFilesAndTheId) {
    PrefixPair f;
    TempModels more;
    // Different text at a shared id (5: "c" vs "x").
    std::vector<std::string> other = kBase;
    other[5] = "x";
    const Model& wrong_text = more.add("vc_text", spec(73, other));
    std::string m = message([&] { Hierarchy h(*f.target, {LevelSpec::draft_model(wrong_text, 2)}, tiny_pool()); });
    EXPECT_NE(m.find(wrong_text.path()), std::string::npos) << m;
    EXPECT_NE(m.find(f.target->path()), std::string::npos) << m;
    EXPECT_NE(m.find("token id 5"), std::string::npos) << m;
    EXPECT_NE(m.find("'x'"), std::string::npos) << m;

    // Same texts, a different type at id 6 ("d" a control token).
    const std::string typed = (std::filesystem::temp_directory_path() /
                               ("hsd_vc_" + std::to_string(::getpid()) + "_types.gguf"))
                                  .string();
    write_with_types(f.draft->path(), typed, {2, 3, 3, 1, 1, 1, 3, 1});
    {
        auto wrong_type = Model::load(typed);
        m = message([&] { Hierarchy h(*f.target, {LevelSpec::draft_model(*wrong_type, 2)}, tiny_pool()); });
        EXPECT_NE(m.find(typed), std::string::npos) << m;
        EXPECT_NE(m.find(f.target->path()), std::string::npos) << m;
        EXPECT_NE(m.find("token id 6"), std::string::npos) << m;
    }
    std::filesystem::remove(typed);

    // The draft larger than the level above it: the padded model cannot draft for the small one.
    m = message([&] { Hierarchy h(*f.draft, {LevelSpec::draft_model(*f.target, 2)}, tiny_pool()); });
    EXPECT_NE(m.find(f.target->path()), std::string::npos) << m;
    EXPECT_NE(m.find(f.draft->path()), std::string::npos) << m;
    EXPECT_NE(m.find("first differing token id 8"), std::string::npos) << m;
    // ... also in the middle of a hierarchy: the bottom must not exceed the middle.
    const Model& mid = more.add("vc_mid", spec(74, padded(kBase, {"f", "g"})));
    m = message([&] {
        Hierarchy h(*f.target, {LevelSpec::draft_model(*f.target, 1), LevelSpec::draft_model(mid, 2)}, tiny_pool());
    });
    EXPECT_NE(m.find(mid.path()), std::string::npos) << m;
    EXPECT_NE(m.find("first differing token id 10"), std::string::npos) << m;
    // A three-model chain of growing prefixes is fine and lossless.
    Hierarchy ok(*f.target, {LevelSpec::draft_model(*f.draft, 2), LevelSpec::draft_model(mid, 3)}, tiny_pool());
    const std::vector<TokenId> prompt = {1, 9, 3};
    Context ctx(*f.target, tiny_pool(), 0);
    Sampler s0(greedy_params(), f.target->config().n_vocab), s(greedy_params(), f.target->config().n_vocab);
    EXPECT_EQ(generate_speculative(ok, s, prompt, 32, true).tokens, generate(ctx, s0, prompt, 32, true).tokens);
}

}  // namespace
