#include "server/responses.h"

#include <fmt/format.h>

#include "engine/report.h"
#include "server/prometheus.h"
#include "server/sse.h"

namespace hsd::server {

using nlohmann::json;

std::string response_id(Api api, uint64_t n) {
    switch (api) {
        case Api::Chat: return fmt::format("chatcmpl-{}", n);
        case Api::Native: return std::to_string(n);
        case Api::Completions: break;
    }
    return fmt::format("cmpl-{}", n);
}

std::string finish_reason(const TaskResult& r) { return r.finish_reason == "cancelled" ? "abort" : r.finish_reason; }

json usage_json(const TaskResult& r) {
    const size_t p = r.session.prompt_tokens.size(), c = r.session.tokens.size();
    return {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
}

json timings_of(const TaskResult& r) {
    json t = timings_json(r.session);
    const double pn = (double)r.session.prompt_tokens.size(), gn = (double)r.session.tokens.size();
    t["prompt_per_token_ms"] = pn > 0 ? r.session.prompt_seconds * 1e3 / pn : 0.0;
    t["predicted_per_token_ms"] = gn > 0 ? r.session.generation_seconds * 1e3 / gn : 0.0;
    const auto& lv = r.session.levels;
    if (lv.size() >= 2) {
        t["draft_n"] = lv[lv.size() - 2].draft_n;
        t["draft_n_accepted"] = lv[lv.size() - 2].draft_n_accepted;
    }
    return t;
}

namespace {

json bytes_of(const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back((int)c);
    return b;
}

// {"token", "logprob", "bytes"} of an alternative (with its "id" for llama-server's shape).
json alternative(const ResponseContext& rc, TokenId id, float logprob, bool with_id) {
    const std::string b = rc.tokenizer->token_bytes(id);
    json j = {{"token", b}, {"logprob", logprob}, {"bytes", bytes_of(b)}};
    if (with_id) j["id"] = id;
    return j;
}

// OpenAI chat logprobs: {"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}.
json chat_logprobs(const ResponseContext& rc, const std::vector<TokenLogprob>& lp) {
    json content = json::array();
    for (const TokenLogprob& t : lp) {
        json top = json::array();
        for (const auto& [id, l] : t.top) top.push_back(alternative(rc, id, l, false));
        content.push_back({{"token", t.bytes}, {"logprob", t.logprob}, {"bytes", bytes_of(t.bytes)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
}

// Legacy completions logprobs: parallel arrays, text_offset counted from `offset`.
json completion_logprobs(const ResponseContext& rc, const std::vector<TokenLogprob>& lp, size_t offset) {
    json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
    for (const TokenLogprob& t : lp) {
        tokens.push_back(t.bytes);
        lps.push_back(t.logprob);
        json top = json::object();
        for (const auto& [id, l] : t.top) top[rc.tokenizer->token_bytes(id)] = l;
        tops.push_back(top);
        offs.push_back(offset);
        offset += t.bytes.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

// llama-server's completion_probabilities.
json native_probs(const ResponseContext& rc, const std::vector<TokenLogprob>& lp) {
    json out = json::array();
    for (const TokenLogprob& t : lp) {
        json top = json::array();
        for (const auto& [id, l] : t.top) top.push_back(alternative(rc, id, l, true));
        out.push_back({{"id", t.id}, {"token", t.bytes}, {"logprob", t.logprob}, {"bytes", bytes_of(t.bytes)},
                       {"top_logprobs", top}});
    }
    return out;
}

json speculative_of(const TaskResult& r) {
    if (r.session.levels.empty()) return nullptr;
    return {{"hierarchy", r.session.hierarchy}, {"levels", levels_json(r.session.levels)}};
}

json head(const ResponseContext& rc, const char* object) {
    return {{"id", rc.id}, {"object", object}, {"created", rc.created}, {"model", rc.model}};
}

json completion_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp) {
    json j = head(rc, "text_completion");
    json choice = {{"index", 0},
                   {"text", rc.prompt_text + r.text},
                   {"logprobs", rc.n_probs >= 0 ? completion_logprobs(rc, lp, rc.prompt_text.size()) : json(nullptr)},
                   {"finish_reason", finish_reason(r)}};
    j["choices"] = json::array({choice});
    j["usage"] = usage_json(r);
    j["timings"] = timings_of(r);
    if (json s = speculative_of(r); !s.is_null()) j["speculative"] = s;
    return j;
}

json chat_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp) {
    json j = head(rc, "chat.completion");
    json choice = {{"index", 0},
                   {"message", {{"role", "assistant"}, {"content", r.text}}},
                   {"logprobs", rc.n_probs >= 0 ? chat_logprobs(rc, lp) : json(nullptr)},
                   {"finish_reason", finish_reason(r)}};
    j["choices"] = json::array({choice});
    j["usage"] = usage_json(r);
    j["timings"] = timings_of(r);
    if (json s = speculative_of(r); !s.is_null()) j["speculative"] = s;
    return j;
}

json native_response(const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp,
                     const TaskSpec& spec, bool streamed = false) {
    const SamplingParams& s = spec.sampling;
    json j = {{"content", streamed ? std::string() : r.text},
              {"id_slot", r.slot},
              {"stop", true},
              {"model", rc.model},
              {"tokens_predicted", r.session.tokens.size()},
              {"tokens_evaluated", r.session.prompt_tokens.size()},
              {"generation_settings",
               {{"n_predict", spec.n_predict},
                {"seed", s.seed},
                {"temperature", json_float(s.temperature)},
                {"top_k", s.top_k},
                {"top_p", json_float(s.top_p)},
                {"min_p", json_float(s.min_p)},
                {"stop", spec.stop},
                {"ignore_eos", spec.ignore_eos},
                {"n_probs", std::max(0, spec.n_probs)},
                {"speculative", !r.session.levels.empty()}}},
              {"stopped_eos", r.finish_reason == "stop" && r.stopping_word.empty()},
              {"stopped_word", !r.stopping_word.empty()},
              {"stopped_limit", r.finish_reason == "length"},
              {"stopping_word", r.stopping_word},
              {"tokens_cached", 0},
              {"truncated", false},
              {"timings", timings_of(r)}};
    if (spec.n_probs > 0 && !streamed) j["completion_probabilities"] = native_probs(rc, lp);
    if (json sp = speculative_of(r); !sp.is_null()) j["speculative"] = sp;
    return j;
}

std::string chat_stream_start(const ResponseContext& rc) {
    json j = head(rc, "chat.completion.chunk");
    j["choices"] = json::array(
        {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
    if (rc.include_usage) j["usage"] = nullptr;
    return sse_data(j);
}

json completion_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp) {
    json j = head(rc, "text_completion");
    j["choices"] = json::array({{{"index", 0},
                                 {"text", text},
                                 {"logprobs", rc.n_probs >= 0 ? completion_logprobs(rc, lp, 0) : json(nullptr)},
                                 {"finish_reason", nullptr}}});
    if (rc.include_usage) j["usage"] = nullptr;
    return j;
}

json chat_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp) {
    json j = head(rc, "chat.completion.chunk");
    j["choices"] = json::array({{{"index", 0},
                                 {"delta", {{"content", text}}},
                                 {"logprobs", rc.n_probs >= 0 ? chat_logprobs(rc, lp) : json(nullptr)},
                                 {"finish_reason", nullptr}}});
    if (rc.include_usage) j["usage"] = nullptr;
    return j;
}

json native_chunk(const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp) {
    json j = {{"content", text}, {"stop", false}};
    if (rc.n_probs > 0) j["completion_probabilities"] = native_probs(rc, lp);
    return j;
}

// The last chunk (finish_reason, timings) and, when asked, the usage chunk; no [DONE].
std::string stream_end_events(const ResponseContext& rc, const TaskResult& r, const char* object, json choice) {
    json j = head(rc, object);
    j["choices"] = json::array({choice});
    j["timings"] = timings_of(r);
    if (rc.include_usage) j["usage"] = nullptr;
    std::string out = sse_data(j);
    if (rc.include_usage) {
        json u = head(rc, object);
        u["choices"] = json::array();
        u["usage"] = usage_json(r);
        out += sse_data(u);
    }
    return out;
}

std::string completion_stream_end(const ResponseContext& rc, const TaskResult& r) {
    return stream_end_events(rc, r, "text_completion",
                      {{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish_reason(r)}});
}

std::string chat_stream_end(const ResponseContext& rc, const TaskResult& r) {
    return stream_end_events(rc, r, "chat.completion.chunk",
                      {{"index", 0}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", finish_reason(r)}});
}

}  // namespace

json generation_response(Api api, const ResponseContext& rc, const TaskResult& r, const std::vector<TokenLogprob>& lp,
                         const TaskSpec& spec) {
    switch (api) {
        case Api::Chat: return chat_response(rc, r, lp);
        case Api::Native: return native_response(rc, r, lp, spec);
        case Api::Completions: break;
    }
    return completion_response(rc, r, lp);
}

std::string stream_start(Api api, const ResponseContext& rc) {
    switch (api) {
        case Api::Chat: return chat_stream_start(rc);
        case Api::Native: return "";
        case Api::Completions: break;
    }
    return rc.prompt_text.empty() ? "" : sse_data(completion_chunk(rc, rc.prompt_text, {}));
}

std::string stream_chunk(Api api, const ResponseContext& rc, const std::string& text, const std::vector<TokenLogprob>& lp) {
    switch (api) {
        case Api::Chat: return sse_data(chat_chunk(rc, text, lp));
        case Api::Native: return sse_data(native_chunk(rc, text, lp));
        case Api::Completions: break;
    }
    return sse_data(completion_chunk(rc, text, lp));
}

std::string stream_end(Api api, const ResponseContext& rc, const TaskResult& r, const TaskSpec& spec) {
    switch (api) {
        case Api::Chat: return chat_stream_end(rc, r) + sse_done();
        case Api::Native: return sse_data(native_response(rc, r, {}, spec, true));  // llama-server sends no [DONE]
        case Api::Completions: break;
    }
    return completion_stream_end(rc, r) + sse_done();
}

std::string stream_error(Api api, const ApiError& e) {
    std::string out = sse_data(e.to_json());
    if (api != Api::Native) out += sse_done();
    return out;
}

json models_response(const ServerInfo& s) {
    const ModelConfig& c = s.config;
    return {{"object", "list"},
            {"data", json::array({{{"id", s.model_name},
                                   {"object", "model"},
                                   {"created", s.created},
                                   {"owned_by", "hsd"},
                                   {"meta",
                                    {{"n_vocab", c.n_vocab},
                                     {"n_ctx_train", c.n_ctx_train},
                                     {"n_embd", c.n_embd},
                                     {"n_layer", c.n_layer},
                                     {"path", s.model_path}}}}})}};
}

json props_response(const ServerInfo& s) {
    const SamplingParams& p = s.sampling;
    const json settings = {{"n_ctx", s.n_ctx},
                           {"n_predict", s.n_predict},
                           {"temperature", json_float(p.temperature)},
                           {"top_k", p.top_k},
                           {"top_p", json_float(p.top_p)},
                           {"min_p", json_float(p.min_p)},
                           {"speculative", s.speculative}};
    return {{"default_generation_settings", settings},
            {"total_slots", s.total_slots},
            {"model_path", s.model_path},
            {"model_alias", s.model_name},
            {"chat_template", s.chat_template},
            {"chat_format", s.chat_format},
            {"chat_format_source", s.chat_format_source},
            {"build_info", "hsd 0.1.0"}};
}

json slots_response(const std::vector<SlotInfo>& slots) {
    json out = json::array();
    for (const SlotInfo& s : slots)
        out.push_back({{"id", s.id},
                       {"n_ctx", s.n_ctx},
                       {"is_processing", s.busy},
                       {"state", s.busy ? 1 : 0},
                       {"n_prompt_tokens", s.n_prompt},
                       {"n_decoded", s.n_decoded},
                       {"speculative", !s.hierarchy.empty()},
                       {"hierarchy", s.hierarchy}});
    return out;
}

HealthAnswer health_response(bool ready, bool stopping) {
    if (stopping)
        return {503, {{"error", {{"code", 503}, {"message", "shutting down"}, {"type", "unavailable_error"}}}}};
    if (!ready) return {503, {{"error", {{"code", 503}, {"message", "Loading model"}, {"type", "unavailable_error"}}}}};
    return {200, {{"status", "ok"}}};
}

json tokenize_response(const Tokenizer& tok, const std::vector<TokenId>& ids, bool with_pieces) {
    json out = json::array();
    for (TokenId id : ids) {
        if (with_pieces)
            out.push_back({{"id", id}, {"piece", tok.token_bytes(id)}});
        else
            out.push_back(id);
    }
    return {{"tokens", out}};
}

json detokenize_response(const std::string& content) { return {{"content", content}}; }

std::string metrics_text(const SchedulerMetrics& m, const std::vector<SlotInfo>& slots) {
    MetricsText t;
    // llama-server's names (llamacpp:*) under hsd:, and vLLM's spec-decode counters.
    t.counter("hsd:prompt_tokens_total", "Number of prompt tokens processed.", (double)m.prompt_tokens);
    t.counter("hsd:prompt_seconds_total", "Prompt process time.", m.prompt_seconds);
    t.counter("hsd:tokens_predicted_total", "Number of generation tokens processed.", (double)m.generated_tokens);
    t.counter("hsd:tokens_predicted_seconds_total", "Predict process time.", m.generation_seconds);
    t.counter("hsd:n_decode_total", "Total number of decoding steps (one target verification each).", (double)m.steps);
    t.counter("hsd:requests_total", "Requests finished, by outcome.", (double)m.requests_finished, {{"outcome", "finished"}});
    t.counter("hsd:requests_total", "Requests finished, by outcome.", (double)m.requests_cancelled, {{"outcome", "cancelled"}});
    t.counter("hsd:requests_total", "Requests finished, by outcome.", (double)m.requests_failed, {{"outcome", "failed"}});
    t.gauge("hsd:requests_processing", "Number of requests processing.", m.processing);
    t.gauge("hsd:requests_deferred", "Number of requests waiting for a slot.", m.waiting);
    int busy = 0;
    for (const SlotInfo& s : slots) busy += s.busy ? 1 : 0;
    t.gauge("hsd:slots_busy", "Slots running a request.", busy);
    t.gauge("hsd:slots_total", "Slots.", (double)slots.size());
    t.counter("hsd:spec_decode_num_drafts_total", "Draft batches the target verified.", (double)m.spec_drafts);
    t.counter("hsd:spec_decode_num_draft_tokens_total", "Tokens proposed to the target.", (double)m.spec_draft_tokens);
    t.counter("hsd:spec_decode_num_accepted_tokens_total", "Proposed tokens the target accepted.",
              (double)m.spec_accepted_tokens);
    for (int i = 0; i < LevelStats::kPositions; ++i)
        t.counter("hsd:spec_decode_num_accepted_tokens_per_pos_total",
                  "Accepted tokens by position in the draft batch (the last position counts all later ones).",
                  (double)m.spec_accepted_per_pos[i], {{"position", std::to_string(i)}});
    for (const auto& [name, l] : m.levels) {
        const Labels lab = {{"level", name}};
        t.counter("hsd:level_proposed_tokens_total", "Tokens a level proposed to the level above.", (double)l.draft_n, lab);
        t.counter("hsd:level_accepted_tokens_total", "Of those, accepted by the level above.", (double)l.draft_n_accepted, lab);
        t.counter("hsd:level_forward_passes_total", "Forward passes a level ran (prefill excluded).", (double)l.n_forward, lab);
        t.counter("hsd:level_seconds_total", "Time in a level's own work.", l.seconds, lab);
    }
    t.counter("hsd:batch_rounds_total", "Continuous-batching rounds (every active slot's forward work fused).",
              (double)m.batcher.rounds);
    t.counter("hsd:batch_passes_total", "Fused forward passes (one per model and layer range per round).",
              (double)m.batcher.passes);
    t.counter("hsd:batch_segments_total", "Sequence segments in those passes.", (double)m.batcher.segments);
    t.counter("hsd:batch_rows_total", "Token rows computed in those passes.", (double)m.batcher.rows);
    t.counter("hsd:batch_seconds_total", "Time spent computing rounds.", m.batcher.seconds);
    return t.str();
}

}  // namespace hsd::server
