// Routes of `hsd serve`, read top to bottom: lifecycle, the guards every request passes
// (readiness, API key, body limit), then one handler per endpoint. Generation requests all go
// the same way: parse and validate the body (api_request.h), turn it into a TaskSpec
// (task_builder.h), submit it to the Scheduler, then answer in one JSON object or stream
// server-sent events as the slot releases text (responses.h shapes every body).
#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>
#include <fmt/format.h>

#include "common/error.h"
#include "server/api_request.h"
#include "server/prometheus.h"
#include "server/responses.h"
#include "server/scheduler.h"
#include "server/speculative_choice.h"
#include "server/task_builder.h"

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

}  // namespace

struct Server::Impl {
    Engine& engine;
    ServerOptions o;
    std::atomic<bool>& ready;
    httplib::Server http;
    std::unique_ptr<Scheduler> sched;
    const Model* target = nullptr;
    ChatFormat chat_format = ChatFormat::ChatML;
    TaskPolicy policy;  // what decides each request's task (set by load())
    ServerInfo info;    // what /v1/models and /props tell (set by load())
    std::atomic<uint64_t> next_id{1};
    std::atomic<bool> stopping{false};
    std::atomic<bool> listening{false};
    std::once_flag stop_once;

    Impl(Engine& e, ServerOptions opt, std::atomic<bool>& r) : engine(e), o(std::move(opt)), ready(r) {}

    // ---- lifecycle ------------------------------------------------------------------
    void load() {
        target = &engine.model(o.model);
        std::vector<std::string> models = models_named(o.decoding);
        models.insert(models.end(), o.drafts.begin(), o.drafts.end());
        std::vector<std::string> allowed_models;
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
        const std::string tmpl = f.find("tokenizer.chat_template") ? f.get_string("tokenizer.chat_template") : "";
        std::string chat_format_source;
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
        policy.n_ctx = sched->n_ctx();
        policy.n_vocab = target->config().n_vocab;
        policy.n_predict = o.n_predict;
        policy.sampling = o.sampling;
        policy.seed = o.seed;
        policy.decoding = o.decoding;
        policy.allowed_models = std::move(allowed_models);
        policy.drafts = o.drafts;
        info.model_name = served_model_name(o.model, o.alias);
        info.model_path = o.model;
        info.created = (int64_t)std::time(nullptr);
        info.config = target->config();
        info.total_slots = o.n_slots;
        info.n_ctx = sched->n_ctx();
        info.n_predict = o.n_predict;
        info.sampling = o.sampling;
        info.speculative = o.decoding.speculative();
        info.chat_template = tmpl;
        info.chat_format = chat_format_name(chat_format);
        info.chat_format_source = chat_format_source;
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

    json body_of(const httplib::Request& req) const { return parse_json_body(req.body, o.max_body_bytes); }

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
    void generate(const httplib::Request& req, httplib::Response& res, Api api) {
        require_ready();
        const json body = body_of(req);
        const Tokenizer& tok = target->tokenizer();
        GenerationParams g;
        PromptTokens prompt;
        bool echo = false;
        if (api == Api::Chat) {
            ChatRequest c = parse_chat_request(body);
            prompt = chat_prompt(c, chat_format, tok);
            g = std::move(c);
        } else {
            NativeCompletionRequest n;
            if (api == Api::Native)
                n = parse_native_completion_request(body);
            else
                static_cast<CompletionRequest&>(n) = parse_completion_request(body);
            prompt = completion_prompt(n, tok);
            echo = n.echo;
            g = std::move(n);
        }
        ResponseContext rc;
        rc.id = response_id(api, next_id++);
        rc.model = info.model_name;
        rc.created = (int64_t)std::time(nullptr);
        rc.tokenizer = &tok;
        rc.prompt_text = echo ? prompt.text : "";
        check_model(g.model, o.model, o.alias);
        TaskSpec spec = build_task(g, std::move(prompt), policy);
        rc.n_probs = spec.n_probs;
        rc.include_usage = g.include_usage;
        std::shared_ptr<Task> task = submit(std::move(spec));

        if (!g.stream) {
            Task::Update u;
            while (!task->wait(u, std::chrono::milliseconds(1000))) {
            }
            if (const auto& err = task->error()) throw ApiError(err->first, err->second);
            return send_json(res, generation_response(api, rc, task->result(), u.tokens, task->spec()));
        }
        // Streaming: one event per release of text; the provider runs on this HTTP thread.
        res.set_header("Cache-Control", "no-cache");
        auto started = std::make_shared<bool>(false);
        res.set_chunked_content_provider(
            "text/event-stream",
            [task, rc, api, started](size_t, httplib::DataSink& sink) {
                auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
                if (!*started) {
                    *started = true;
                    const std::string first = stream_start(api, rc);
                    if (!first.empty() && !write(first)) return cancel(task);
                }
                Task::Update u;
                const bool final = task->wait(u, kPoll);
                if (!u.text.empty() || !u.tokens.empty()) {
                    if (!write(stream_chunk(api, rc, u.text, u.tokens))) return cancel(task);
                } else if (!final && !sink.is_writable()) {
                    return cancel(task);
                }
                if (!final) return true;
                if (const auto& err = task->error())
                    write(stream_error(api, ApiError(err->first, err->second)));
                else
                    write(stream_end(api, rc, task->result(), task->spec()));
                sink.done();
                return true;
            },
            [task](bool success) {
                if (!success) task->cancel();
            });
    }

    static bool cancel(const std::shared_ptr<Task>& t) {
        t->cancel();
        return false;
    }

    // ---- other endpoints ----------------------------------------------------------------
    void tokenize(const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const TokenizeRequest t = parse_tokenize_request(body_of(req));
        const Tokenizer& tok = target->tokenizer();
        send_json(res, tokenize_response(tok, tokenize_ids(t, tok), t.with_pieces));
    }

    void detokenize(const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const DetokenizeRequest d = parse_detokenize_request(body_of(req));
        const Tokenizer& tok = target->tokenizer();
        send_json(res, detokenize_response(tok.decode(detokenize_ids(d, tok.n_vocab()))));
    }

    void models(httplib::Response& res) {
        require_ready();
        send_json(res, models_response(info));
    }

    void props(httplib::Response& res) {
        require_ready();
        send_json(res, props_response(info));
    }

    void slots(httplib::Response& res) {
        require_ready();
        send_json(res, slots_response(sched->slots()));
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
            send_error(res, ApiError(401, "Invalid API key: send 'Authorization: Bearer <key>'", "authentication_error",
                                     "", "invalid_api_key"));
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
        const HealthAnswer a = health_response(s.ready, s.stopping);
        send_json(res, a.body, a.status);
    });
    h.Get("/v1/models", wrap([](Impl& s, const auto&, auto& res) { s.models(res); }));
    h.Get("/models", wrap([](Impl& s, const auto&, auto& res) { s.models(res); }));
    h.Post("/v1/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Api::Completions); }));
    h.Post("/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Api::Completions); }));
    h.Post("/v1/chat/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Api::Chat); }));
    h.Post("/chat/completions", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Api::Chat); }));
    h.Post("/completion", wrap([](Impl& s, const auto& req, auto& res) { s.generate(req, res, Api::Native); }));
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
