#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fmt/format.h>

#include "common/error.h"

namespace hsd::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;         // ggml's GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused
constexpr uint64_t kMaxStringLen = 1ull << 30;

struct TypeTraits {
    const char* name;
    uint64_t block;  // elements per block
    uint64_t bytes;  // bytes per block
};

// ggml's type table (ids are stable on disk). Blocks/bytes let us size every tensor, even
// those we do not compute with, so `hsd info` can describe any GGUF.
const TypeTraits* traits(uint32_t t) {
    static const TypeTraits table[] = {
        {"F32", 1, 4},       {"F16", 1, 2},         {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
        {nullptr, 0, 0},     {nullptr, 0, 0},       {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
        {"Q8_0", 32, 34},    {"Q8_1", 32, 36},      {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
        {"Q4_K", 256, 144},  {"Q5_K", 256, 176},    {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
        {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
        {"IQ4_NL", 32, 18},  {"IQ3_S", 256, 110},   {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
        {"I8", 1, 1},        {"I16", 1, 2},         {"I32", 1, 4},        {"I64", 1, 8},
        {"F64", 1, 8},       {"IQ1_M", 256, 56},    {"BF16", 1, 2},       {nullptr, 0, 0},
        {nullptr, 0, 0},     {nullptr, 0, 0},       {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
        {nullptr, 0, 0},     {nullptr, 0, 0},       {nullptr, 0, 0},      {"MXFP4", 32, 17},
    };
    if (t >= sizeof(table) / sizeof(table[0]) || table[t].name == nullptr) return nullptr;
    return &table[t];
}

// Bounds-checked little-endian cursor over the file image.
class Cursor {
public:
    Cursor(const uint8_t* base, uint64_t size, const std::string& path)
        : base_(base), size_(size), path_(path) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    [[noreturn]] void error(const std::string& what) const {
        fail(fmt::format("{}: invalid GGUF: {} (at byte offset {}, file size {})", path_, what, pos_, size_));
    }

    void need(uint64_t n, const char* what) const {
        if (n > remaining()) error(fmt::format("truncated while reading {} ({} bytes needed, {} left)", what, n, remaining()));
    }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, base_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(const char* what) {
        const uint64_t n = read<uint64_t>(what);
        if (n > kMaxStringLen) error(fmt::format("{} has absurd length {}", what, n));
        need(n, what);
        std::string s(reinterpret_cast<const char*>(base_ + pos_), n);
        pos_ += n;
        return s;
    }

private:
    const uint8_t* base_;
    uint64_t size_;
    const std::string& path_;
    uint64_t pos_ = 0;
};

uint64_t min_encoded_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: return 8;
        case ValueType::ARRAY: return 12;
    }
    return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth) {
    Value v;
    v.type = type;
    switch (type) {
        case ValueType::UINT8: v.u = c.read<uint8_t>("uint8 value"); v.i = (int64_t)v.u; break;
        case ValueType::INT8: v.i = c.read<int8_t>("int8 value"); v.u = (uint64_t)v.i; break;
        case ValueType::UINT16: v.u = c.read<uint16_t>("uint16 value"); v.i = (int64_t)v.u; break;
        case ValueType::INT16: v.i = c.read<int16_t>("int16 value"); v.u = (uint64_t)v.i; break;
        case ValueType::UINT32: v.u = c.read<uint32_t>("uint32 value"); v.i = (int64_t)v.u; break;
        case ValueType::INT32: v.i = c.read<int32_t>("int32 value"); v.u = (uint64_t)v.i; break;
        case ValueType::UINT64: v.u = c.read<uint64_t>("uint64 value"); v.i = (int64_t)v.u; break;
        case ValueType::INT64: v.i = c.read<int64_t>("int64 value"); v.u = (uint64_t)v.i; break;
        case ValueType::FLOAT32: v.f = c.read<float>("float32 value"); break;
        case ValueType::FLOAT64: v.f = c.read<double>("float64 value"); break;
        case ValueType::BOOL: {
            const uint8_t b = c.read<uint8_t>("bool value");
            if (b > 1) c.error(fmt::format("metadata '{}': bool value {} is neither 0 nor 1", key, b));
            v.b = b != 0;
            break;
        }
        case ValueType::STRING: v.str = c.read_string("string value"); break;
        case ValueType::ARRAY: {
            if (depth >= kMaxArrayDepth) c.error(fmt::format("metadata '{}': arrays nested deeper than {}", key, kMaxArrayDepth));
            const uint32_t et = c.read<uint32_t>("array element type");
            if (!valid_value_type(et)) c.error(fmt::format("metadata '{}': unknown array element type {}", key, et));
            v.elem_type = static_cast<ValueType>(et);
            const uint64_t n = c.read<uint64_t>("array length");
            if (n > c.remaining() / min_encoded_size(v.elem_type))
                c.error(fmt::format("metadata '{}': array length {} cannot fit in the {} bytes left", key, n, c.remaining()));
            v.arr.reserve(n);
            for (uint64_t k = 0; k < n; ++k) v.arr.push_back(read_value(c, v.elem_type, key, depth + 1));
            break;
        }
    }
    return v;
}

bool is_integer(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
        case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
            return true;
        default: return false;
    }
}

bool is_signed_integer(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}

}  // namespace

const char* value_type_name(ValueType t) {
    switch (t) {
        case ValueType::UINT8: return "uint8";
        case ValueType::INT8: return "int8";
        case ValueType::UINT16: return "uint16";
        case ValueType::INT16: return "int16";
        case ValueType::UINT32: return "uint32";
        case ValueType::INT32: return "int32";
        case ValueType::FLOAT32: return "float32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "uint64";
        case ValueType::INT64: return "int64";
        case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

const char* tensor_type_name(uint32_t t) {
    const TypeTraits* tr = traits(t);
    return tr ? tr->name : "unknown";
}

namespace {
constexpr TensorType kSupported[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS,
};
}  // namespace

bool tensor_type_supported(uint32_t t) {
    for (TensorType s : kSupported)
        if (static_cast<uint32_t>(s) == t) return true;
    return false;
}

const char* supported_tensor_types_text() {
    static const std::string text = [] {
        std::string s;
        for (TensorType t : kSupported) s += std::string(s.empty() ? "" : ", ") + tensor_type_name(t);
        return s;
    }();
    return text.c_str();
}

std::optional<TensorType> tensor_type_from_name(const std::string& name) {
    std::string up = name;
    for (char& ch : up) ch = (char)std::toupper((unsigned char)ch);
    for (TensorType t : kSupported)
        if (up == tensor_type_name(t)) return t;
    return std::nullopt;
}

uint64_t tensor_block_size(TensorType t) { return traits(static_cast<uint32_t>(t))->block; }

size_t tensor_row_bytes(TensorType t, uint64_t n) {
    const TypeTraits* tr = traits(static_cast<uint32_t>(t));
    return (size_t)(n / tr->block * tr->bytes);
}

std::string Value::to_string(size_t max_items) const {
    switch (type) {
        case ValueType::STRING: return fmt::format("\"{}\"", str);
        case ValueType::BOOL: return b ? "true" : "false";
        case ValueType::FLOAT32: case ValueType::FLOAT64: return fmt::format("{}", f);
        case ValueType::ARRAY: {
            std::string s = "[";
            for (size_t k = 0; k < arr.size() && k < max_items; ++k) {
                if (k) s += ", ";
                s += arr[k].to_string(max_items);
            }
            if (arr.size() > max_items) s += fmt::format(", ... ({} {} items)", arr.size(), value_type_name(elem_type));
            return s + "]";
        }
        case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
            return fmt::format("{}", i);
        default: return fmt::format("{}", u);
    }
}

uint64_t TensorInfo::rows() const {
    uint64_t r = 1;
    for (size_t k = 1; k < dims.size(); ++k) r *= dims[k];
    return r;
}

std::string TensorInfo::shape_string() const {
    std::string s = "[";
    for (size_t k = 0; k < dims.size(); ++k) s += fmt::format("{}{}", k ? ", " : "", dims[k]);
    return s + "]";
}

std::unique_ptr<File> File::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(fmt::format("{}: not a regular file", path));
    }
    std::unique_ptr<File> f(new File());
    f->path_ = path;
    f->size_ = (uint64_t)st.st_size;
    if (f->size_ > 0) {
        void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            ::close(fd);
            fail(fmt::format("{}: mmap failed: {}", path, std::strerror(errno)));
        }
        f->map_ = m;
        f->base_ = static_cast<const uint8_t*>(m);
    }
    ::close(fd);
    f->parse();
    return f;
}

std::unique_ptr<File> File::from_memory(std::vector<uint8_t> bytes, const std::string& name) {
    std::unique_ptr<File> f(new File());
    f->path_ = name;
    f->owned_ = std::move(bytes);
    f->size_ = f->owned_.size();
    f->base_ = f->owned_.data();
    f->parse();
    return f;
}

void File::release(const void* p, size_t bytes) const {
    if (!map_ || bytes == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)p + bytes) / page * page;
    const uintptr_t map_lo = (uintptr_t)map_, map_hi = map_lo + size_;
    if (lo >= hi || lo < map_lo || hi > map_hi) return;
    // A private read-only mapping: its pages are the file's, so dropping them loses nothing.
    madvise((void*)lo, hi - lo, MADV_DONTNEED);
}

File::~File() {
    if (map_) munmap(map_, size_);
}

void File::parse() {
    Cursor c(base_, size_, path_);
    const uint32_t magic = c.read<uint32_t>("magic");
    if (magic != kMagic) c.error(fmt::format("bad magic 0x{:08x} (expected 0x{:08x}, \"GGUF\")", magic, kMagic));
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) c.error(fmt::format("unsupported version {} (supported: 2, 3)", version_));
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // Each KV needs at least a key length, a type and 1 byte of value; each tensor info at
    // least a name length, n_dims, type and offset. Refuse counts that cannot fit.
    if (n_kv > c.remaining() / 13) c.error(fmt::format("metadata count {} cannot fit in the file", n_kv));
    if (n_tensors > c.remaining() / 24) c.error(fmt::format("tensor count {} cannot fit in the file", n_tensors));

    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string key = c.read_string("metadata key");
        const uint32_t t = c.read<uint32_t>("metadata value type");
        if (!valid_value_type(t)) c.error(fmt::format("metadata '{}': unknown value type {}", key, t));
        Value v = read_value(c, static_cast<ValueType>(t), key, 0);
        if (kv_index_.count(key)) c.error(fmt::format("duplicate metadata key '{}'", key));
        kv_index_[key] = kv_.size();
        kv_.emplace_back(std::move(key), std::move(v));
    }

    if (const Value* a = find("general.alignment")) {
        if (!is_integer(a->type) || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
            fail(fmt::format("{}: invalid GGUF: general.alignment = {} is not a power of two", path_, a->to_string()));
        alignment_ = a->u;
    }

    tensors_.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
        TensorInfo ti;
        ti.name = c.read_string("tensor name");
        const uint32_t nd = c.read<uint32_t>("tensor dimension count");
        if (nd == 0 || nd > kMaxDims) c.error(fmt::format("tensor '{}': {} dimensions (1..{} allowed)", ti.name, nd, kMaxDims));
        ti.n_elements = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            const uint64_t dim = c.read<uint64_t>("tensor dimension");
            if (dim == 0 || dim > (1ull << 40)) c.error(fmt::format("tensor '{}': dimension {} = {} is out of range", ti.name, d, dim));
            if (ti.n_elements > (1ull << 48) / dim) c.error(fmt::format("tensor '{}': element count overflows", ti.name));
            ti.n_elements *= dim;
            ti.dims.push_back(dim);
        }
        ti.ggml_type = c.read<uint32_t>("tensor type");
        const TypeTraits* tr = traits(ti.ggml_type);
        if (!tr) c.error(fmt::format("tensor '{}': unknown tensor type {}", ti.name, ti.ggml_type));
        if (ti.dims[0] % tr->block != 0)
            c.error(fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}", ti.name, ti.dims[0], tr->name, tr->block));
        ti.n_bytes = ti.n_elements / tr->block * tr->bytes;
        ti.offset = c.read<uint64_t>("tensor data offset");
        if (ti.offset % alignment_ != 0)
            c.error(fmt::format("tensor '{}': data offset {} is not a multiple of the alignment {}", ti.name, ti.offset, alignment_));
        if (tensor_index_.count(ti.name)) c.error(fmt::format("duplicate tensor name '{}'", ti.name));
        tensor_index_[ti.name] = tensors_.size();
        tensors_.push_back(std::move(ti));
    }

    data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
    if (n_tensors > 0 && data_offset_ > size_)
        fail(fmt::format("{}: invalid GGUF: data section starts at {} past the end of the file ({} bytes)", path_, data_offset_, size_));
    for (TensorInfo& ti : tensors_) {
        const uint64_t avail = size_ - data_offset_;
        if (ti.offset > avail || ti.n_bytes > avail - ti.offset)
            fail(fmt::format("{}: invalid GGUF: tensor '{}' data [{}, {}) lies past the end of the file ({} bytes)",
                             path_, ti.name, data_offset_ + ti.offset, data_offset_ + ti.offset + ti.n_bytes, size_));
        ti.data = base_ + data_offset_ + ti.offset;
    }
}

