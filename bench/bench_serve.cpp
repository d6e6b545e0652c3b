// Server throughput and latency: `hsd serve` in-process on a loopback port, driven by 1, 2, 4
// and 8 concurrent HTTP clients (cpp-httplib) sending HumanEval prompts to /v1/completions,
// per decoding mode (the request's "speculative": "off" or a hierarchy). Prints, per mode and
// client count, the aggregate generated tokens/s, its ratio to 1 client, and the p50 / p95
// request latency, all measured in this run; writes the figures as JSON (--out).
//
//   bench_serve --target hsd-target.gguf --drafts hsd-m0.gguf,hsd-m1.gguf
//               --prompts HumanEval.jsonl.gz --modes "off;hsd-m1:5" --clients 1,2,4,8
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <mutex>
#include <thread>

#include "common/strings.h"
#include "engine/engine.h"
#include "kernels/matmul.h"
#include "prompts/prompt_set.h"
#include "server/http_server.h"

using nlohmann::json;

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double idx = p * (double)(v.size() - 1);
    const size_t lo = (size_t)idx;
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (idx - (double)lo);
}

// hsd:batch_* counters from GET /metrics.
std::map<std::string, double> batch_counters(int port) {
    httplib::Client cli("127.0.0.1", port);
    std::map<std::string, double> out;
    auto res = cli.Get("/metrics");
    if (!res) return out;
    std::istringstream in(res->body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("hsd:batch_", 0) == 0) {
            const size_t sp = line.find(' ');
            out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
        }
    return out;
}

struct RunResult {
    int clients = 0;
    int requests = 0;
    int64_t tokens = 0;
    double seconds = 0;
    std::vector<double> latencies;
    int failures = 0;
    double rounds = 0, segments = 0, rows = 0, round_seconds = 0;
};

