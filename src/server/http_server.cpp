// Routes of `hsd serve`, read top to bottom: lifecycle, the guards every request passes
// (readiness, API key, body limit), then one handler per endpoint. Generation requests all go
// the same way: parse and validate the body (api_request.h), build a TaskSpec (prompt tokens,
// sampling, decoding, stop strings), submit it to the Scheduler, then answer in one JSON
// object or stream server-sent events as the slot releases text (responses.h shapes both).
#include "server/http_server.h"

#include <httplib.h>

#include <chrono>
#include <ctime>
#include <thread>
#include <filesystem>
#include <fmt/format.h>
#include <random>

#include "common/error.h"
#include "engine/report.h"
#include "server/api_request.h"
#include "server/prometheus.h"
#include "server/responses.h"
#include "server/scheduler.h"
#include "server/speculative_choice.h"
#include "server/sse.h"

namespace hsd::server {

using nlohmann::json;

namespace {

constexpr auto kPoll = std::chrono::milliseconds(50);

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(httplib::Response& res, const json& j, int status = 200) {
    res.status = status;
    res.set_content(dump(j), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, const ApiError& e) {
    send_json(res, e.to_json(), e.status);
    if (e.status == 503) res.set_header("Retry-After", "1");
}

// Constant-time comparison: the time does not depend on where the strings first differ.
bool same_secret(const std::string& a, const std::string& b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? (unsigned char)a[i] : 0, y = i < b.size() ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

uint64_t random_seed() {
    static std::mutex m;
    static std::random_device rd;
    std::lock_guard<std::mutex> lock(m);
    return ((uint64_t)rd() << 32) ^ rd();
}

enum class Endpoint { Completions, Chat, Native };

}  // namespace

struct Server::Impl {
    Engine& engine;
    ServerOptions o;
    std::atomic<bool>& ready;
    httplib::Server http;
    std::unique_ptr<Scheduler> sched;
    const Model* target = nullptr;
    ChatFormat chat_format = ChatFormat::ChatML;
    std::string chat_template;       // the model's tokenizer.chat_template ("" if none)
    std::string chat_format_source;  // "forced", "detected" or "default (no template)"
    std::vector<std::string> allowed_models;
    std::atomic<uint64_t> next_id{1};
    std::atomic<bool> stopping{false};
    std::atomic<bool> listening{false};
    std::once_flag stop_once;
    int64_t created = 0;

    Impl(Engine& e, ServerOptions opt, std::atomic<bool>& r) : engine(e), o(std::move(opt)), ready(r) {}

    // ---- lifecycle ------------------------------------------------------------------
    void load() {
        target = &engine.model(o.model);
        std::vector<std::string> models = models_named(o.decoding);
        models.insert(models.end(), o.drafts.begin(), o.drafts.end());
        for (const std::string& p : models) {
            engine.model(p);  // load every draft now, not in the first request
            allowed_models.push_back(p);
        }
        SchedulerOptions so;
        so.model = o.model;
        so.n_slots = o.n_slots;
        so.n_ctx = o.n_ctx;
        so.queue_max = o.queue_max;
        so.chunk_tokens = o.chunk_tokens;
        // The server's default decoding is checked (and an explicit hierarchy built) once
        // here, so a bad flag fails at startup, not in the first request.
        if (!o.decoding.is_auto()) {
            SessionOptions check;
            check.model = o.model;
            check.n_ctx = o.n_ctx;
            check.sampling = o.sampling;
            check.decoding = o.decoding;
            Session s(engine, check);
        }
        sched = std::make_unique<Scheduler>(engine, so);
        const gguf::File& f = target->file();
        chat_template = f.find("tokenizer.chat_template") ? f.get_string("tokenizer.chat_template") : "";
        const std::string& tmpl = chat_template;
        if (!o.chat_template.empty()) {
            chat_format = chat_format_from_name(o.chat_template);
            chat_format_source = "forced (--chat-template)";
        } else if (auto f = detect_chat_format(tmpl)) {
            chat_format = *f;
            chat_format_source = "detected from tokenizer.chat_template";
        } else {
            chat_format = ChatFormat::ChatML;
            chat_format_source = tmpl.empty() ? "default (the model has no chat template)"
                                              : "default (the model's chat template is not recognised)";
        }
        created = (int64_t)std::time(nullptr);
        ready = true;
    }

    void stop() {
        std::call_once(stop_once, [&] {
            stopping = true;
            if (sched) sched->shutdown(std::chrono::milliseconds(o.shutdown_grace_ms));
            // httplib ignores stop() until its accept loop runs: wait for that if listen() was called.
            if (listening)
                while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            http.stop();
        });
    }

    // ---- guards -----------------------------------------------------------------------
    bool authorized(const httplib::Request& req) const {
        if (o.api_key.empty() || req.path == "/health") return true;
        const std::string h = req.get_header_value("Authorization");
        const std::string prefix = "Bearer ";
        if (h.size() < prefix.size() || h.compare(0, prefix.size(), prefix) != 0) return false;
        return same_secret(h.substr(prefix.size()), o.api_key);
    }

    void require_ready() const {
        if (stopping) throw ApiError(503, "the server is shutting down", "unavailable_error");
        if (!ready) throw ApiError(503, "the model is loading", "unavailable_error");
    }

    std::string model_name() const {
        return o.alias.empty() ? std::filesystem::path(o.model).stem().string() : o.alias;
    }

    void check_model(const std::string& name) const {
        if (name.empty()) return;
        const std::filesystem::path p(o.model);
        if (name == model_name() || name == o.model || name == p.filename().string() || name == p.stem().string())
            return;
        throw ApiError(404, fmt::format("The model '{}' does not exist (this server serves '{}')", name, model_name()),
                       "invalid_request_error", "model", "model_not_found");
    }

    // ---- building a task ----------------------------------------------------------------
    TaskSpec make_spec(const GenerationParams& g, std::vector<TokenId> prompt, const char* prompt_param,
                       const std::vector<std::string>& extra_stops) const {
        const int64_t n_ctx = sched->n_ctx();
        if (prompt.empty()) throw ApiError(400, "the prompt is empty (no tokens)", "invalid_request_error", prompt_param);
        if ((int64_t)prompt.size() >= n_ctx)
            throw ApiError(400,
                           fmt::format("the prompt is {} tokens long, but the context holds {} tokens (prompt and "
                                       "generated tokens together)",
                                       prompt.size(), n_ctx),
                           "invalid_request_error", prompt_param, "context_length_exceeded");
        const int n_vocab = target->config().n_vocab;
        for (TokenId t : prompt)
            if (t < 0 || t >= n_vocab)
                throw ApiError(400, fmt::format("token id {} is out of range (vocabulary of {})", t, n_vocab),
                               "invalid_request_error", prompt_param);
        TaskSpec spec;
        spec.prompt = std::move(prompt);
        const int64_t room = n_ctx - (int64_t)spec.prompt.size();
        int64_t n = g.max_tokens > 0 ? g.max_tokens : (o.n_predict > 0 ? o.n_predict : room);
        spec.n_predict = (int)std::min<int64_t>(n, room);
        spec.ignore_eos = g.ignore_eos;
        spec.sampling = o.sampling;
        if (g.temperature) spec.sampling.temperature = *g.temperature;
        if (g.top_p) spec.sampling.top_p = *g.top_p;
        if (g.top_k) spec.sampling.top_k = *g.top_k;
        if (g.min_p) spec.sampling.min_p = *g.min_p;
        spec.sampling.seed = g.seed ? *g.seed : (o.seed >= 0 ? (uint64_t)o.seed : random_seed());
        try {
            spec.sampling.validate();
        } catch (const Error& e) {
            throw ApiError(400, e.what());
        }
        spec.stop = g.stop;
        for (const std::string& s : extra_stops) spec.stop.push_back(s);
        if (g.logprobs) spec.n_probs = g.top_logprobs;
        DecodingChoice d = choose_decoding(g.speculative, o.decoding, allowed_models, o.drafts);
        if (spec.n_probs >= 0 && d.decoding.speculative()) {
            // logprobs report the target's distribution of every token: decode those requests
            // autoregressively (the same tokens when greedy, the same distribution when sampling).
            d.decoding = DecodingRequest{};
            d.key = "logprobs";
        }
        spec.decoding = d.decoding;
        spec.decoding_key = d.key;
        return spec;
    }

    std::shared_ptr<Task> submit(TaskSpec spec) {
        try {
            return sched->submit(std::move(spec));
        } catch (const QueueFull& e) {
            throw ApiError(503, e.what(), "unavailable_error", "", "queue_full");
        } catch (const Error& e) {
            throw ApiError(503, e.what(), "unavailable_error");
        }
    }

    // ---- generation endpoints ---------------------------------------------------------
    void generate(const httplib::Request& req, httplib::Response& res, Endpoint ep) {
        require_ready();
        const json body = parse_json_body(req.body, o.max_body_bytes);
        const Tokenizer& tok = target->tokenizer();
        ResponseContext rc;
        rc.model = model_name();
        rc.created = (int64_t)std::time(nullptr);
        rc.tokenizer = &tok;
        GenerationParams g;
        std::vector<TokenId> prompt;
        std::vector<std::string> extra_stops;
        std::string prompt_text;
        bool echo = false;
        const char* prompt_param = "prompt";
        if (ep == Endpoint::Chat) {
            ChatRequest c = parse_chat_request(body);
            std::vector<ChatMessage> msgs;
            for (const ChatMessageIn& m : c.messages) msgs.push_back({m.role, m.content});
            std::string text;
            try {
                text = render_chat(chat_format, msgs, true, bos_text(tok), eos_text(tok));
            } catch (const Error& e) {
                throw ApiError(400, e.what(), "invalid_request_error", "messages");
            }
            // The tokenizer adds BOS itself; a template that writes it too would double it.
            const std::string bos = bos_text(tok);
            const bool add_bos = tok.add_bos_default();
            if (add_bos && !bos.empty() && text.compare(0, bos.size(), bos) == 0) text.erase(0, bos.size());
            prompt = tok.encode(text, add_bos, /*parse_special=*/true);
            extra_stops = chat_format_end_of_turn(chat_format);
            prompt_param = "messages";
            g = std::move(c);
            rc.id = fmt::format("chatcmpl-{}", next_id++);
        } else {
            NativeCompletionRequest n;
            if (ep == Endpoint::Native) {
                n = parse_native_completion_request(body);
            } else {
                static_cast<CompletionRequest&>(n) = parse_completion_request(body);
            }
            if (n.prompt_is_tokens)
                prompt.assign(n.prompt_tokens.begin(), n.prompt_tokens.end());
            else
                prompt = tok.encode(n.prompt, tok.add_bos_default());
            prompt_text = n.prompt_is_tokens ? tok.decode(prompt) : n.prompt;
            echo = n.echo;
            g = std::move(n);
            const uint64_t id = next_id++;
            rc.id = ep == Endpoint::Native ? std::to_string(id) : fmt::format("cmpl-{}", id);
        }
        check_model(g.model);
        TaskSpec spec = make_spec(g, std::move(prompt), prompt_param, extra_stops);
        spec.stream = g.stream;
        rc.prompt_text = echo ? prompt_text : "";
        rc.n_probs = spec.n_probs;
        rc.include_usage = g.include_usage;
        std::shared_ptr<Task> task = submit(std::move(spec));

        if (!g.stream) {
            Task::Update u;
            while (!task->wait(u, std::chrono::milliseconds(1000))) {
            }
            if (const auto& err = task->error()) throw ApiError(err->first, err->second);
            const TaskResult& r = task->result();
            json j = ep == Endpoint::Chat ? chat_response(rc, r, u.tokens)
                     : ep == Endpoint::Native ? native_response(rc, r, u.tokens, task->spec())
                                              : completion_response(rc, r, u.tokens);
            return send_json(res, j);
        }
        // Streaming: one event per release of text; the provider runs on this HTTP thread.
        res.set_header("Cache-Control", "no-cache");
        auto state = std::make_shared<StreamState>();
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, task, rc, ep, state](size_t, httplib::DataSink& sink) {
                auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
                if (!state->started) {
                    state->started = true;
                    const std::string first = stream_start(rc, ep == Endpoint::Chat, ep == Endpoint::Native);
                    if (!first.empty() && !write(first)) return cancel(task);
                }
                Task::Update u;
                const bool final = task->wait(u, kPoll);
                if (!u.text.empty() || !u.tokens.empty()) {
                    const std::string chunk = ep == Endpoint::Chat     ? sse_data(chat_chunk(rc, u.text, u.tokens))
                                              : ep == Endpoint::Native ? sse_data(native_chunk(rc, u.text, u.tokens))
                                                                       : sse_data(completion_chunk(rc, u.text, u.tokens));
                    if (!write(chunk)) return cancel(task);
                } else if (!final && !sink.is_writable()) {
                    return cancel(task);
                }
                if (!final) return true;
                std::string tail;
                if (const auto& err = task->error())
                    tail = sse_data(ApiError(err->first, err->second).to_json());
                else if (ep == Endpoint::Chat)
                    tail = chat_stream_end(rc, task->result());
                else if (ep == Endpoint::Native)
                    tail = sse_data(native_response(rc, task->result(), {}, task->spec(), true));
                else
                    tail = completion_stream_end(rc, task->result());
                if (ep != Endpoint::Native) tail += sse_done();
                write(tail);
                sink.done();
                return true;
            },
            [task](bool success) {
                if (!success) task->cancel();
            });
    }