const Value* File::find(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(const std::string& name) const {
    const TensorInfo* t = find_tensor(name);
    if (!t) fail(fmt::format("{}: missing tensor '{}'", path_, name));
    return *t;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const Value& v, const char* want) {
    fail(fmt::format("{}: metadata '{}' has type {}, expected {}", path, key, value_type_name(v.type), want));
}
}  // namespace

uint64_t File::get_uint(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (!is_integer(v->type)) wrong_type(path_, key, *v, "an integer");
    if (v->i < 0 && v->type != ValueType::UINT64) fail(fmt::format("{}: metadata '{}' is negative ({})", path_, key, v->i));
    return v->u;
}

uint64_t File::get_uint(const std::string& key, uint64_t fallback) const {
    return find(key) ? get_uint(key) : fallback;
}

double File::get_float(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (v->type == ValueType::FLOAT32 || v->type == ValueType::FLOAT64) return v->f;
    if (is_integer(v->type)) return is_signed_integer(v->type) ? (double)v->i : (double)v->u;
    wrong_type(path_, key, *v, "a number");
}

double File::get_float(const std::string& key, double fallback) const {
    return find(key) ? get_float(key) : fallback;
}

bool File::get_bool(const std::string& key, bool fallback) const {
    const Value* v = find(key);
    if (!v) return fallback;
    if (v->type != ValueType::BOOL) wrong_type(path_, key, *v, "bool");
    return v->b;
}

std::string File::get_string(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (v->type != ValueType::STRING) wrong_type(path_, key, *v, "string");
    return v->str;
}

std::vector<std::string> File::get_string_array(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING) wrong_type(path_, key, *v, "array of string");
    std::vector<std::string> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) out.push_back(e.str);
    return out;
}

std::vector<float> File::get_float_array(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (v->type != ValueType::ARRAY || (v->elem_type != ValueType::FLOAT32 && v->elem_type != ValueType::FLOAT64))
        wrong_type(path_, key, *v, "array of float");
    std::vector<float> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) out.push_back((float)e.f);
    return out;
}

std::vector<int64_t> File::get_int_array(const std::string& key) const {
    const Value* v = find(key);
    if (!v) fail(fmt::format("{}: missing metadata key '{}'", path_, key));
    if (v->type != ValueType::ARRAY || !is_integer(v->elem_type)) wrong_type(path_, key, *v, "array of integer");
    std::vector<int64_t> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) out.push_back(e.i);
    return out;
}

std::vector<int64_t> File::get_int_array(const std::string& key, std::vector<int64_t> fallback) const {
    return find(key) ? get_int_array(key) : fallback;
}

}  // namespace hsd::gguf