RunResult run(int port, const std::vector<hsd::Prompt>& prompts, int n_requests, int clients, int n_predict,
              const std::string& mode) {
    RunResult r;
    r.clients = clients;
    r.requests = n_requests;
    std::atomic<int> next{0};
    std::mutex m;
    const auto before = batch_counters(port);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
            httplib::Client cli("127.0.0.1", port);
            cli.set_read_timeout(600, 0);
            for (int i; (i = next++) < n_requests;) {
                const json body = {{"prompt", prompts[(size_t)i % prompts.size()].text},
                                   {"max_tokens", n_predict},
                                   {"temperature", 0},
                                   {"ignore_eos", true},
                                   {"speculative", mode}};
                const auto s0 = std::chrono::steady_clock::now();
                auto res = cli.Post("/v1/completions", body.dump(), "application/json");
                const double lat = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
                std::lock_guard<std::mutex> lock(m);
                if (!res || res->status != 200) {
                    ++r.failures;
                    continue;
                }
                r.tokens += json::parse(res->body)["usage"]["completion_tokens"].get<int64_t>();
                r.latencies.push_back(lat);
            }
        });
    for (auto& t : threads) t.join();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto after = batch_counters(port);
    auto delta = [&](const char* k) { return after[k] - (before.count(k) ? before.at(k) : 0.0); };
    r.rounds = delta("hsd:batch_rounds_total");
    r.segments = delta("hsd:batch_segments_total");
    r.rows = delta("hsd:batch_rows_total");
    r.round_seconds = delta("hsd:batch_seconds_total");
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hsd server benchmark: aggregate tokens/s and latency vs concurrent clients"};
    std::string target, drafts, prompts_path, modes_text = "off", clients_text = "1,2,4,8", out;
    int n_prompts = 16, n_predict = 128, requests = 16, threads = 0;
    app.add_option("--target", target, "Target GGUF")->required();
    app.add_option("--drafts", drafts, "Draft models the modes may name (comma-separated)");
    app.add_option("--prompts", prompts_path, "Prompt set (HumanEval.jsonl.gz, ...)")->required();
    app.add_option("--n-prompts", n_prompts, "Prompts used")->capture_default_str();
    app.add_option("--requests", requests, "Requests per configuration")->capture_default_str();
    app.add_option("--n-predict", n_predict, "Tokens per request (EOS ignored)")->capture_default_str();
    app.add_option("--modes", modes_text, "Request 'speculative' values: off, hierarchy texts (';'-separated)")
        ->capture_default_str();
    app.add_option("--clients", clients_text, "Concurrent clients per run")->capture_default_str();
    app.add_option("-t,--threads", threads, "Engine threads (0 = all cores)")->capture_default_str();
    app.add_option("--out", out, "Write the results as JSON");
    CLI11_PARSE(app, argc, argv);
    try {
        std::vector<int> clients;
        for (const std::string& c : hsd::split_list(clients_text)) clients.push_back(std::stoi(c));
        const std::vector<std::string> modes = hsd::split_list(modes_text, ';');
        const int max_clients = *std::max_element(clients.begin(), clients.end());
        const std::vector<hsd::Prompt> prompts = hsd::load_prompts(prompts_path, (size_t)n_prompts);

        hsd::set_matmul_blas_threshold(0);  // as hsd serve: batch-invariant kernels only
        hsd::Engine engine({.threads = threads});
        hsd::server::ServerOptions o;
        o.model = target;
        o.drafts = hsd::split_list(drafts);
        o.n_slots = max_clients;
        o.port = 0;
        o.n_ctx = 1024;
        o.metrics = true;
        hsd::server::Server srv(engine, o);
        const int port = srv.bind();
        std::thread http([&] { srv.listen(); });
        srv.load();

        // Warm-up: page in every model and each slot's buffers once.
        for (const std::string& mode : modes) run(port, prompts, max_clients, max_clients, 16, mode);

        json results = json::array();
        fmt::print("{:<22} {:>7} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}\n", "mode", "clients", "tokens/s", "vs 1",
                   "p50 s", "p95 s", "rows/round", "ms/round", "busy");
        for (const std::string& mode : modes) {
            double base = 0;
            for (int c : clients) {
                const RunResult r = run(port, prompts, std::max(requests, c), c, n_predict, mode);
                const double tps = r.seconds > 0 ? (double)r.tokens / r.seconds : 0;
                if (c == clients.front()) base = tps;
                const double p50 = percentile(r.latencies, 0.5), p95 = percentile(r.latencies, 0.95);
                fmt::print("{:<22} {:>7} {:>10.1f} {:>8.2f}x {:>9.3f} {:>9.3f} {:>10.2f} {:>10.3f} {:>7.0f}%{}\n", mode, c,
                           tps, base > 0 ? tps / base : 0, p50, p95, r.rounds > 0 ? r.rows / r.rounds : 0,
                           r.rounds > 0 ? 1e3 * r.round_seconds / r.rounds : 0, 100 * r.round_seconds / r.seconds,
                           r.failures ? fmt::format("  ({} FAILED)", r.failures) : "");
                results.push_back({{"mode", mode},
                                   {"clients", c},
                                   {"requests", r.requests},
                                   {"failures", r.failures},
                                   {"tokens", r.tokens},
                                   {"seconds", r.seconds},
                                   {"tokens_per_second", tps},
                                   {"ratio_to_first", base > 0 ? tps / base : 0},
                                   {"p50_latency_s", p50},
                                   {"p95_latency_s", p95},
                                   {"batch_rounds", r.rounds},
                                   {"batch_rows_per_round", r.rounds > 0 ? r.rows / r.rounds : 0},
                                   {"batch_segments_per_round", r.rounds > 0 ? r.segments / r.rounds : 0},
                                   {"batch_busy_fraction", r.seconds > 0 ? r.round_seconds / r.seconds : 0}});
            }
        }
        srv.stop();
        http.join();
        if (!out.empty()) {
            std::ofstream f(out);
            f << json({{"target", target},
                       {"prompts", prompts_path},
                       {"n_predict", n_predict},
                       {"threads", engine.threads()},
                       {"results", results}})
                     .dump(2)
                << "\n";
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
    return 0;
}
