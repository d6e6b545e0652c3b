// `hsd serve -m TARGET.gguf [decoding flags as hsd generate] [-np N] [-c CTX] [--host H]
// [--port P] [--api-key KEY] [--chat-template NAME] [--metrics]`: an OpenAI-compatible HTTP
// server (flag names as llama-server's). SIGINT / SIGTERM stop it cleanly (exit 0).
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <cerrno>
#include <unistd.h>
#include <thread>

#include "cli/commands.h"
#include "common/error.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "kernels/matmul.h"
#include "server/chat_format.h"
#include "server/http_server.h"

namespace hsd::cli {

namespace {

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
    const int saved = errno;
    if (write(g_signal_pipe[1], &sig, sizeof sig) < 0) {
    }
    errno = saved;
}

struct ServeOptions {
    server::ServerOptions s;
    std::string drafts, api_key_file;
    int threads = 0;
    bool no_repack = false;
};

void run_serve(ServeOptions o) {
    o.s.drafts = split_list(o.drafts);
    if (o.s.decoding.is_auto()) o.s.decoding.auto_drafts = o.s.drafts;
    if (!o.api_key_file.empty()) {
        if (!o.s.api_key.empty()) fail("give --api-key or --api-key-file, not both");
        std::ifstream in(o.api_key_file);
        if (!in || !std::getline(in, o.s.api_key) || o.s.api_key.empty())
            fail(fmt::format("cannot read an API key from the first line of '{}'", o.api_key_file));
    }
    if (!o.s.chat_template.empty()) server::chat_format_from_name(o.s.chat_template);  // fail before loading
    o.s.decoding.validate();
    o.s.sampling.validate();
    // Batch-invariant kernels only: OpenBLAS sgemm (F32/BF16 weights, large batches) rounds
    // differently with the number of rows, and a fused batch's rows depend on the other requests.
    set_matmul_blas_threshold(0);

    // SIGINT / SIGTERM: the handler only writes the signal number to a pipe (async-signal-safe);
    // a thread reads it and stops the server. (Blocking the signals and sigwait()ing is not
    // enough: libraries start threads before main, e.g. OpenBLAS, and the kernel may deliver
    // the signal to one of them.) A second signal ends the process at once.
    if (pipe(g_signal_pipe) != 0) fail("cannot create the signal pipe");
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    Model::set_repack_default(!o.no_repack);
    Engine engine({.threads = o.threads});
    server::Server srv(engine, o.s);
    const int port = srv.bind();
    std::thread http([&] { srv.listen(); });
    std::thread signals([&] {
        int sig = 0;
        while (read(g_signal_pipe[0], &sig, sizeof sig) < 0 && errno == EINTR) {
        }
        if (sig == 0) return;  // the pipe closed: the server stopped for another reason
        fmt::print(stderr, "hsd serve: {} received, shutting down (in-flight requests get up to {} ms)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", o.s.shutdown_grace_ms);
        srv.stop();
    });
    auto close_signals = [&] {
        const int none = 0;
        if (write(g_signal_pipe[1], &none, sizeof none) < 0) {
        }
        signals.join();
    };
    fmt::print(stderr, "hsd serve: listening on http://{}:{} (loading {})\n", o.s.host, port, o.s.model);
    try {
        srv.load();
    } catch (...) {
        srv.stop();
        http.join();
        close_signals();
        throw;
    }
    fmt::print(stderr, "hsd serve: ready on http://{}:{}, {} slot(s), {} threads{}\n", o.s.host, port, o.s.n_slots,
               engine.threads(), o.s.decoding.speculative() ? ", speculative" : "");
    http.join();
    close_signals();
    fmt::print(stderr, "hsd serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
    static ServeOptions o;
    auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
    cmd->add_option("-m,--model", o.s.model, "GGUF model (target)")->required();
    cmd->add_option("-a,--alias", o.s.alias, "Model name in the API (default: the file's stem)");
    cmd->add_option("--parallel", o.s.n_slots, "Slots: requests decoded at once, batched together (also -np)")
        ->capture_default_str();
    cmd->add_option("-c,--ctx-size", o.s.n_ctx, "Context size per slot in tokens (0 = the model's)")->capture_default_str();
    cmd->add_option("-t,--threads", o.threads, "Threads (0 = all cores)")->capture_default_str();
    cmd->add_flag("--no-repack", o.no_repack,
                  "Keep weights in the file's layout instead of repacking them at load: faster load, slower "
                  "decode and verification (docs/ARCHITECTURE.md, \"Repacked quantized weights\")");
    cmd->add_option("-n,--n-predict", o.s.n_predict, "Default max tokens (-1 = until EOS or the context's end)")
        ->capture_default_str();
    cmd->add_option("--ubatch-size", o.s.chunk_tokens,
                    "Most rows of one request per batched pass: longer prompts are processed in chunks between "
                    "the other requests' steps (also -ub)")
        ->capture_default_str();
    cmd->add_option("--queue", o.s.queue_max, "Requests waiting for a slot before new ones get 503")->capture_default_str();
    add_sampling_options(cmd, o.s.sampling);
    cmd->add_option("-s,--seed", o.s.seed, "Seed for requests without one (-1 = random per request)")->capture_default_str();
    add_decoding_options(cmd, o.s.decoding, o.drafts);
    cmd->add_option("--host", o.s.host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", o.s.port, "Port (0 = any free port)")->capture_default_str();
    cmd->add_option("--api-key", o.s.api_key, "Require 'Authorization: Bearer KEY' on every endpoint but /health");
    cmd->add_option("--api-key-file", o.api_key_file, "Read the API key from the first line of a file");
    cmd->add_option("--chat-template", o.s.chat_template,
                    "Chat format instead of the one recognised from tokenizer.chat_template: " +
                        [] {
                            std::string names;
                            for (const std::string& n : server::chat_format_names()) names += (names.empty() ? "" : ", ") + n;
                            return names;
                        }());
    cmd->add_flag("--metrics", o.s.metrics, "Serve Prometheus metrics at GET /metrics");
    cmd->add_option("--shutdown-grace", o.s.shutdown_grace_ms,
                    "On SIGINT/SIGTERM, milliseconds in-flight requests may take to finish before they are cancelled")
        ->capture_default_str();
    cmd->add_option("--max-body", o.s.max_body_bytes, "Largest request body in bytes")->capture_default_str();
    cmd->callback([] { run_serve(o); });
}

}  // namespace hsd::cli
