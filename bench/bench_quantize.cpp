// bench_quantize: speed of the reference quantizers (quant/quantize.h, what hsd quantize runs)
// for each quantized type, one thread, on 16384 gaussian weights (64 super-blocks: the row
// stays in L1/L2, so this is the quantizer's arithmetic, not memory). Reports MB/s of F32 input
// and millions of weights per second, the median of --reps runs of at least --seconds each, in
// thread CPU time (other processes on a shared machine do not count).
//
//   bench_quantize [--types Q4_K,Q6_K] [--reps 5] [--seconds 0.2] [--json-out results.json]
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/strings.h"
#include "gguf/gguf_file.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

using namespace hsd;
using gguf::TensorType;

namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                             TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

double thread_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Weights quantized per CPU second: the median over reps of runs lasting at least `seconds`.
double weights_per_second(TensorType t, const std::vector<float>& x, int reps, double seconds) {
    std::vector<uint8_t> q(gguf::tensor_row_bytes(t, x.size()));
    std::vector<double> rates;
    for (int r = 0; r < reps; ++r) {
        const double t0 = thread_seconds();
        int64_t calls = 0;
        double dt = 0;
        do {
            quant::quantize_row(t, x.data(), q.data(), (int64_t)x.size());
            ++calls;
            dt = thread_seconds() - t0;
        } while (dt < seconds);
        rates.push_back((double)x.size() * (double)calls / dt);
    }
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int reps = 5;
    double seconds = 0.2;
    std::string types_arg, json_out;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--types") types_arg = next();
        else if (a == "--reps") reps = std::stoi(next());
        else if (a == "--seconds") seconds = std::stod(next());
        else if (a == "--json-out") json_out = next();
        else { fmt::print(stderr, "unknown option {}\n", a); return 2; }
    }
    if (reps < 1 || !(seconds > 0)) { fmt::print(stderr, "--reps must be >= 1 and --seconds > 0\n"); return 2; }
    std::vector<TensorType> wanted;
    for (const std::string& w : split_list(types_arg)) {
        const std::optional<TensorType> t = gguf::tensor_type_from_name(w);
        if (!t || std::find(std::begin(kTypes), std::end(kTypes), *t) == std::end(kTypes)) {
            fmt::print(stderr, "--types: {} is not a quantized type\n", w);
            return 2;
        }
        wanted.push_back(*t);
    }

    std::mt19937 rng(1234);
    std::normal_distribution<float> gauss(0, 1);
    std::vector<float> x(64 * quant::kSuperBlock);
    for (float& v : x) v = gauss(rng);

    fmt::print("quantize_row of {} gaussian weights, 1 thread, median of {} runs of >= {} s of thread CPU time\n",
               x.size(), reps, seconds);
    fmt::print("{:<7} {:>12} {:>14}\n", "type", "MB/s of F32", "M weights/s");
    nlohmann::json out;
    out["weights_per_row"] = x.size();
    out["threads"] = 1;
    out["types"] = nlohmann::json::object();
    for (TensorType t : kTypes) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t) == wanted.end()) continue;
        const std::string name = gguf::tensor_type_name(t);
        const double w = weights_per_second(t, x, reps, seconds);
        fmt::print("{:<7} {:>12.1f} {:>14.1f}\n", name, w * 4 / 1e6, w / 1e6);
        std::fflush(stdout);
        out["types"][name] = {{"mb_per_s_f32", w * 4 / 1e6}, {"m_weights_per_s", w / 1e6}};
    }
    if (!json_out.empty()) {
        std::ofstream(json_out) << out.dump(2) << "\n";
        fmt::print("wrote {}\n", json_out);
    }
    return 0;
}
