#include "model/model.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "kernels/quant_pack.h"
#include "model/arch.h"
#include "quant/validate.h"

namespace hsd {

namespace {

void check_type(const gguf::File& f, const gguf::TensorInfo& t) {
    if (!gguf::tensor_type_supported(t.ggml_type))
        fail(fmt::format("{}: tensor '{}' has type {} ({}), which hsd does not support (supported: {})", f.path(), t.name,
                         t.ggml_type, gguf::tensor_type_name(t.ggml_type), gguf::supported_tensor_types_text()));
}

WeightView weight(const gguf::File& f, const std::string& name, int64_t cols, int64_t rows) {
    const gguf::TensorInfo& t = f.tensor(name);
    check_type(f, t);
    if (t.dims.size() != 2 || (int64_t)t.dims[0] != cols || (int64_t)t.dims[1] != rows)
        fail(fmt::format("{}: tensor '{}' has shape {}, expected [{}, {}]", f.path(), name, t.shape_string(), cols, rows));
    if (auto bad = quant::check_row(t.type(), t.data, (int64_t)t.n_elements))
        fail(fmt::format("{}: tensor '{}' ({}) is corrupt: {}", f.path(), name, gguf::tensor_type_name(t.ggml_type), *bad));
    WeightView w;
    w.data = t.data;
    w.type = t.type();
    w.rows = rows;
    w.cols = cols;
    return w;
}

std::vector<float> vec(const gguf::File& f, const std::string& name, int64_t n) {
    const gguf::TensorInfo& t = f.tensor(name);
    check_type(f, t);
    if (t.dims.size() != 1 || (int64_t)t.dims[0] != n)
        fail(fmt::format("{}: tensor '{}' has shape {}, expected [{}]", f.path(), name, t.shape_string(), n));
    WeightView w{t.data, t.type(), 1, n};
    std::vector<float> out((size_t)n);
    decode_row(w, 0, 0, n, out.data());
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(out[(size_t)i]))
            fail(fmt::format("{}: tensor '{}' is corrupt: element {} is {}", f.path(), name, i, out[(size_t)i]));
    return out;
}

int positive(const gguf::File& f, const std::string& key, uint64_t v, uint64_t limit) {
    if (v == 0 || v > limit) fail(fmt::format("{}: metadata '{}' = {} is out of range (1..{})", f.path(), key, v, limit));
    return (int)v;
}

}  // namespace

namespace {
std::atomic<int64_t> g_loads{0};
}  // namespace

int64_t Model::load_count() { return g_loads.load(); }

namespace {
std::atomic<bool> g_repack_default{true};
}
void Model::set_repack_default(bool on) { g_repack_default = on; }
bool Model::repack_default() { return g_repack_default.load(); }

