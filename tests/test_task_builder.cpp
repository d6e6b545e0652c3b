// The server's request-to-task policy (server/task_builder.h) without HTTP: every rule it
// enforces, with the status, parameter and message a client gets; prompts built with the
// shared target's tokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "server/task_builder.h"
#include "tokenizer/tokenizer.h"

namespace hsd::server {
namespace {

using nlohmann::json;

TaskPolicy policy() {
    TaskPolicy p;
    p.n_ctx = 16;
    p.n_vocab = 100;
    p.sampling.temperature = 0.5f;
    p.sampling.top_k = 40;
    p.sampling.top_p = 0.9f;
    p.sampling.min_p = 0.05f;
    p.seed = 7;
    p.drafts = {"/models/m0.gguf"};
    p.allowed_models = {"/models/m0.gguf"};
    return p;
}

PromptTokens tokens(std::vector<TokenId> ids, std::string param = "prompt") {
    PromptTokens p;
    p.tokens = std::move(ids);
    p.param = std::move(param);
    return p;
}

uint64_t never_drawn() {
    ADD_FAILURE() << "a seed was drawn although one was given";
    return 0;
}

TaskSpec build(const GenerationParams& g, PromptTokens p, const TaskPolicy& pol = policy()) {
    return build_task(g, std::move(p), pol, never_drawn);
}

// Runs f, which must throw ApiError; returns it.
template <class F>
ApiError api_error(F f) {
    try {
        f();
    } catch (const ApiError& e) {
        return e;
    }
    ADD_FAILURE() << "no ApiError thrown";
    return ApiError(0, "");
}

TEST(TaskBuilder, EmptyPromptIs400NamingItsField) {
    for (const char* param : {"prompt", "messages"}) {
        const ApiError e = api_error([&] { build({}, tokens({}, param)); });
        EXPECT_EQ(e.status, 400);
        EXPECT_EQ(e.type, "invalid_request_error");
        EXPECT_EQ(e.param, param);
        EXPECT_STREQ(e.what(), "the prompt is empty (no tokens)");
    }
}

TEST(TaskBuilder, PromptMustLeaveRoomInTheContext) {
    const ApiError e = api_error([&] { build({}, tokens(std::vector<TokenId>(16, 1), "messages")); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "messages");
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_STREQ(e.what(),
                 "the prompt is 16 tokens long, but the context holds 16 tokens (prompt and generated tokens together)");
    EXPECT_EQ(build({}, tokens(std::vector<TokenId>(15, 1))).n_predict, 1);
}

TEST(TaskBuilder, TokenIdsMustBeInsideTheVocabulary) {
    for (TokenId bad : {-1, 100}) {
        const ApiError e = api_error([&] { build({}, tokens({1, bad, 2})); });
        EXPECT_EQ(e.status, 400);
        EXPECT_EQ(e.param, "prompt");
        EXPECT_EQ(std::string(e.what()), "token id " + std::to_string(bad) + " is out of range (vocabulary of 100)");
    }
    EXPECT_EQ(build({}, tokens({0, 99})).prompt, (std::vector<TokenId>{0, 99}));
}

TEST(TaskBuilder, NPredictFromRequestServerOrRoomLeft) {
    GenerationParams g;
    TaskPolicy p = policy();
    EXPECT_EQ(build(g, tokens({1, 2, 3, 4}), p).n_predict, 12);  // all the room left
    p.n_predict = 5;
    EXPECT_EQ(build(g, tokens({1, 2, 3, 4}), p).n_predict, 5);  // --n-predict
    g.max_tokens = 3;
    EXPECT_EQ(build(g, tokens({1, 2, 3, 4}), p).n_predict, 3);  // the request's
    g.max_tokens = 50;
    EXPECT_EQ(build(g, tokens({1, 2, 3, 4}), p).n_predict, 12);  // never past the context
    p.n_predict = 50;
    g.max_tokens = -1;
    EXPECT_EQ(build(g, tokens({1, 2, 3, 4}), p).n_predict, 12);
}

TEST(TaskBuilder, SamplingDefaultsFromTheServerOverriddenPerField) {
    GenerationParams g;
    TaskSpec t = build(g, tokens({1}));
    EXPECT_EQ(t.sampling.temperature, 0.5f);
    EXPECT_EQ(t.sampling.top_k, 40);
    EXPECT_EQ(t.sampling.top_p, 0.9f);
    EXPECT_EQ(t.sampling.min_p, 0.05f);
    g.temperature = 0.0f;
    g.top_k = 3;
    t = build(g, tokens({1}));
    EXPECT_EQ(t.sampling.temperature, 0.0f);
    EXPECT_EQ(t.sampling.top_k, 3);
    EXPECT_EQ(t.sampling.top_p, 0.9f);  // not given: the server's
    g.top_p = 0.5f;
    g.min_p = 0.0f;
    t = build(g, tokens({1}));
    EXPECT_EQ(t.sampling.top_p, 0.5f);
    EXPECT_EQ(t.sampling.min_p, 0.0f);
}

TEST(TaskBuilder, SeedFromRequestServerOrDrawn) {
    GenerationParams g;
    EXPECT_EQ(build(g, tokens({1})).sampling.seed, 7u);  // --seed
    g.seed = 11;
    EXPECT_EQ(build(g, tokens({1})).sampling.seed, 11u);  // the request's
    TaskPolicy p = policy();
    p.seed = -1;
    EXPECT_EQ(build(g, tokens({1}), p).sampling.seed, 11u);
    g.seed.reset();
    int drawn = 0;
    const TaskSpec t = build_task(g, tokens({1}), p, [&] {
        ++drawn;
        return uint64_t{123};
    });
    EXPECT_EQ(t.sampling.seed, 123u);
    EXPECT_EQ(drawn, 1);
}

TEST(TaskBuilder, InvalidSamplingIs400) {
    GenerationParams g;
    g.temperature = -1.0f;
    const ApiError e = api_error([&] { build(g, tokens({1})); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, "");
    EXPECT_STREQ(e.what(), "invalid sampling parameter: temperature must be a finite number >= 0, got -1");
    TaskPolicy p = policy();
    p.sampling.top_p = 0;  // a bad server default fails the request the same way
    EXPECT_EQ(api_error([&] { build({}, tokens({1}), p); }).status, 400);
}

TEST(TaskBuilder, StopStringsThenTheFormatsEndOfTurn) {
    GenerationParams g;
    g.stop = {"END", "\n\n"};
    PromptTokens p = tokens({1}, "messages");
    p.extra_stops = {"<|im_end|>"};
    EXPECT_EQ(build(g, p).stop, (std::vector<std::string>{"END", "\n\n", "<|im_end|>"}));
    EXPECT_TRUE(build({}, tokens({1})).stop.empty());
}

TEST(TaskBuilder, FlagsCopiedFromTheRequest) {
    GenerationParams g;
    TaskSpec t = build(g, tokens({1}));
    EXPECT_FALSE(t.stream);
    EXPECT_FALSE(t.ignore_eos);
    EXPECT_EQ(t.n_probs, -1);
    g.stream = true;
    g.ignore_eos = true;
    t = build(g, tokens({1}));
    EXPECT_TRUE(t.stream);
    EXPECT_TRUE(t.ignore_eos);
}

TEST(TaskBuilder, SpeculativeFieldPicksTheDecoding) {
    TaskPolicy p = policy();
    p.decoding.draft = "/models/m0.gguf";  // the server decodes speculatively by default
    GenerationParams g;
    const TaskSpec def = build(g, tokens({1}), p);
    EXPECT_EQ(def.decoding.draft, "/models/m0.gguf");
    EXPECT_TRUE(def.decoding.speculative());
    g.speculative = json("off");
    const TaskSpec off = build(g, tokens({1}), p);
    EXPECT_FALSE(off.decoding.speculative());
    EXPECT_NE(off.decoding_key, def.decoding_key);
    g.speculative = json("m0:3");
    EXPECT_EQ(build(g, tokens({1}), p).decoding.hierarchy, "/models/m0.gguf:3");
    g.speculative = json("m9:3");  // not a model the server was started with
    const ApiError e = api_error([&] { build(g, tokens({1}), p); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "speculative");
    EXPECT_STREQ(e.what(), "'speculative' names model 'm9', which this server was not started with (it has: m0)");
}

TEST(TaskBuilder, LogprobsDecodeAutoregressively) {
    TaskPolicy p = policy();
    p.decoding.draft = "/models/m0.gguf";
    GenerationParams g;
    g.logprobs = true;
    g.top_logprobs = 3;
    TaskSpec t = build(g, tokens({1}), p);
    EXPECT_EQ(t.n_probs, 3);
    EXPECT_FALSE(t.decoding.speculative());
    EXPECT_EQ(t.decoding_key, "logprobs");
    g.speculative = json("m0:3");  // asked for explicitly: still the target alone
    t = build(g, tokens({1}), p);
    EXPECT_FALSE(t.decoding.speculative());
    EXPECT_EQ(t.decoding_key, "logprobs");
    g.top_logprobs = 0;  // logprobs of the chosen token only
    EXPECT_EQ(build(g, tokens({1}), p).n_probs, 0);
    EXPECT_FALSE(build(g, tokens({1}), p).decoding.speculative());
    // An autoregressive server keeps its own key (the slot's session is reused).
    GenerationParams ar;
    ar.logprobs = true;
    EXPECT_EQ(build(ar, tokens({1})).decoding_key, build({}, tokens({1})).decoding_key);
}

TEST(TaskBuilder, ModelNameMustBeTheServedOne) {
    const std::string path = "/models/hsd-target.gguf";
    EXPECT_EQ(served_model_name(path, ""), "hsd-target");
    EXPECT_EQ(served_model_name(path, "coder"), "coder");
    for (const char* ok : {"", "hsd-target", "hsd-target.gguf", "/models/hsd-target.gguf"})
        EXPECT_NO_THROW(check_model(ok, path, "")) << ok;
    EXPECT_NO_THROW(check_model("coder", path, "coder"));
    EXPECT_NO_THROW(check_model("hsd-target", path, "coder"));
    const ApiError e = api_error([&] { check_model("gpt-4", path, "coder"); });
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, "model");
    EXPECT_EQ(e.code, "model_not_found");
    EXPECT_STREQ(e.what(), "The model 'gpt-4' does not exist (this server serves 'coder')");
}

TEST(TaskBuilder, DetokenizeIdsInsideTheVocabulary) {
    DetokenizeRequest d;
    d.tokens = {0, 99};
    EXPECT_EQ(detokenize_ids(d, 100), (std::vector<TokenId>{0, 99}));
    d.tokens = {5, 100};
    const ApiError e = api_error([&] { detokenize_ids(d, 100); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "tokens");
    EXPECT_STREQ(e.what(), "tokens[1] = 100 is out of range (vocabulary of 100)");
}

// ---- prompts, with the shared target's tokenizer --------------------------------------------

const Tokenizer& target_tokenizer() {
    static const Tokenizer tok = [] {
        const auto f = gguf::File::open(std::string(HSD_SHARED_DIR) + "/models/hsd-target.gguf");
        return Tokenizer::from_gguf(*f);
    }();
    return tok;
}

TEST(TaskBuilderPrompt, CompletionText) {
    const Tokenizer& tok = target_tokenizer();
    CompletionRequest r;
    r.prompt = "def fib(n):";
    const PromptTokens p = completion_prompt(r, tok);
    EXPECT_EQ(p.tokens, tok.encode(r.prompt, tok.add_bos_default()));
    EXPECT_EQ(p.text, r.prompt);
    EXPECT_EQ(p.param, "prompt");
    EXPECT_TRUE(p.extra_stops.empty());
}

TEST(TaskBuilderPrompt, CompletionIdsAsGiven) {
    const Tokenizer& tok = target_tokenizer();
    CompletionRequest r;
    r.prompt_is_tokens = true;
    const std::vector<TokenId> ids = tok.encode("hello world", false);
    r.prompt_tokens.assign(ids.begin(), ids.end());
    const PromptTokens p = completion_prompt(r, tok);
    EXPECT_EQ(p.tokens, ids);
    EXPECT_EQ(p.text, tok.decode(ids));
    r.prompt_tokens = {1, tok.n_vocab()};
    const ApiError e = api_error([&] { completion_prompt(r, tok); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "prompt");
    EXPECT_EQ(std::string(e.what()),
              "prompt[1] = " + std::to_string(tok.n_vocab()) + " is out of range (vocabulary of " +
                  std::to_string(tok.n_vocab()) + ")");
}

TEST(TaskBuilderPrompt, ChatRenderedWithOneBos) {
    const Tokenizer& tok = target_tokenizer();
    ChatRequest r;
    r.messages = {{"system", "Be brief."}, {"user", "Hi"}};
    for (ChatFormat f : {ChatFormat::ChatML, ChatFormat::ChatMLBos}) {
        const PromptTokens p = chat_prompt(r, f, tok);
        EXPECT_EQ(p.param, "messages");
        EXPECT_EQ(p.extra_stops, chat_format_end_of_turn(f));
        EXPECT_TRUE(p.text.empty());
        std::string text = render_chat(f, {{"system", "Be brief."}, {"user", "Hi"}}, true, bos_text(tok), eos_text(tok));
        const std::string bos = bos_text(tok);
        if (tok.add_bos_default() && text.compare(0, bos.size(), bos) == 0) text.erase(0, bos.size());
        EXPECT_EQ(p.tokens, tok.encode(text, tok.add_bos_default(), true)) << chat_format_name(f);
        if (tok.add_bos_default()) {
            ASSERT_GE(p.tokens.size(), 2u);
            EXPECT_EQ(p.tokens[0], tok.bos_id());
            EXPECT_NE(p.tokens[1], tok.bos_id()) << chat_format_name(f) << ": BOS doubled";
        }
    }
}

TEST(TaskBuilderPrompt, ChatTheFormatCannotExpressIs400) {
    ChatRequest r;
    r.messages = {{"system", "a"}, {"user", "b"}};
    const ApiError e = api_error([&] { chat_prompt(r, ChatFormat::Gemma, target_tokenizer()); });
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "messages");
    EXPECT_STREQ(e.what(), "chat format gemma: the system role is not supported");
}

TEST(TaskBuilderPrompt, TokenizeAddsBosOnlyWhenAsked) {
    const Tokenizer& tok = target_tokenizer();
    TokenizeRequest t;
    t.content = "hello";
    EXPECT_EQ(tokenize_ids(t, tok), tok.encode("hello", false, true));
    t.add_special = true;
    EXPECT_EQ(tokenize_ids(t, tok), tok.encode("hello", tok.add_bos_default(), true));
}

}  // namespace
}  // namespace hsd::server