    struct StreamState {
        bool started = false;
    };
    static bool cancel(const std::shared_ptr<Task>& t) {
        t->cancel();
        return false;
    }

    // ---- other endpoints ----------------------------------------------------------------
    void tokenize(const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const TokenizeRequest t = parse_tokenize_request(parse_json_body(req.body, o.max_body_bytes));
        const Tokenizer& tok = target->tokenizer();
        const std::vector<TokenId> ids = tok.encode(t.content, t.add_special && tok.add_bos_default(), true);
        json out = json::array();
        for (TokenId id : ids) {
            if (t.with_pieces)
                out.push_back({{"id", id}, {"piece", tok.token_bytes(id)}});
            else
                out.push_back(id);
        }
        send_json(res, {{"tokens", out}});
    }

    void detokenize(const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const DetokenizeRequest d = parse_detokenize_request(parse_json_body(req.body, o.max_body_bytes));
        const Tokenizer& tok = target->tokenizer();
        std::vector<TokenId> ids(d.tokens.begin(), d.tokens.end());
        for (size_t i = 0; i < ids.size(); ++i)
            if (ids[i] >= tok.n_vocab())
                throw ApiError(400, fmt::format("tokens[{}] = {} is out of range (vocabulary of {})", i, ids[i], tok.n_vocab()),
                               "invalid_request_error", "tokens");
        send_json(res, {{"content", tok.decode(ids)}});
    }

