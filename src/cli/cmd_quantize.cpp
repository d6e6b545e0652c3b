// `hsd quantize IN.gguf OUT.gguf TYPE`: llama-quantize's recipes (quant/quant_recipe.h) with
// hsd's own quantizers. Each tensor is decoded to F32 and re-encoded row by row on all
// threads, a bounded chunk of rows at a time, and streamed to OUT through gguf::Writer (a
// temporary file renamed into place at the end, so a failed run leaves no partial OUT).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/paths.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/quant_recipe.h"
#include "quant/quantize.h"
#include "quant/validate.h"

namespace hsd::cli {

namespace {

using gguf::TensorType;

struct QuantizeOptions {
    std::string in, out, type;
    int threads = 0;
    bool dry_run = false;
    bool allow_requantize = false;
    std::string output_type, token_embd_type;
};

// Rows are converted this many output bytes (or F32 scratch bytes) at a time: enough for
// every thread to have work, small enough that memory use does not grow with the model.
constexpr size_t kChunkBytes = 32u << 20;

// Ctrl-C or a kill during a run: the writer's destructor does not run, so the handler removes
// its temporary file (unlink is async-signal-safe) before dying of the signal as usual.
char g_temp_file[4096];
volatile std::sig_atomic_t g_temp_armed = 0;

extern "C" void remove_temp_and_die(int sig) {
    if (g_temp_armed) ::unlink(g_temp_file);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// Installed before the writer creates its file, armed with its name right after.
struct TempFileGuard {
    TempFileGuard() {
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, remove_temp_and_die);
    }
    void arm(const std::string& path) {
        if (path.size() >= sizeof g_temp_file) return;
        std::copy(path.begin(), path.end(), g_temp_file);
        g_temp_file[path.size()] = '\0';
        g_temp_armed = 1;
    }
    ~TempFileGuard() {
        g_temp_armed = 0;
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_DFL);
    }
};

std::optional<TensorType> parse_tensor_type(const std::string& name, const char* flag) {
    if (name.empty()) return std::nullopt;
    if (auto t = gguf::tensor_type_from_name(name)) return t;
    fail(fmt::format("{}: unknown tensor type '{}' (valid: {})", flag, name, gguf::supported_tensor_types_text()));
}

bool same_file(const std::string& a, const std::string& b) {
    if (canonical_path(a) == canonical_path(b)) return true;
    struct stat sa {}, sb {};  // hard links: two names, one inode
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", bytes / 1048576.0); }
double bpw(uint64_t bytes, uint64_t elements) { return elements ? bytes * 8.0 / (double)elements : 0.0; }

class Progress {
public:
    Progress(uint64_t total, size_t n_tensors) : total_(total), n_(n_tensors), tty_(::isatty(STDERR_FILENO) != 0) {}

    void tensor_done(size_t i, const gguf::TensorInfo& t, const quant::PlannedTensor& p, uint64_t new_bytes) {
        done_ += t.n_elements;
        if (tty_) {
            const double f = total_ ? (double)done_ / (double)total_ : 1.0;
            const int width = 30, filled = (int)(f * width + 0.5);
            std::fprintf(stderr, "\r[%s%s] %3d%%  %3zu/%zu  %-40.40s", std::string((size_t)filled, '#').c_str(),
                         std::string((size_t)(width - filled), ' ').c_str(), (int)(f * 100 + 0.5), i + 1, n_,
                         t.name.c_str());
            if (i + 1 == n_) std::fputc('\n', stderr);
        } else {
            std::fprintf(stderr, "[%4zu/%zu] %-36s %-18s %6s -> %-6s %10llu -> %10llu bytes%s\n", i + 1, n_, t.name.c_str(),
                         t.shape_string().c_str(), gguf::tensor_type_name(p.from), gguf::tensor_type_name(p.to),
                         (unsigned long long)t.n_bytes, (unsigned long long)new_bytes, p.fallback ? " (fallback)" : "");
        }
        std::fflush(stderr);
    }

private:
    uint64_t total_, done_ = 0;
    size_t n_;
    bool tty_;
};

// Converts rows of `t` from its type to `to` into out[rows][row_bytes(to)], over the pool.
void convert_rows(ThreadPool& pool, const gguf::TensorInfo& t, TensorType to, uint64_t row0, uint64_t n_rows,
                  uint8_t* out) {
    const int64_t ne0 = (int64_t)t.dims[0];
    const size_t in_row = gguf::tensor_row_bytes(t.type(), t.dims[0]);
    const size_t out_row = gguf::tensor_row_bytes(to, t.dims[0]);
    const int64_t n_tasks = std::min<int64_t>((int64_t)n_rows, (int64_t)pool.size() * 8);
    std::mutex mu;
    std::exception_ptr error;
    pool.parallel_for(n_tasks, [&](int64_t task) {
        const uint64_t r0 = n_rows * (uint64_t)task / (uint64_t)n_tasks, r1 = n_rows * (uint64_t)(task + 1) / (uint64_t)n_tasks;
        try {
            std::vector<float> f32((size_t)ne0);
            for (uint64_t r = r0; r < r1; ++r) {
                quant::dequantize_row(t.type(), t.data + (row0 + r) * in_row, f32.data(), ne0);
                quant::quantize_row(to, f32.data(), out + r * out_row, ne0);
            }
        } catch (...) {  // parallel_for's tasks must not throw: hand the first error back
            std::lock_guard<std::mutex> lock(mu);
            if (!error) error = std::current_exception();
        }
    });
    if (error) std::rethrow_exception(error);
}

void run_quantize(const QuantizeOptions& o) {
    const quant::Scheme* scheme = quant::find_scheme(o.type);
    if (!scheme) fail(fmt::format("quantize: unknown type '{}' (valid: {})", o.type, quant::scheme_names_text()));
    quant::RecipeOptions ro;
    ro.output_type = parse_tensor_type(o.output_type, "--output-tensor-type");
    ro.token_embd_type = parse_tensor_type(o.token_embd_type, "--token-embedding-type");
    if (o.threads < 0) fail(fmt::format("--threads must be >= 0, got {}", o.threads));
    if (same_file(o.in, o.out))
        fail(fmt::format("quantize: the output {} is the input file {}; give another output path", o.out, o.in));

    const auto in = gguf::File::open(o.in);
    if (!o.allow_requantize)
        for (const gguf::TensorInfo& t : in->tensors())
            if (quant::is_quantized(t.type()))
                fail(fmt::format("{}: already quantized (tensor '{}' is {}); requantizing loses quality, pass "
                                 "--allow-requantize to do it anyway",
                                 o.in, t.name, gguf::tensor_type_name(t.ggml_type)));

    const std::vector<quant::PlannedTensor> plan =
        quant::plan_quantization(quant::recipe_tensors(*in), quant::RecipeModel::from_file(*in), *scheme, ro);
    for (const quant::PlannedTensor& p : plan) {
        const gguf::TensorInfo& t = in->tensors()[p.index];
        if (p.from != p.to && !gguf::tensor_type_supported(t.ggml_type))
            fail(fmt::format("{}: tensor '{}' has type {}, which hsd cannot convert (supported: {})", o.in, t.name,
                             gguf::tensor_type_name(t.ggml_type), gguf::supported_tensor_types_text()));
    }

    // Metadata as llama-quantize writes it: the input's keys, minus split bookkeeping, then
    // general.quantization_version and general.file_type (re)appended at the end.
    gguf::Writer w(o.out);
    w.copy_metadata(*in);
    for (const char* k : {"general.quantization_version", "general.file_type", "split.no", "split.count",
                          "split.tensors.count"})
        w.remove(k);
    w.set("general.quantization_version", gguf::value_u32(2));
    w.set("general.file_type", gguf::value_u32(scheme->file_type));
    uint64_t n_elements = 0, in_bytes = 0, out_bytes = 0;
    for (const quant::PlannedTensor& p : plan) {
        const gguf::TensorInfo& t = in->tensors()[p.index];
        w.add_tensor(t.name, t.dims, p.to);
        n_elements += t.n_elements;
        in_bytes += t.n_bytes;
    }
    for (size_t i = 0; i < plan.size(); ++i) out_bytes += w.tensor_bytes(i);

    if (o.dry_run) {
        fmt::print("plan: {} -> {} ({}, file type {}), {} tensors\n", o.in, o.out, scheme->name, scheme->file_type,
                   plan.size());
        fmt::print("  {:<36} {:<18} {:>6}    {:<6} {:>12} {:>12}\n", "name", "shape", "from", "to", "bytes in",
                   "bytes out");
        for (size_t i = 0; i < plan.size(); ++i) {
            const gguf::TensorInfo& t = in->tensors()[plan[i].index];
            fmt::print("  {:<36} {:<18} {:>6} -> {:<6} {:>12} {:>12}{}\n", t.name, t.shape_string(),
                       gguf::tensor_type_name(plan[i].from), gguf::tensor_type_name(plan[i].to), t.n_bytes,
                       w.tensor_bytes(i), plan[i].fallback ? "  (fallback: row length)" : "");
        }
        fmt::print("tensors: {} -> {} bytes ({} -> {}), {:.2f} -> {:.2f} bits per weight\n", in_bytes, out_bytes,
                   mib(in_bytes), mib(out_bytes), bpw(in_bytes, n_elements), bpw(out_bytes, n_elements));
        fmt::print("file size: {} bytes ({}), {:.2f} bits per weight; --dry-run: nothing written\n", w.file_bytes(),
                   mib(w.file_bytes()), bpw(w.file_bytes(), n_elements));
        return;
    }

    const auto t0 = std::chrono::steady_clock::now();
    ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
    TempFileGuard guard;
    w.begin();
    guard.arm(w.temp_path());
    Progress progress(n_elements, plan.size());
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < plan.size(); ++i) {
        const quant::PlannedTensor& p = plan[i];
        const gguf::TensorInfo& t = in->tensors()[p.index];
        if (p.from == p.to) {
            w.write(t.data, t.n_bytes);  // nothing to convert: the bytes as they are
        } else {
            const size_t out_row = gguf::tensor_row_bytes(p.to, t.dims[0]);
            const size_t per_row = std::max<size_t>(out_row, t.dims[0] * sizeof(float));
            const uint64_t rows = t.rows(), chunk = std::clamp<uint64_t>(kChunkBytes / per_row, 1, rows);
            buf.resize((size_t)(chunk * out_row));
            for (uint64_t r = 0; r < rows; r += chunk) {
                const uint64_t n = std::min(chunk, rows - r);
                convert_rows(pool, t, p.to, r, n, buf.data());
                if (auto bad = quant::check_row(p.to, buf.data(), (int64_t)(n * t.dims[0])))
                    fail(fmt::format("{}: quantizing tensor '{}' to {} gave a non-finite scale (rows {}..{}: {}); is "
                                     "the input finite?",
                                     o.in, t.name, gguf::tensor_type_name(p.to), r, r + n - 1, *bad));
                w.write(buf.data(), (size_t)(n * out_row));
            }
        }
        progress.tensor_done(i, t, p, w.tensor_bytes(i));
    }
    w.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("wrote {}: {}, {} tensors, {} -> {} bytes of tensors ({:.2f} -> {:.2f} bits per weight), file {} bytes, "
               "{:.2f} s on {} threads\n",
               o.out, scheme->name, plan.size(), in_bytes, out_bytes, bpw(in_bytes, n_elements),
               bpw(out_bytes, n_elements), w.file_bytes(), secs, pool.size());
}

}  // namespace

void register_quantize(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "quantize", "Quantize a GGUF model with llama-quantize's per-tensor recipes (Q4_K_M, Q8_0, IQ4_XS, ...)");
    static QuantizeOptions o;
    cmd->add_option("input", o.in, "Input GGUF file (F32/F16/BF16; quantized only with --allow-requantize)")->required();
    cmd->add_option("output", o.out, "Output GGUF file (written to a temporary file, renamed at the end)")->required();
    cmd->add_option("type", o.type, "Quantization type: " + quant::scheme_names_text())->required();
    cmd->add_option("-t,--threads", o.threads, "Threads (0 = all cores)")->capture_default_str();
    cmd->add_flag("--dry-run", o.dry_run, "Print the per-tensor plan, file size and bits per weight; write nothing");
    cmd->add_flag("--allow-requantize", o.allow_requantize, "Accept an input whose tensors are already quantized");
    cmd->add_option("--output-tensor-type", o.output_type, "Type of output.weight (overrides the recipe)");
    cmd->add_option("--token-embedding-type", o.token_embd_type, "Type of token_embd.weight (overrides the recipe)");
    cmd->callback([] { run_quantize(o); });
}

}  // namespace hsd::cli
