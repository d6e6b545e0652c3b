// bench_forward: decode speed and batched-forward cost of each model, against the roofline
// (weight bytes streamed per forward / memory read bandwidth measured in this same run).
//
//   bench_forward [--models a.gguf,b.gguf] [--threads N] [--context 256] [--decode 128]
//                 [--reps 15] [--activations int8|f32] [--no-repack] [--json-out results.json]
// --no-repack keeps every matrix in the file's layout (Model::load's repack = false), to
// measure what the load-time repacking gives.
// --activations picks how quantized weights meet activations (kernels/matmul.h); default: the
// engine's default.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/stats.h"
#include "common/strings.h"
#include "common/timer.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "machine_limits.h"
#include "model/context.h"
#include "model/model.h"
#include "tokenizer/synthetic_tokens.h"

using namespace hsd;

namespace {
// VmRSS of this process, bytes.
double resident_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024;
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    std::string shared = "../shared";
    std::string models_arg, json_out;
    int threads = ThreadPool::default_threads(), context = 256, decode = 128, reps = 15;
    bool repack = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) { fmt::print(stderr, "{} needs a value\n", a); std::exit(2); }
            return argv[++i];
        };
        if (a == "--models") models_arg = next();
        else if (a == "--shared") shared = next();
        else if (a == "--threads") threads = std::stoi(next());
        else if (a == "--context") context = std::stoi(next());
        else if (a == "--decode") decode = std::stoi(next());
        else if (a == "--reps") reps = std::stoi(next());
        else if (a == "--json-out") json_out = next();
        else if (a == "--no-repack") repack = false;
        else if (a == "--activations") {
            const std::string v = next();
            if (v != "int8" && v != "f32") { fmt::print(stderr, "--activations must be int8 or f32\n"); return 2; }
            set_quant_activations(v == "int8" ? QuantActivations::Int8 : QuantActivations::F32);
        }
        else { fmt::print(stderr, "unknown option {}\n", a); return 2; }
    }
    std::vector<std::string> models = split_list(models_arg);
    if (models.empty())
        for (const char* m : {"hsd-m0", "hsd-m1", "hsd-m2", "hsd-ee-small", "hsd-target"})
            models.push_back(shared + "/models/" + m + ".gguf");

    try {
        ThreadPool pool(threads);
        const double bw0 = measure_read_bandwidth(pool);
        const double fma = measure_fma_peak(pool);
        fmt::print("memory read bandwidth: {:.2f} GB/s, peak F32 multiply-add: {:.1f} G/s ({} threads)\n", bw0 / 1e9,
                   fma / 1e9, pool.size());
        fmt::print("n=k columns: median ms of one forward of k tokens after {} context tokens, (ratio to n=1),\n"
                   "[fraction of the floor max(weight bytes / bandwidth, k * weight MACs / peak FMA)]\n\n",
                   context);
        nlohmann::json out;
        out["threads"] = pool.size();
        out["bandwidth_gb_s"] = bw0 / 1e9;
        out["fma_peak_g_per_s"] = fma / 1e9;
        out["context"] = context;
        out["blas_threshold"] = matmul_blas_threshold();
        out["quant_activations"] = quant_activations() == QuantActivations::Int8 ? "int8" : "f32";
        const std::vector<int> batch_sizes = {1, 2, 4, 8, 16};
        const std::vector<int> prefill_sizes = {16, 32, 64, 256};

        fmt::print("{:<20} {:>10} {:>10} {:>10} {:>9} |", "model", "MB/fwd", "roof t/s", "decode t/s", "of roof");
        for (int n : batch_sizes) fmt::print(" {:>19}", fmt::format("n={}", n));
        fmt::print("\n");

        for (const std::string& path : models) {
            const double rss_before = resident_bytes();
            const double load_start = now_seconds();
            auto model = Model::load(path, repack);
            const double load_s = now_seconds() - load_start;
            const double rss_after_load = resident_bytes() - rss_before;  // what loading added
            const ModelConfig& c = model->config();
            // Ordinary text tokens for timing (the same ones each time: a shorter block is a prefix).
            auto filler = [&](int n) { return synthetic_tokens(model->tokenizer(), n, 12345); };
            Context ctx(*model, pool);
            const double bytes = (double)model->weight_bytes(0, c.n_layer, true);
            // The machine may be shared (a VM's bandwidth moved 26-74 GB/s between runs here):
            // each model's roofline uses the bandwidth measured right before its rows.
            const double bw = measure_read_bandwidth(pool, 0.5);
            const double roof_tps = bw / bytes;

            // Autoregressive decode after a short prompt (greedy, argmax of the logits):
            // the median of 3 runs.
            std::vector<double> decode_runs;
            for (int run = 0; run < 3; ++run) {
                ctx.truncate(0);
                const float* logits = ctx.eval(filler(16), false);
                const double t0 = now_seconds();
                for (int i = 0; i < decode; ++i) {
                    const TokenId tok = (TokenId)(std::max_element(logits, logits + c.n_vocab) - logits);
                    logits = ctx.eval(&tok, 1, false);
                }
                decode_runs.push_back(decode / (now_seconds() - t0));
            }
            const double decode_tps = median(decode_runs);

            // One forward of n new tokens after `context` tokens, rolled back each time. The
            // batch sizes take turns within each repetition, so a change in the machine's load
            // (shared VM) shifts all of them alike and the ratios stay fair.
            ctx.truncate(0);
            ctx.eval(filler(context), false);
            nlohmann::json batches = nlohmann::json::array();
            std::vector<std::vector<double>> times(batch_sizes.size());
            for (int r = 0; r < reps + 2; ++r)
                for (size_t i = 0; i < batch_sizes.size(); ++i) {
                    const auto block = filler(batch_sizes[i]);
                    const double s = now_seconds();
                    ctx.eval(block, true);
                    const double dt = now_seconds() - s;
                    ctx.truncate(context);
                    if (r >= 2) times[i].push_back(dt);  // first two warm up
                }
            std::vector<double> ms;
            for (auto& t : times) ms.push_back(median(t) * 1e3);
            // Prefill of a fresh context: the loaded model's kernels vs the same weights in the
            // file's layout (F16 / BF16: OpenBLAS sgemm on decoded F32 panels; quantized: the
            // int8 kernel on the file's blocks).
            nlohmann::json prefill = nlohmann::json::array();
            std::string prefill_line = "  prefill tokens/s (as loaded / file layout, OpenBLAS for float types):";
            auto unpacked = Model::load(path, false);
            Context uctx(*unpacked, pool);
            const int64_t saved_threshold = matmul_blas_threshold();
            for (int n : prefill_sizes) {
                const auto block = filler(n);
                auto best_of = [&](Context& cx) {
                    double best = 1e9;
                    for (int r = 0; r < 3; ++r) {
                        cx.truncate(0);
                        const double s = now_seconds();
                        cx.eval(block, false);
                        best = std::min(best, now_seconds() - s);
                    }
                    return n / best;
                };
                const double own = best_of(ctx);
                double blas = 0;
                if (saved_threshold > 0) {
                    set_matmul_blas_threshold(1);
                    blas = best_of(uctx);
                    set_matmul_blas_threshold(saved_threshold);
                }
                prefill.push_back({{"n", n}, {"packed_kernel_tokens_per_s", own}, {"blas_tokens_per_s", blas}});
                prefill_line += fmt::format("  n={}: {:.0f} / {:.0f}", n, own, blas);
            }

            // The file's stem names the row: quantized copies share general.name.
            const std::string stem = std::filesystem::path(path).stem().string();
            fmt::print("{:<20} {:>10.2f} {:>10.1f} {:>10.1f} {:>8.0f}% |", stem, bytes / 1e6, roof_tps, decode_tps,
                       100.0 * decode_tps / roof_tps);
            // Multiply-adds per token of the matrix products (2 bytes per F16 weight is not
            // assumed: count elements from the views).
            const double macs = (double)model->weight_elements(0, c.n_layer, true);
            auto floor_ms = [&](int n) { return std::max(bytes / bw, n * macs / fma) * 1e3; };
            for (size_t i = 0; i < ms.size(); ++i)
                fmt::print(" {:>6.2f}({:4.2f})[{:3.0f}%]", ms[i], ms[i] / ms[0], 100.0 * floor_ms(batch_sizes[i]) / ms[i]);
            fmt::print("\n{}\n  load {:.2f} s, resident memory added by the load {:.0f} MB (file {:.0f} MB), read bandwidth next to "
                       "these rows {:.1f} GB/s\n",
                       prefill_line, load_s, rss_after_load / 1e6, (double)std::filesystem::file_size(path) / 1e6,
                       bw / 1e9);
            for (size_t i = 0; i < ms.size(); ++i)
                batches.push_back({{"n", batch_sizes[i]},
                                   {"ms", ms[i]},
                                   {"ratio_to_n1", ms[i] / ms[0]},
                                   {"fraction_of_roofline", (bytes / bw * 1e3) / ms[i]},
                                   {"floor_ms", floor_ms(batch_sizes[i])},
                                   {"fraction_of_floor", floor_ms(batch_sizes[i]) / ms[i]}});
            out["models"].push_back({{"name", c.name}, {"stem", stem}, {"bandwidth_gb_s", bw / 1e9},
                                     {"file", path},
                                     {"weight_bytes_per_forward", bytes},
                                     {"roofline_tokens_per_s", roof_tps},
                                     {"decode_tokens_per_s", decode_tps},
                                     {"decode_fraction_of_roofline", decode_tps / roof_tps},
                                     {"forward_after_context", batches},
                                     {"prefill", prefill},
                                     {"load_seconds", load_s},
                                     {"resident_bytes_added_by_load", rss_after_load},
                                     {"repacked", repack}});
        }
        if (!json_out.empty()) {
            std::ofstream(json_out) << out.dump(2) << "\n";
            fmt::print("\nwrote {}\n", json_out);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
    return 0;
}