    void models(httplib::Response& res) {
        require_ready();
        const ModelConfig& c = target->config();
        send_json(res, {{"object", "list"},
                        {"data", json::array({{{"id", model_name()},
                                               {"object", "model"},
                                               {"created", created},
                                               {"owned_by", "hsd"},
                                               {"meta",
                                                {{"n_vocab", c.n_vocab},
                                                 {"n_ctx_train", c.n_ctx_train},
                                                 {"n_embd", c.n_embd},
                                                 {"n_layer", c.n_layer},
                                                 {"path", o.model}}}}})}});
    }

    json generation_settings() const {
        const SamplingParams& s = o.sampling;
        return {{"n_ctx", sched ? sched->n_ctx() : o.n_ctx},
                {"n_predict", o.n_predict},
                {"temperature", json_float(s.temperature)},
                {"top_k", s.top_k},
                {"top_p", json_float(s.top_p)},
                {"min_p", json_float(s.min_p)},
                {"speculative", o.decoding.speculative()}};
    }

    void props(httplib::Response& res) {
        require_ready();
        send_json(res, {{"default_generation_settings", generation_settings()},
                        {"total_slots", o.n_slots},
                        {"model_path", o.model},
                        {"model_alias", model_name()},
                        {"chat_template", chat_template},
                        {"chat_format", chat_format_name(chat_format)},
                        {"chat_format_source", chat_format_source},
                        {"build_info", "hsd 0.1.0"}});
    }

