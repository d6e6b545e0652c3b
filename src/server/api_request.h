#pragma once
// Request bodies of the HTTP server, parsed and validated into plain structs before any work
// is done: POST /v1/completions and /v1/chat/completions (OpenAI), POST /completion,
// /tokenize and /detokenize (llama.cpp's server). Every problem is an ApiError carrying the
// HTTP status and the offending parameter, in OpenAI's error shape.
//
// Common rules (exact):
// - A field given as JSON null counts as not given (clients such as the OpenAI SDKs and
//   LangChain send nulls for unset options).
// - A field of the wrong JSON type -> 400, param = the field ("messages[0].content" for nested
//   ones), message "'max_tokens' must be an integer, got string". Integers must be JSON
//   integers (100.0 is rejected like OpenAI does); numbers accept integers and decimals.
// - OpenAI fields that would change the result but are not supported -> 400 naming the field;
//   those set to their neutral value are accepted (see the .cpp for the list).
// - Unknown fields are ignored (as OpenAI-compatible servers do) and their names collected in
//   ignored_fields, nested ones with their path ("stream_options.foo", "messages[1].name"),
//   so the server can log them.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hsd::server {

struct ApiError : std::runtime_error {
    int status;
    std::string type;
    std::string param;
    std::string code;

    ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = "",
             std::string code = "");
    // {"error": {"message", "type", "param" (null if empty), "code" (null if empty)}}
    nlohmann::json to_json() const;
};

struct TextPart {
    std::string text;
};

struct ChatMessageIn {
    std::string role;     // "system", "user" or "assistant" ("developer" is mapped to "system")
    std::string content;  // a string, or the text parts concatenated without separator
};

struct GenerationParams {
    std::string model;                 // may be empty (the server then uses its only model)
    int max_tokens = -1;               // -1: not given (server default); otherwise >= 1
    std::optional<float> temperature;  // [0, 2]
    std::optional<float> top_p;        // (0, 1]
    std::optional<int> top_k;          // >= 0, 0 = off (extension)
    std::optional<float> min_p;        // [0, 1] (extension)
    std::optional<uint64_t> seed;      // >= 0
    std::vector<std::string> stop;     // non-empty strings; at most 4 (OpenAI) / 16 (native)
    bool stream = false;
    bool include_usage = false;        // stream_options.include_usage
    bool logprobs = false;
    int top_logprobs = 0;              // chat: 0..20; completions: the integer logprobs 0..5
    std::optional<nlohmann::json> speculative;  // extension, a string or an object, as given
    bool ignore_eos = false;           // extension (llama.cpp's ignore_eos)
    std::vector<std::string> ignored_fields;  // unknown fields, for logging
};

struct CompletionRequest : GenerationParams {
    std::string prompt;                 // when !prompt_is_tokens
    std::vector<int32_t> prompt_tokens; // when prompt_is_tokens (ids >= 0; vocab not checked)
    bool prompt_is_tokens = false;
    bool echo = false;
};

struct ChatRequest : GenerationParams {
    std::vector<ChatMessageIn> messages;  // at least one
};

struct NativeCompletionRequest : CompletionRequest {
    int n_probs = 0;  // 0..20; > 0 also sets logprobs and top_logprobs
};

struct TokenizeRequest {
    std::string content;
    bool add_special = false;  // insert BOS etc. (llama.cpp default: false)
    bool with_pieces = false;  // return {"id","piece"} objects
    std::vector<std::string> ignored_fields;
};

struct DetokenizeRequest {
    std::vector<int32_t> tokens;  // ids >= 0; vocab not checked
    std::vector<std::string> ignored_fields;
};

// The body as a JSON object: 413 if larger than max_bytes, 400 if not valid UTF-8 (with the
// offset), nested deeper than kMaxJsonDepth, malformed JSON (with nlohmann's line/column),
// or not an object.
inline constexpr int kMaxJsonDepth = 64;
nlohmann::json parse_json_body(std::string_view body, size_t max_bytes);

CompletionRequest parse_completion_request(const nlohmann::json& body);      // POST /v1/completions
ChatRequest parse_chat_request(const nlohmann::json& body);                  // POST /v1/chat/completions
NativeCompletionRequest parse_native_completion_request(const nlohmann::json& body);  // POST /completion
TokenizeRequest parse_tokenize_request(const nlohmann::json& body);          // POST /tokenize
DetokenizeRequest parse_detokenize_request(const nlohmann::json& body);      // POST /detokenize

}  // namespace hsd::server
