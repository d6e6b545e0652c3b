// bench_quant_kernels: weight-streaming speed of matmul for each quantized type, with int8
// activations (QuantActivations::Int8) on the layout a model repacks at load
// (kernels/quant_pack.h; "packed") and on the file's layout ("int8"), and with decoded F32
// weights ("f32"), and for F16 (in
// the panel layout a model packs at load, where the build has it) and BF16, at n = 1 .. 16
// tokens, on the FFN shapes of a 1B model (5632 x 2048 and 2048 x 5632, alternating).
// Enough copies of the matrices are cycled through that they are read from memory, not
// from the caches, as in a forward pass. Reports GB/s of weight bytes and the fraction of
// the read bandwidth (bench/machine_limits.h), measured again next to each type's rows.
//
//   bench_quant_kernels [--threads 2] [--types Q4_K,Q6_K] [--reps 7] [--mb 384] [--compute [--cols 2048] [--n N]]
//
// --compute instead times one thread on a matrix that stays in L2, in thread CPU time (so
// other processes on the machine do not count): nanoseconds per 256 weights of one row,
// the kernel's cost without memory stalls, on rows of --cols weights (2048: the 1B shape's
// up/gate rows; 448: hsd-target's short rows).
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <cstring>
#include <string>
#include <vector>

#include "common/fp16.h"
#include "common/strings.h"
#include "common/timer.h"
#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_pack.h"
#include "kernels/thread_pool.h"
#include "machine_limits.h"

using namespace hsd;
using gguf::TensorType;

namespace {

struct Named {
    const char* name;
    TensorType type;
};
const Named kTypes[] = {{"Q4_K", TensorType::Q4_K},  {"Q6_K", TensorType::Q6_K},   {"Q8_0", TensorType::Q8_0},
                        {"Q5_K", TensorType::Q5_K},  {"Q4_0", TensorType::Q4_0},   {"IQ4_XS", TensorType::IQ4_XS},
                        {"Q5_0", TensorType::Q5_0},  {"Q5_1", TensorType::Q5_1},   {"Q4_1", TensorType::Q4_1},
                        {"IQ4_NL", TensorType::IQ4_NL}, {"Q3_K", TensorType::Q3_K}, {"Q2_K", TensorType::Q2_K},
                        {"F16", TensorType::F16},    {"BF16", TensorType::BF16}};

bool is_float(TensorType t) { return t == TensorType::F16 || t == TensorType::BF16; }

// F16 / BF16 weights: every element a normal value in [-1, 1) (random bits would include
// NaNs and denormals, whose speed is not the point).
void fill_float(std::vector<uint8_t>& v, TensorType t, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i + 2 <= v.size(); i += 2) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const float f = (float)(s >> 40) / (float)(1ull << 23) - 1.0f;
        uint16_t h = 0;
        if (t == TensorType::F16) {
            h = f32_to_f16(f);
        } else {
            uint32_t b;
            std::memcpy(&b, &f, 4);
            h = (uint16_t)(b >> 16);
        }
        std::memcpy(v.data() + i, &h, 2);
    }
}


// F16 / BF16 weights are streamed from the panel copy a model makes at load (kernels/matmul.h) when
// this build has the panel kernel; `panels` holds it.
void use_panels_if_any(WeightView& w, std::vector<uint16_t>& panels) {
    if (!panels_supported(w.type)) return;
    panels.resize(panels_size(w));
    pack_panels(w, panels.data());
    w.panels = panels.data();
}

// The packed copy of a quantized matrix (as Model::load makes it) in `store`, or nothing.
WeightView packed_view(WeightView w, std::vector<uint8_t>& store) {
    if (!qk::packing_supported(w.type)) return WeightView{};
    store.resize(qk::packed_size(w));
    qk::pack_matrix(w, store.data(), 0, qk::packed_row_blocks(w));
    w.packed = store.data();
    return w;
}