namespace {

// Rope scaling: rope.scaling.type none / linear (absent means linear, as in llama.cpp) with
// rope.scaling.factor (or the older rope.scale_linear); positions are divided by the factor.
double rope_position_scale(const gguf::File& f, const std::string& arch) {
    const std::string tkey = arch + ".rope.scaling.type";
    const std::string type = f.find(tkey) ? f.get_string(tkey) : "linear";
    if (type != "none" && type != "linear")
        fail(fmt::format("{}: metadata '{}' = '{}' is not implemented (hsd implements none and linear)", f.path(), tkey,
                         type));
    std::string fkey = arch + ".rope.scaling.factor";
    if (!f.find(fkey)) fkey = arch + ".rope.scale_linear";
    const double factor = f.get_float(fkey, 0.0);  // 0: not given
    if (!(factor >= 0) || !std::isfinite(factor))
        fail(fmt::format("{}: metadata '{}' = {} is not a valid scaling factor", f.path(), fkey, factor));
    if (factor == 0 || factor == 1) return 1.0;
    if (type == "none")
        fail(fmt::format("{}: '{}' is 'none' but '{}' = {}: ambiguous rope scaling", f.path(), tkey, fkey, factor));
    return factor;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, bool repack) {
    ++g_loads;
    std::unique_ptr<Model> m(new Model());
    m->file_ = gguf::File::open(path);
    const gguf::File& f = *m->file_;

    const std::string arch = f.get_string("general.architecture");
    const ArchRules& rules = arch_rules(f, arch);
    check_arch_keys(f, arch);
    ModelConfig& c = m->config_;
    c.arch = arch;
    c.name = f.find("general.name") ? f.get_string("general.name") : path;

    auto key = [&](const char* k) { return arch + "." + k; };
    c.n_embd = positive(f, key("embedding_length"), f.get_uint(key("embedding_length")), 1 << 16);
    c.n_layer = positive(f, key("block_count"), f.get_uint(key("block_count")), 1024);
    c.n_ff = positive(f, key("feed_forward_length"), f.get_uint(key("feed_forward_length")), 1 << 18);
    c.n_head = positive(f, key("attention.head_count"), f.get_uint(key("attention.head_count")), 1024);
    c.n_head_kv = positive(f, key("attention.head_count_kv"),
                           f.get_uint(key("attention.head_count_kv"), (uint64_t)c.n_head), 1024);
    c.n_ctx_train = positive(f, key("context_length"), f.get_uint(key("context_length")), 1 << 24);
    if (c.n_head % c.n_head_kv != 0)
        fail(fmt::format("{}: head_count {} is not divisible by head_count_kv {}", path, c.n_head, c.n_head_kv));
    // Head size: explicit (q dim = heads x key_length, wo input = heads x value_length) or d / heads.
    if (f.find(key("attention.key_length")) || f.find(key("attention.value_length"))) {
        const int kl = positive(f, key("attention.key_length"), f.get_uint(key("attention.key_length")), 1024);
        const int vl = positive(f, key("attention.value_length"), f.get_uint(key("attention.value_length")), 1024);
        // One head size for keys and values: the KV cache and attention kernel use one.
        if (kl != vl)
            fail(fmt::format("{}: {} = {} differs from {} = {}; hsd implements equal key and value head sizes only",
                             path, key("attention.key_length"), kl, key("attention.value_length"), vl));
        c.head_dim = kl;
    } else {
        if (c.n_embd % c.n_head != 0)
            fail(fmt::format("{}: embedding_length {} is not divisible by head_count {}", path, c.n_embd, c.n_head));
        c.head_dim = c.n_embd / c.n_head;
    }
    c.rope_dim = positive(f, key("rope.dimension_count"), f.get_uint(key("rope.dimension_count"), (uint64_t)c.head_dim),
                          (uint64_t)c.head_dim);
    if (c.rope_dim % 2 != 0) fail(fmt::format("{}: rope.dimension_count {} is odd", path, c.rope_dim));
    c.rope_base = (float)f.get_float(key("rope.freq_base"), 10000.0);
    c.rms_eps = (float)f.get_float(key("attention.layer_norm_rms_epsilon"), 1e-5);
    if (!(c.rope_base > 0) || !(c.rms_eps > 0))
        fail(fmt::format("{}: rope.freq_base and layer_norm_rms_epsilon must be positive", path));
    c.rope_layout = rules.rope_layout;
    c.rope_position_scale = rope_position_scale(f, arch);

    for (int64_t e : f.get_int_array("hsd.early_exit.layers", {})) {
        if (e < 1 || e >= c.n_layer)
            fail(fmt::format("{}: hsd.early_exit.layers lists {}, outside 1..{}", path, e, c.n_layer - 1));
        c.exit_layers.push_back((int)e);
    }
    std::sort(c.exit_layers.begin(), c.exit_layers.end());
    c.exit_layers.erase(std::unique(c.exit_layers.begin(), c.exit_layers.end()), c.exit_layers.end());

    m->tokenizer_ = Tokenizer::from_gguf(f);
    c.n_vocab = m->tokenizer_.n_vocab();
    if (f.find(key("vocab_size")) && (int64_t)f.get_uint(key("vocab_size")) != c.n_vocab)
        fail(fmt::format("{}: {} = {} but the tokenizer has {} tokens", path, key("vocab_size"),
                         f.get_uint(key("vocab_size")), c.n_vocab));

    // Every tensor read is recorded: any other tensor in the file is one hsd would ignore.
    std::set<std::string> used;
    auto mat = [&](const std::string& name, int64_t cols, int64_t rows) {
        used.insert(name);
        return weight(f, name, cols, rows);
    };
    auto vec_of = [&](const std::string& name, int64_t n) {
        used.insert(name);
        return vec(f, name, n);
    };
    auto opt_vec = [&](const std::string& name, int64_t n) {
        return f.find_tensor(name) ? vec_of(name, n) : std::vector<float>();
    };

    m->token_embd_ = mat("token_embd.weight", c.n_embd, c.n_vocab);
    m->output_norm_ = vec_of("output_norm.weight", c.n_embd);
    // No output.weight: the head is tied to the embedding (Qwen2 0.5B, Llama 3.2 1B/3B).
    m->output_ = f.find_tensor("output.weight") ? mat("output.weight", c.n_embd, c.n_vocab) : m->token_embd_;
    c.rope_freq_factors = opt_vec("rope_freqs.weight", c.rope_dim / 2);
    for (float x : c.rope_freq_factors)
        if (!(x > 0)) fail(fmt::format("{}: tensor 'rope_freqs.weight' holds {}, not a positive factor", path, x));
    for (int i = 0; i < c.n_layer; ++i) {
        const std::string p = fmt::format("blk.{}.", i);
        LayerWeights L;
        L.attn_norm = vec_of(p + "attn_norm.weight", c.n_embd);
        L.ffn_norm = vec_of(p + "ffn_norm.weight", c.n_embd);
        L.wq = mat(p + "attn_q.weight", c.n_embd, c.q_dim());
        L.wk = mat(p + "attn_k.weight", c.n_embd, c.kv_dim());
        L.wv = mat(p + "attn_v.weight", c.n_embd, c.kv_dim());
        L.wo = mat(p + "attn_output.weight", c.q_dim(), c.n_embd);
        L.bq = opt_vec(p + "attn_q.bias", c.q_dim());
        L.bk = opt_vec(p + "attn_k.bias", c.kv_dim());
        L.bv = opt_vec(p + "attn_v.bias", c.kv_dim());
        L.bo = opt_vec(p + "attn_output.bias", c.n_embd);
        L.gate = mat(p + "ffn_gate.weight", c.n_embd, c.n_ff);
        L.up = mat(p + "ffn_up.weight", c.n_embd, c.n_ff);
        L.down = mat(p + "ffn_down.weight", c.n_ff, c.n_embd);
        m->layers_.push_back(std::move(L));
    }
    for (const gguf::TensorInfo& t : f.tensors())
        if (!used.count(t.name))
            fail(fmt::format("{}: tensor '{}' ({}) is not part of the {} model hsd implements; refusing to run "
                             "without it",
                             path, t.name, t.shape_string(), arch));
    if (repack) m->repack_weights();
    return m;
}

size_t Model::weight_elements(int a, int b, bool with_head) const {
    auto el = [](const WeightView& w) { return (size_t)(w.rows * w.cols); };
    size_t s = 0;
    for (int i = a; i < b; ++i) {
        const LayerWeights& L = layers_[(size_t)i];
        s += el(L.wq) + el(L.wk) + el(L.wv) + el(L.wo) + el(L.gate) + el(L.up) + el(L.down);
    }
    return with_head ? s + el(output_) : s;
}

void Model::FreeDeleter::operator()(void* p) const { std::free(p); }

// Where one matrix goes when repacked: F16 / BF16 into panels, integer-kernel types into the packed
// layout; bytes 0 = it stays as mapped.
static size_t repacked_bytes(const WeightView& w) {
    if (panels_supported(w.type)) return panels_size(w) * sizeof(uint16_t);
    if (qk::packing_supported(w.type)) return qk::packed_size(w);
    return 0;
}

void Model::repack_weights() {
    std::vector<WeightView*> views = {&output_};
    for (LayerWeights& L : layers_)
        for (WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) views.push_back(w);
    // Each repacked matrix's offset in one allocation (64-byte aligned).
    constexpr size_t kAlign = 64;
    std::vector<std::pair<WeightView*, size_t>> offsets;
    size_t total = 0;
    for (WeightView* w : views)
        if (const size_t bytes = repacked_bytes(*w)) {
            offsets.emplace_back(w, total);
            total += (bytes + kAlign - 1) / kAlign * kAlign;
        }
    if (total == 0) return;
    // One 2 MiB-aligned block, offered to the kernel as transparent huge pages: fewer TLB
    // misses while streaming (measured ~10% more read bandwidth here).
    constexpr size_t kHuge = 2u << 20;
    const size_t alloc = (total + kHuge - 1) / kHuge * kHuge;
    void* mem = std::aligned_alloc(kHuge, alloc);
    if (!mem) fail(fmt::format("{}: out of memory repacking {} bytes of weights", path(), total));
    madvise(mem, alloc, MADV_HUGEPAGE);
    repacked_.reset(static_cast<uint8_t*>(mem));
    std::vector<std::pair<WeightView*, uint8_t*>> work;
    for (auto [w, offset] : offsets) work.emplace_back(w, repacked_.get() + offset);
    // Matrices are independent: one thread per core packs them (load time, docs/BENCHMARKS.md).
    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
        try {
            for (size_t i; (i = next.fetch_add(1)) < work.size();) {
                auto [w, out] = work[i];
                if (panels_supported(w->type)) {
                    pack_panels(*w, reinterpret_cast<uint16_t*>(out));
                    w->panels = reinterpret_cast<const uint16_t*>(out);
                } else {
                    qk::pack_matrix(*w, out, 0, qk::packed_row_blocks(*w));
                    w->packed = out;
                }
                // The kernels read only the copy now: the mapped original leaves memory at
                // once, so the process never holds both (a tied head's rows are still the
                // embedding table's, so those stay).
                if (w->data != token_embd_.data) file_->release(w->data, w->bytes());
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next = work.size();
        }
    };
    const unsigned n_threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), (unsigned)work.size()));
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < n_threads; ++t) threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads) t.join();
    if (error) std::rethrow_exception(error);
}

std::string ModelConfig::exit_layers_text() const {
    std::string s;
    for (int e : exit_layers) s += fmt::format("{}{}", s.empty() ? "" : ", ", e);
    return s.empty() ? "none" : s;
}

bool Model::is_exit_layer(int k) const {
    return std::find(config_.exit_layers.begin(), config_.exit_layers.end(), k) != config_.exit_layers.end();
}

size_t Model::weight_bytes(int a, int b, bool with_head) const {
    size_t s = 0;
    for (int i = a; i < b; ++i) {
        const LayerWeights& L = layers_[(size_t)i];
        s += L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + L.gate.bytes() + L.up.bytes() + L.down.bytes();
        s += (L.attn_norm.size() + L.ffn_norm.size() + L.bq.size() + L.bk.size() + L.bv.size() + L.bo.size()) *
             sizeof(float);
    }
    if (with_head) s += output_.bytes() + output_norm_.size() * sizeof(float);
    return s;
}

}  // namespace hsd
