#pragma once
// Response bodies of the server, in the shapes clients parse: OpenAI's text_completion,
// chat.completion and their streamed chunks (with usage and logprobs), llama.cpp server's
// /completion (content, stop flags, timings with draft_n / draft_n_accepted,
// completion_probabilities), and the /metrics exposition (llama-server's and vLLM's counter
// names plus hsd's per-level ones).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// The BOS / EOS texts a chat template writes ("" when the vocabulary has none).
std::string bos_text(const Tokenizer& tok);
std::string eos_text(const Tokenizer& tok);

// "stop", "length", or "abort" (cancelled by a shutdown).
std::string finish_reason(const TaskResult& r);

nlohmann::json usage_json(const TaskResult& r);
// llama-server's timings, with draft_n / draft_n_accepted (the target's verification).
nlohmann::json timings_of(const TaskResult& r);

nlohmann::json completion_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp);
nlohmann::json chat_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp);
nlohmann::json native_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp,
                               const TaskSpec& spec, bool streamed = false);

// Streaming: what comes before the first text (chat: the assistant role; completions with
// echo: the prompt), one chunk per release, and the end (finish_reason, usage when asked).
std::string stream_start(const ResponseContext& rc, bool chat, bool native);
nlohmann::json completion_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp);
nlohmann::json chat_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp);
nlohmann::json native_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp);
std::string completion_stream_end(const ResponseContext& rc, const TaskResult& r);  // SSE events, no [DONE]
std::string chat_stream_end(const ResponseContext& rc, const TaskResult& r);

// GET /metrics.
std::string metrics_text(const SchedulerMetrics& m, const std::vector<SlotInfo>& slots);

}  // namespace hsd::server