    void slots(httplib::Response& res) {
        require_ready();
        json out = json::array();
        for (const SlotInfo& s : sched->slots())
            out.push_back({{"id", s.id},
                           {"n_ctx", s.n_ctx},
                           {"is_processing", s.busy},
                           {"state", s.busy ? 1 : 0},
                           {"n_prompt_tokens", s.n_prompt},
                           {"n_decoded", s.n_decoded},
                           {"speculative", !s.hierarchy.empty()},
                           {"hierarchy", s.hierarchy}});
        send_json(res, out);
    }

    void metrics(httplib::Response& res) {
        require_ready();
        res.set_content(metrics_text(sched->metrics(), sched->slots()), MetricsText::kContentType);
    }
};

Server::Server(Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options), ready_)) {
    Impl& s = *impl_;
    httplib::Server& h = s.http;
    const int threads = s.o.http_threads > 0 ? s.o.http_threads : std::min(256, s.o.n_slots + s.o.queue_max + 8);
    h.new_task_queue = [threads] { return new httplib::ThreadPool((size_t)threads); };
    h.set_payload_max_length(s.o.max_body_bytes);
    h.set_read_timeout(60, 0);
    h.set_write_timeout(60, 0);

    // Every request: authorization first (a bad key learns nothing else), CORS headers.
    h.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Access-Control-Allow-Origin", "*");
        if (req.method == "OPTIONS") {
            res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
            res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            res.status = 204;
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!s.authorized(req)) {
            send_json(res, ApiError(401, "Invalid API key: send 'Authorization: Bearer <key>'", "authentication_error", "",
                                    "invalid_api_key")
                               .to_json(),
                      401);
            res.set_header("WWW-Authenticate", "Bearer");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Errors from handlers become OpenAI error objects; the server keeps serving.
    h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
            std::rethrow_exception(ep);
        } catch (const ApiError& e) {
            send_error(res, e);
        } catch (const Error& e) {
            send_error(res, ApiError(400, e.what()));
        } catch (const std::exception& e) {
            send_error(res, ApiError(500, fmt::format("internal error: {}", e.what()), "server_error"));
        } catch (...) {
            send_error(res, ApiError(500, "internal error", "server_error"));
        }
    });
    // Statuses httplib sets itself (404 unknown path, 413 body too large, 400 bad request).
    h.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;  // a handler already answered
        if (res.status == 404)
            send_error(res, ApiError(404, fmt::format("unknown endpoint: {} {}", req.method, req.path), "not_found_error"));
        else if (res.status == 413 &&
                 req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0)
            // cpp-httplib (0.11, as packaged) caps form-encoded bodies at 8 KiB before any handler
            // runs; curl -d sends that type unless told otherwise.
            send_error(res, ApiError(413,
                                     "form-encoded request bodies are limited to 8192 bytes: send the JSON with "
                                     "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')",
                                     "invalid_request_error"));
        else if (res.status == 413)
            send_error(res, ApiError(413, "the request body is larger than the server's limit (--max-body)",
                                     "invalid_request_error"));
        else
            send_error(res, ApiError(res.status, fmt::format("HTTP {}", res.status), "invalid_request_error"));
    });

    auto wrap = [&s](auto fn) {
        return [&s, fn](const httplib::Request& req, httplib::Response& res) { fn(s, req, res); };
    };
    h.Get("/health", [&s](const httplib::Request&, httplib::Response& res) {
        if (s.stopping)
            send_json(res, {{"error", {{"code", 503}, {"message", "shutting down"}, {"type", "unavailable_error"}}}}, 503);
        else if (!s.ready)
            send_json(res, {{"error", {{"code", 503}, {"message", "Loading model"}, {"type", "unavailable_error"}}}}, 503);
        else
            send_json(res, {{"status", "ok"}});
    });
    h.Get("/v1/models", wrap([](Impl& s, const auto&, auto& res) { s.models(res); }));
    h.Get("/models", wrap([](Impl& s, const auto&, auto& res) { s.models(res); }));
    h.Post("/v1/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Endpoint::Completions); }));
    h.Post("/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Endpoint::Completions); }));
    h.Post("/v1/chat/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Endpoint::Chat); }));
    h.Post("/chat/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Endpoint::Chat); }));
    h.Post("/completion", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Endpoint::Native); }));
    h.Post("/tokenize", wrap([](Impl& s, const auto& req, auto& res) { s.tokenize(req, res); }));
    h.Post("/detokenize", wrap([](Impl& s, const auto& req, auto& res) { s.detokenize(req, res); }));
    h.Get("/props", wrap([](Impl& s, const auto&, auto& res) { s.props(res); }));
    h.Get("/slots", wrap([](Impl& s, const auto&, auto& res) { s.slots(res); }));
    if (s.o.metrics) h.Get("/metrics", wrap([](Impl& s, const auto&, auto& res) { s.metrics(res); }));

    // A known path with the wrong method: 405 naming the allowed one.
    const std::vector<std::pair<std::string, std::string>> paths = {
        {"/health", "GET"},     {"/v1/models", "GET"},  {"/models", "GET"},         {"/v1/completions", "POST"},
        {"/completions", "POST"}, {"/v1/chat/completions", "POST"}, {"/chat/completions", "POST"},
        {"/completion", "POST"}, {"/tokenize", "POST"}, {"/detokenize", "POST"},   {"/props", "GET"},
        {"/slots", "GET"},      {"/metrics", "GET"}};
    for (const auto& [path, allowed] : paths) {
        if (path == "/metrics" && !s.o.metrics) continue;
        auto not_allowed = [allowed = allowed](const httplib::Request& req, httplib::Response& res) {
            res.set_header("Allow", allowed);
            send_error(res, ApiError(405, fmt::format("{} {} is not supported (use {})", req.method, req.path, allowed),
                                     "invalid_request_error"));
        };
        if (allowed == "GET") {
            h.Post(path, not_allowed);
        } else {
            h.Get(path, not_allowed);
        }
        h.Put(path, not_allowed);
        h.Delete(path, not_allowed);
        h.Patch(path, not_allowed);
    }
}

Server::~Server() {
    stop();
}

int Server::bind() {
    Impl& s = *impl_;
    if (s.o.port < 0 || s.o.port > 65535) fail(fmt::format("--port {} is out of range (0..65535)", s.o.port));
    int port = s.o.port;
    if (port == 0)
        port = s.http.bind_to_any_port(s.o.host.c_str());
    else if (!s.http.bind_to_port(s.o.host.c_str(), port))
        port = -1;
    if (port <= 0) fail(fmt::format("cannot listen on {}:{} (address in use, or not an address of this machine)", s.o.host, s.o.port));
    return port;
}

void Server::load() { impl_->load(); }

void Server::listen() {
    impl_->listening = true;
    if (!impl_->stopping) impl_->http.listen_after_bind();
}

void Server::stop() {
    if (impl_) impl_->stop();
}

}  // namespace hsd::server
