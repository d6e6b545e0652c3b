#include "server/responses.h"

#include <fmt/format.h>

#include "engine/report.h"
#include "server/prometheus.h"
#include "server/sse.h"

namespace hsd::server {

using nlohmann::json;

std::string bos_text(const Tokenizer& tok) { return tok.bos_id() >= 0 ? tok.piece(tok.bos_id()) : ""; }
std::string eos_text(const Tokenizer& tok) { return tok.eos_id() >= 0 ? tok.piece(tok.eos_id()) : ""; }

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

}  // namespace

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
                     const TaskSpec& spec, bool streamed) {
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

std::string stream_start(const ResponseContext& rc, bool chat, bool native) {
    if (native) return "";
    if (chat) {
        json j = head(rc, "chat.completion.chunk");
        j["choices"] = json::array(
            {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        if (rc.include_usage) j["usage"] = nullptr;
        return sse_data(j);
    }
    if (rc.prompt_text.empty()) return "";
    return sse_data(completion_chunk(rc, rc.prompt_text, {}));
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

namespace {
std::string stream_end(const ResponseContext& rc, const TaskResult& r, const char* object, json choice) {
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
}  // namespace

std::string completion_stream_end(const ResponseContext& rc, const TaskResult& r) {
    return stream_end(rc, r, "text_completion",
                      {{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish_reason(r)}});
}

std::string chat_stream_end(const ResponseContext& rc, const TaskResult& r) {
    return stream_end(rc, r, "chat.completion.chunk",
                      {{"index", 0}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", finish_reason(r)}});
}

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