// The ways a type is measured: F16 / BF16 one; quantized types packed (where this build
// packs them), int8 on the file's layout, and f32.
struct Way {
    const char* label;
    QuantActivations mode;
    bool packed;
};
std::vector<Way> ways_of(TensorType t, bool with_f32) {
    if (is_float(t)) return {{"-", QuantActivations::Int8, false}};
    std::vector<Way> ways;
    if (qk::packing_supported(t)) ways.push_back({"packed", QuantActivations::Int8, true});
    ways.push_back({"int8", QuantActivations::Int8, false});
    if (with_f32) ways.push_back({"f32", QuantActivations::F32, false});
    return ways;
}

// Random codes; every 16-bit word set to a small finite half, so all F16 scale fields are
// sane wherever they are (the codes' distribution does not matter for speed).
void fill(std::vector<uint8_t>& v, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i + 8 <= v.size(); i += 8) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        std::memcpy(v.data() + i, &s, 8);
    }
    const uint16_t h = f32_to_f16(0.01f);
    for (size_t i = 0; i + 2 <= v.size(); i += 64) std::memcpy(v.data() + i, &h, 2);
}

void fill_weights(std::vector<uint8_t>& v, TensorType t, uint64_t seed) {
    if (is_float(t))
        fill_float(v, t, seed);
    else
        fill(v, seed);
}

