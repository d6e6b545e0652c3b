// The request-to-task policy; the rules are in task_builder.h.
#include "server/task_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <random>
#include <utility>

#include "common/error.h"
#include "server/speculative_choice.h"

namespace hsd::server {

std::string bos_text(const Tokenizer& tok) { return tok.bos_id() >= 0 ? tok.piece(tok.bos_id()) : ""; }
std::string eos_text(const Tokenizer& tok) { return tok.eos_id() >= 0 ? tok.piece(tok.eos_id()) : ""; }

namespace {

// Token ids a client sent, checked against the vocabulary; the error names `param`[i].
std::vector<TokenId> checked_ids(const std::vector<int32_t>& given, int n_vocab, const char* param) {
    std::vector<TokenId> ids(given.begin(), given.end());
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            throw ApiError(400, fmt::format("{}[{}] = {} is out of range (vocabulary of {})", param, i, ids[i], n_vocab),
                           "invalid_request_error", param);
    return ids;
}

}  // namespace

PromptTokens completion_prompt(const CompletionRequest& r, const Tokenizer& tok) {
    PromptTokens p;
    if (r.prompt_is_tokens) {
        p.tokens = checked_ids(r.prompt_tokens, tok.n_vocab(), "prompt");  // (before decoding them for echo)
    } else {
        p.tokens = tok.encode(r.prompt, tok.add_bos_default());
    }
    p.text = r.prompt_is_tokens ? tok.decode(p.tokens) : r.prompt;
    return p;
}

PromptTokens chat_prompt(const ChatRequest& r, ChatFormat format, const Tokenizer& tok) {
    std::vector<ChatMessage> msgs;
    for (const ChatMessageIn& m : r.messages) msgs.push_back({m.role, m.content});
    std::string text;
    try {
        text = render_chat(format, msgs, true, bos_text(tok), eos_text(tok));
    } catch (const Error& e) {
        throw ApiError(400, e.what(), "invalid_request_error", "messages");
    }
    // The tokenizer adds BOS itself; a template that writes it too would double it.
    const std::string bos = bos_text(tok);
    const bool add_bos = tok.add_bos_default();
    if (add_bos && !bos.empty() && text.compare(0, bos.size(), bos) == 0) text.erase(0, bos.size());
    PromptTokens p;
    p.tokens = tok.encode(text, add_bos, /*parse_special=*/true);
    p.param = "messages";
    p.extra_stops = chat_format_end_of_turn(format);
    return p;
}

uint64_t random_seed() {
    static std::mutex m;
    static std::random_device rd;
    std::lock_guard<std::mutex> lock(m);
    return ((uint64_t)rd() << 32) ^ rd();
}

TaskSpec build_task(const GenerationParams& g, PromptTokens prompt, const TaskPolicy& policy,
                    const std::function<uint64_t()>& draw_seed) {
    const int64_t n_ctx = policy.n_ctx;
    const std::string& param = prompt.param;
    if (prompt.tokens.empty()) throw ApiError(400, "the prompt is empty (no tokens)", "invalid_request_error", param);
    if ((int64_t)prompt.tokens.size() >= n_ctx)
        throw ApiError(400,
                       fmt::format("the prompt is {} tokens long, but the context holds {} tokens (prompt and "
                                   "generated tokens together)",
                                   prompt.tokens.size(), n_ctx),
                       "invalid_request_error", param, "context_length_exceeded");
    for (TokenId t : prompt.tokens)
        if (t < 0 || t >= policy.n_vocab)
            throw ApiError(400, fmt::format("token id {} is out of range (vocabulary of {})", t, policy.n_vocab),
                           "invalid_request_error", param);
    TaskSpec spec;
    spec.prompt = std::move(prompt.tokens);
    const int64_t room = n_ctx - (int64_t)spec.prompt.size();
    const int64_t n = g.max_tokens > 0 ? g.max_tokens : (policy.n_predict > 0 ? policy.n_predict : room);
    spec.n_predict = (int)std::min<int64_t>(n, room);
    spec.ignore_eos = g.ignore_eos;
    spec.sampling = policy.sampling;
    if (g.temperature) spec.sampling.temperature = *g.temperature;
    if (g.top_p) spec.sampling.top_p = *g.top_p;
    if (g.top_k) spec.sampling.top_k = *g.top_k;
    if (g.min_p) spec.sampling.min_p = *g.min_p;
    spec.sampling.seed = g.seed ? *g.seed : (policy.seed >= 0 ? (uint64_t)policy.seed : draw_seed());
    try {
        spec.sampling.validate();
    } catch (const Error& e) {
        throw ApiError(400, e.what());
    }
    spec.stop = g.stop;
    for (const std::string& s : prompt.extra_stops) spec.stop.push_back(s);
    if (g.logprobs) spec.n_probs = g.top_logprobs;
    DecodingChoice d = choose_decoding(g.speculative, policy.decoding, policy.allowed_models, policy.drafts);
    if (spec.n_probs >= 0 && d.decoding.speculative()) {
        // Autoregressive: the same tokens when greedy, the same distribution when sampling.
        d.decoding = DecodingRequest{};
        d.key = "logprobs";
    }
    spec.decoding = d.decoding;
    spec.decoding_key = d.key;
    spec.stream = g.stream;
    return spec;
}

std::string served_model_name(const std::string& model_path, const std::string& alias) {
    return alias.empty() ? std::filesystem::path(model_path).stem().string() : alias;
}

void check_model(const std::string& requested, const std::string& model_path, const std::string& alias) {
    if (requested.empty()) return;
    const std::filesystem::path p(model_path);
    const std::string name = served_model_name(model_path, alias);
    if (requested == name || requested == model_path || requested == p.filename().string() ||
        requested == p.stem().string())
        return;
    throw ApiError(404, fmt::format("The model '{}' does not exist (this server serves '{}')", requested, name),
                   "invalid_request_error", "model", "model_not_found");
}

std::vector<TokenId> tokenize_ids(const TokenizeRequest& r, const Tokenizer& tok) {
    return tok.encode(r.content, r.add_special && tok.add_bos_default(), /*parse_special=*/true);
}

std::vector<TokenId> detokenize_ids(const DetokenizeRequest& r, int n_vocab) {
    return checked_ids(r.tokens, n_vocab, "tokens");
}

}  // namespace hsd::server
