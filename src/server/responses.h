#pragma once
// Response bodies of the server, one builder per endpoint and shape, in the shapes clients
// parse: OpenAI's text_completion, chat.completion and their streamed chunks (with usage and
// logprobs), llama.cpp server's /completion (content, stop flags, timings with draft_n /
// draft_n_accepted, completion_probabilities), /tokenize, /detokenize, /props, /slots,
// /health, /v1/models, and the /metrics exposition (llama-server's and vLLM's counter names
// plus hsd's per-level ones). Errors are ApiError::to_json (api_request.h).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_request.h"
#include "server/scheduler.h"

namespace hsd::server {

struct ResponseContext {
    std::string id, model;
    int64_t created = 0;
    const Tokenizer* tokenizer = nullptr;
    std::string prompt_text;  // echoed before the completion ("" unless echo)
    int n_probs = -1;         // >= 0: logprobs were asked for
    bool include_usage = false;
};

// The generation endpoints: OpenAI's /v1/completions and /v1/chat/completions, llama.cpp
// server's /completion.
enum class Api { Completions, Chat, Native };

// The response's id: "cmpl-N", "chatcmpl-N", or llama-server's bare "N".
std::string response_id(Api api, uint64_t n);

// "stop", "length", or "abort" (cancelled by a shutdown).
std::string finish_reason(const TaskResult& r);

nlohmann::json usage_json(const TaskResult& r);
// llama-server's timings, with draft_n / draft_n_accepted (the target's verification).
nlohmann::json timings_of(const TaskResult& r);

// The answer of a request that did not stream.
nlohmann::json generation_response(Api api, const ResponseContext& rc, const TaskResult& r,
                                   const std::vector<TokenLogprob>& lp, const TaskSpec& spec);

// Streaming, as server-sent events: what comes before the first text (chat: the assistant
// role; completions with echo: the prompt), one chunk per release, and the end
// (finish_reason, usage when asked, [DONE] for the OpenAI endpoints) or the error that ended it.
std::string stream_start(Api api, const ResponseContext& rc);
std::string stream_chunk(Api api, const ResponseContext& rc, const std::string& text,
                         const std::vector<TokenLogprob>& lp);
std::string stream_end(Api api, const ResponseContext& rc, const TaskResult& r, const TaskSpec& spec);
std::string stream_error(Api api, const ApiError& e);

// What the server tells about itself (GET /v1/models, /props).
struct ServerInfo {
    std::string model_name;  // in the API
    std::string model_path;
    int64_t created = 0;     // when it was loaded (Unix seconds)
    ModelConfig config;      // the target's
    int total_slots = 0;
    int64_t n_ctx = 0;       // per slot
    int n_predict = -1;
    SamplingParams sampling;
    bool speculative = false;  // the default decoding
    std::string chat_template, chat_format, chat_format_source;
};
nlohmann::json models_response(const ServerInfo& s);
nlohmann::json props_response(const ServerInfo& s);

nlohmann::json slots_response(const std::vector<SlotInfo>& slots);

// GET /health: 200 ok, or 503 while loading or shutting down (llama-server's error shape).
struct HealthAnswer {
    int status = 200;
    nlohmann::json body;
};
HealthAnswer health_response(bool ready, bool stopping);

// POST /tokenize: ids, or {"id", "piece"} objects with the token's bytes.
nlohmann::json tokenize_response(const Tokenizer& tok, const std::vector<TokenId>& ids, bool with_pieces);
nlohmann::json detokenize_response(const std::string& content);

// GET /metrics.
std::string metrics_text(const SchedulerMetrics& m, const std::vector<SlotInfo>& slots);

}  // namespace hsd::server
