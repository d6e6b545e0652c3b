#pragma once
// The server's request-to-work policy, with no HTTP in it: a parsed request (api_request.h),
// the server's settings and the model's facts become the Scheduler's TaskSpec, or an ApiError
// (HTTP status, message, the parameter at fault). Tested in tests/test_task_builder.cpp.
//
// Rules of build_task (exact):
// - The prompt must hold at least one token and fewer than the context (prompt and generated
//   tokens share it); every id must be inside the vocabulary. 400, param = the prompt's field.
// - n_predict: the request's max_tokens, else the server's --n-predict, else all the room
//   left; never more than that room.
// - Sampling: the server's defaults, each overridden by the request's field; the seed is the
//   request's, else the server's --seed, else drawn per request. Invalid values: 400.
// - Stop strings: the request's, then the chat format's end-of-turn texts.
// - "speculative" picks the decoding (speculative_choice.h); a request asking for logprobs is
//   decoded autoregressively, since logprobs report the target's distribution of every token.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "server/api_request.h"
#include "server/chat_format.h"
#include "server/scheduler.h"

namespace hsd::server {

// What the server was started with, as far as it decides a request's task.
struct TaskPolicy {
    int64_t n_ctx = 0;       // per slot: prompt and generated tokens together
    int n_vocab = 0;         // the target's
    int n_predict = -1;      // --n-predict (-1: until EOS or the context's end)
    SamplingParams sampling;  // defaults for the fields a request leaves out
    int64_t seed = -1;       // --seed (-1: a random seed per request)
    DecodingRequest decoding;                 // the server's default decoding
    std::vector<std::string> allowed_models;  // files "speculative" may name
    std::vector<std::string> drafts;          // the candidates of "speculative": "auto"
};

// A request's prompt as tokens, with what its endpoint adds.
struct PromptTokens {
    std::vector<TokenId> tokens;
    std::string param = "prompt";          // the field prompt errors name
    std::vector<std::string> extra_stops;  // the chat format's end-of-turn texts
    std::string text;                      // completions: the prompt as text (for echo)
};

// The BOS / EOS texts a chat template writes ("" when the vocabulary has none).
std::string bos_text(const Tokenizer& tok);
std::string eos_text(const Tokenizer& tok);

// /v1/completions and /completion: the text (BOS as the vocabulary wants) or the ids as given.
PromptTokens completion_prompt(const CompletionRequest& r, const Tokenizer& tok);
// /v1/chat/completions: the messages rendered by the format, special tokens parsed, BOS once
// (a template that writes it too would double it). A conversation the format cannot express:
// 400, param "messages".
PromptTokens chat_prompt(const ChatRequest& r, ChatFormat format, const Tokenizer& tok);

// A seed from std::random_device (thread-safe): build_task's default source.
uint64_t random_seed();

// The task of a generation request; draw_seed is called only when neither the request nor
// the server gives a seed.
TaskSpec build_task(const GenerationParams& g, PromptTokens prompt, const TaskPolicy& policy,
                    const std::function<uint64_t()>& draw_seed = random_seed);

// The name the API shows for the served model: the alias, else the file's stem.
std::string served_model_name(const std::string& model_path, const std::string& alias);
// A request's "model" must be empty or name the served model (its API name, path, file name
// or stem): 404 model_not_found otherwise.
void check_model(const std::string& requested, const std::string& model_path, const std::string& alias);

// /tokenize: the ids of the content (BOS only when add_special and the vocabulary wants it).
std::vector<TokenId> tokenize_ids(const TokenizeRequest& r, const Tokenizer& tok);
// /detokenize: the ids, each inside the vocabulary (400 naming tokens[i] otherwise).
std::vector<TokenId> detokenize_ids(const DetokenizeRequest& r, int n_vocab);

}  // namespace hsd::server