double thread_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ns per 256 weights of a row for each n, one thread, weights in L2.
void compute_mode(const std::vector<std::string>& wanted, int reps, std::vector<int> ns, int64_t cols) {
    ThreadPool pool(1);
    fmt::print("ns per 256 weights of one row, rows of {} weights, 1 thread, weights in L2 (int8 kernel {})\n", cols,
               qk::int8_isa());
    fmt::print("{:<7} {:<6} {:>7}", "type", "way", "B/unit");
    for (int n : ns) fmt::print(" {:>7}", fmt::format("n={}", n));
    fmt::print("\n");
    const int64_t rows = 256;
    std::vector<float> x((size_t)(16 * cols)), y((size_t)(16 * rows));
    for (size_t i = 0; i < x.size(); ++i) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (const Named& t : kTypes) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t.name) == wanted.end()) continue;
        if (cols % (int64_t)gguf::tensor_block_size(t.type) != 0) continue;  // (K-quants on rows of 448)
        std::vector<uint8_t> data(gguf::tensor_row_bytes(t.type, (uint64_t)cols) * (size_t)rows);
        fill_weights(data, t.type, 1);
        WeightView w;
        w.data = data.data();
        w.type = t.type;
        w.rows = rows;
        w.cols = cols;
        std::vector<uint16_t> panels;
        use_panels_if_any(w, panels);
        std::vector<uint8_t> store;
        const WeightView packed = packed_view(w, store);
        const double units = (double)rows * cols / 256;
        for (const Way& way : ways_of(t.type, ns.size() > 1)) {
            set_quant_activations(way.mode);
            const WeightView& v = way.packed ? packed : w;
            fmt::print("{:<7} {:<6} {:>7.0f}", t.name, way.label,
                       (double)(way.packed ? store.size() : data.size()) / units);
            for (int n : ns) {
                std::vector<double> per;
                for (int r = 0; r < reps + 1; ++r) {
                    const double t0 = thread_seconds();
                    for (int i = 0; i < 20; ++i) matmul(pool, v, x.data(), n, y.data());
                    per.push_back((thread_seconds() - t0) / 20 / units * 1e9);
                }
                std::sort(per.begin(), per.end());
                fmt::print(" {:>7.1f}", per[per.size() / 2]);
            }
            fmt::print("\n");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, reps = 7;
    double mb = 384;
    std::string types_arg;
    bool compute = false;
    int only_n = 0;      // --compute: just this batch size
    int64_t cols = 2048;  // --compute: row length
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--threads") threads = std::stoi(next());
        else if (a == "--reps") reps = std::stoi(next());
        else if (a == "--mb") mb = std::stod(next());
        else if (a == "--types") types_arg = next();
        else if (a == "--compute") compute = true;
        else if (a == "--n") only_n = std::stoi(next());
        else if (a == "--cols") cols = std::stoll(next());
        else { fmt::print(stderr, "unknown option {}\n", a); return 2; }
    }
    const std::vector<std::string> wanted = split_list(types_arg);
    if (compute) {
        if (cols <= 0 || cols % 32 != 0) {
            fmt::print(stderr, "--cols {}: must be a positive multiple of 32 (types whose blocks do not divide it are skipped)\n", cols);
            return 2;
        }
        compute_mode(wanted, reps, only_n ? std::vector<int>{only_n} : std::vector<int>{1, 2, 4, 8, 16}, cols);
        return 0;
    }
    ThreadPool pool(threads);
    const double bw = measure_read_bandwidth(pool);
    fmt::print("read bandwidth {:.1f} GB/s, {} threads, int8 kernel {}\n", bw / 1e9, threads, qk::int8_isa());
    fmt::print("GB/s of weights (fraction of bandwidth); shapes 5632x2048 and 2048x5632\n");
    const std::vector<int> ns = {1, 2, 4, 8, 16};
    fmt::print("{:<7} {:<6}", "type", "way");
    for (int n : ns) fmt::print(" {:>13}", fmt::format("n={}", n));
    fmt::print("\n");
    const int64_t d = 2048, ff = 5632;
    std::vector<float> x((size_t)(16 * ff)), y((size_t)(16 * ff));
    for (size_t i = 0; i < x.size(); ++i) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (const Named& t : kTypes) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t.name) == wanted.end()) continue;
        const size_t bytes = gguf::tensor_row_bytes(t.type, (uint64_t)d) * (size_t)ff;  // same for both shapes
        const int copies = std::max(2, (int)(mb * 1e6 / (double)bytes)) / 2 * 2;
        std::vector<std::vector<uint8_t>> data((size_t)copies);
        std::vector<std::vector<uint16_t>> panels((size_t)copies);
        std::vector<std::vector<uint8_t>> stores((size_t)copies);
        std::vector<WeightView> views((size_t)copies), packed((size_t)copies);
        for (int c = 0; c < copies; ++c) {
            data[(size_t)c].resize(bytes);
            fill_weights(data[(size_t)c], t.type, (uint64_t)c + 1);
            WeightView& w = views[(size_t)c];
            w.data = data[(size_t)c].data();
            w.type = t.type;
            w.rows = c % 2 ? d : ff;
            w.cols = c % 2 ? ff : d;
            use_panels_if_any(w, panels[(size_t)c]);
            packed[(size_t)c] = packed_view(w, stores[(size_t)c]);
        }
        // The machine may be shared: the bandwidth is measured again next to each type's rows.
        const double bw_here = measure_read_bandwidth(pool, 0.5);
        for (const Way& way : ways_of(t.type, true)) {
            set_quant_activations(way.mode);
            fmt::print("{:<7} {:<6}", t.name, way.label);
            for (int n : ns) {
                std::vector<double> rates;
                for (int r = 0; r < reps + 1; ++r) {
                    const double t0 = now_seconds();
                    for (const WeightView& w : way.packed ? packed : views) matmul(pool, w, x.data(), n, y.data());
                    const double dt = now_seconds() - t0;
                    if (r > 0) rates.push_back((double)bytes * copies / dt);
                }
                std::sort(rates.begin(), rates.end());
                const double rate = rates[rates.size() / 2];
                fmt::print(" {:>6.1f} ({:>3.0f}%)", rate / 1e9, 100 * rate / bw_here);
                std::fflush(stdout);
            }
            fmt::print("\n");
        }
        fmt::print("{:<7} (read bandwidth next to these rows: {:.1f} GB/s)\n", t.name, bw_here / 1e9);
    }
    return 0;
}
