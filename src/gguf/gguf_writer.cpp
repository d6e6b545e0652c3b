#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/error.h"

namespace hsd::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

class Encoder {
public:
    explicit Encoder(std::vector<uint8_t>& b) : b_(b) {}

    template <typename T>
    void put(T v) {
        const size_t at = b_.size();
        b_.resize(at + sizeof(T));
        std::memcpy(b_.data() + at, &v, sizeof(T));
    }
    void str(const std::string& s) {
        put<uint64_t>(s.size());
        b_.insert(b_.end(), s.begin(), s.end());
    }
    // The untagged payload of v (arrays: element type, count, then each element's payload,
    // recursively for arrays of arrays).
    void payload(const Value& v, const std::string& key) {
        switch (v.type) {
            case ValueType::UINT8: put<uint8_t>((uint8_t)v.u); break;
            case ValueType::INT8: put<int8_t>((int8_t)v.i); break;
            case ValueType::UINT16: put<uint16_t>((uint16_t)v.u); break;
            case ValueType::INT16: put<int16_t>((int16_t)v.i); break;
            case ValueType::UINT32: put<uint32_t>((uint32_t)v.u); break;
            case ValueType::INT32: put<int32_t>((int32_t)v.i); break;
            case ValueType::UINT64: put<uint64_t>(v.u); break;
            case ValueType::INT64: put<int64_t>(v.i); break;
            case ValueType::FLOAT32: put<float>((float)v.f); break;
            case ValueType::FLOAT64: put<double>(v.f); break;
            case ValueType::BOOL: put<uint8_t>(v.b ? 1 : 0); break;
            case ValueType::STRING: str(v.str); break;
            case ValueType::ARRAY:
                put<uint32_t>(static_cast<uint32_t>(v.elem_type));
                put<uint64_t>(v.arr.size());
                for (const Value& e : v.arr) {
                    HSD_ASSERT(e.type == v.elem_type, fmt::format("metadata '{}': array of {} holds a {}", key,
                                                                  value_type_name(v.elem_type), value_type_name(e.type)));
                    payload(e, key);
                }
                break;
        }
    }

private:
    std::vector<uint8_t>& b_;
};

}  // namespace

Value value_u32(uint32_t x) {
    Value v;
    v.type = ValueType::UINT32;
    v.u = x;
    v.i = x;
    return v;
}

Value value_string(const std::string& s) {
    Value v;
    v.type = ValueType::STRING;
    v.str = s;
    return v;
}

Writer::Writer(std::string path) : path_(std::move(path)) {}

Writer::~Writer() { abandon(); }

void Writer::abandon() {
    if (out_) std::fclose(out_);
    out_ = nullptr;
    if (!finished_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
    tmp_path_.clear();
}

void Writer::copy_metadata(const File& f) {
    for (const auto& [key, value] : f.metadata()) set(key, value);
}

void Writer::set(const std::string& key, Value v) {
    HSD_ASSERT(!out_ && !finished_, "gguf::Writer::set after begin()");
    for (auto& [k, old] : kv_)
        if (k == key) {
            old = std::move(v);
            return;
        }
    kv_.emplace_back(key, std::move(v));
}

void Writer::remove(const std::string& key) {
    HSD_ASSERT(!out_ && !finished_, "gguf::Writer::remove after begin()");
    std::erase_if(kv_, [&](const auto& kv) { return kv.first == key; });
}

uint64_t Writer::alignment() const {
    for (const auto& [k, v] : kv_) {
        if (k != "general.alignment") continue;
        const bool integer = v.type != ValueType::FLOAT32 && v.type != ValueType::FLOAT64 && v.type != ValueType::BOOL &&
                             v.type != ValueType::STRING && v.type != ValueType::ARRAY;
        if (!integer || v.u == 0 || (v.u & (v.u - 1)) != 0 || v.u > (1u << 20))
            fail(fmt::format("{}: general.alignment = {} is not a power of two", path_, v.to_string()));
        return v.u;
    }
    return 32;
}

void Writer::add_tensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type) {
    HSD_ASSERT(!out_ && !finished_, "gguf::Writer::add_tensor after begin()");
    HSD_ASSERT(!dims.empty() && dims.size() <= 4, fmt::format("tensor '{}': {} dimensions", name, dims.size()));
    for (const Tensor& t : tensors_)
        if (t.name == name) fail(fmt::format("{}: duplicate tensor name '{}'", path_, name));
    if (dims[0] % tensor_block_size(type) != 0)
        fail(fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}", name, dims[0],
                         tensor_type_name(type), tensor_block_size(type)));
    uint64_t rows = 1;
    for (size_t k = 1; k < dims.size(); ++k) rows *= dims[k];
    Tensor t{name, dims, type, 0, rows * tensor_row_bytes(type, dims[0])};
    tensors_.push_back(std::move(t));
}

uint64_t Writer::data_bytes() const {
    const uint64_t a = alignment();
    uint64_t n = 0;
    for (const Tensor& t : tensors_) n += align_up(t.n_bytes, a);
    return n;
}

std::vector<uint8_t> Writer::header() const {
    const uint64_t a = alignment();
    std::vector<uint8_t> b;
    Encoder e(b);
    e.put<uint32_t>(kMagic);
    e.put<uint32_t>(kVersion);
    e.put<uint64_t>(tensors_.size());
    e.put<uint64_t>(kv_.size());
    for (const auto& [key, v] : kv_) {
        e.str(key);
        e.put<uint32_t>(static_cast<uint32_t>(v.type));
        e.payload(v, key);
    }
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        e.str(t.name);
        e.put<uint32_t>((uint32_t)t.dims.size());
        for (uint64_t d : t.dims) e.put<uint64_t>(d);
        e.put<uint32_t>(static_cast<uint32_t>(t.type));
        e.put<uint64_t>(offset);
        offset += align_up(t.n_bytes, a);
    }
    b.resize(align_up(b.size(), a), 0);
    return b;
}

void Writer::begin() {
    HSD_ASSERT(!out_ && !finished_, "gguf::Writer::begin called twice");
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail(fmt::format("{}: is a directory", path_));
    const std::vector<uint8_t> head = header();  // validates the alignment before creating anything

    // mkstemp in the destination's directory, so that the final rename() stays within one
    // file system and is atomic.
    std::string templ = path_ + ".tmp-XXXXXX";
    const int fd = ::mkstemp(templ.data());
    if (fd < 0)
        fail(fmt::format("{}: cannot create the output file (temporary {}.tmp-XXXXXX beside it): {}", path_, path_,
                         std::strerror(errno)));
    tmp_path_ = templ;
    // mkstemp makes the file private (0600); give it the permissions a plain create would.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd, 0666 & ~mask);
    out_ = ::fdopen(fd, "wb");
    if (!out_) {
        ::close(fd);
        const int err = errno;
        abandon();
        fail(fmt::format("{}: cannot open the output file: {}", path_, std::strerror(err)));
    }
    std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
    put(head.data(), head.size());
    cur_ = 0;
    cur_done_ = 0;
}

void Writer::put(const void* p, size_t n) {
    if (n == 0) return;
    if (std::fwrite(p, 1, n, out_) != n) {
        const int err = errno;
        abandon();
        fail(fmt::format("{}: write failed after {} bytes: {}", path_, pos_, std::strerror(err)));
    }
    pos_ += n;
}

void Writer::put_zeros(uint64_t n) {
    static const uint8_t zeros[4096] = {};
    while (n > 0) {
        const size_t k = (size_t)std::min<uint64_t>(n, sizeof zeros);
        put(zeros, k);
        n -= k;
    }
}

void Writer::write(const void* data, size_t n) {
    HSD_ASSERT(out_, "gguf::Writer::write before begin()");
    const auto* p = static_cast<const uint8_t*>(data);
    const uint64_t a = alignment();
    while (n > 0) {
        HSD_ASSERT(cur_ < tensors_.size(), fmt::format("{}: {} bytes of tensor data past the last tensor", path_, n));
        const Tensor& t = tensors_[cur_];
        const size_t k = (size_t)std::min<uint64_t>(n, t.n_bytes - cur_done_);
        put(p, k);
        p += k;
        n -= k;
        cur_done_ += k;
        if (cur_done_ == t.n_bytes) {
            put_zeros(align_up(t.n_bytes, a) - t.n_bytes);
            ++cur_;
            cur_done_ = 0;
        }
    }
}

void Writer::finish() {
    HSD_ASSERT(out_, "gguf::Writer::finish before begin()");
    // Zero-sized tensors cannot exist (dims are >= 1), so every tensor must have been completed.
    HSD_ASSERT(cur_ == tensors_.size(), fmt::format("{}: tensor '{}' has {} of its {} bytes", path_,
                                                    cur_ < tensors_.size() ? tensors_[cur_].name : "", cur_done_,
                                                    cur_ < tensors_.size() ? tensors_[cur_].n_bytes : 0));
    int err = 0;
    if (std::fflush(out_) != 0 || ::fsync(::fileno(out_)) != 0) err = errno;
    if (std::fclose(out_) != 0 && err == 0) err = errno;
    out_ = nullptr;
    if (err != 0) {
        abandon();
        fail(fmt::format("{}: write failed: {}", path_, std::strerror(err)));
    }
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
        err = errno;
        abandon();
        fail(fmt::format("{}: cannot rename {} into place: {}", path_, tmp_path_, std::strerror(err)));
    }
    finished_ = true;
    tmp_path_.clear();
}

}  // namespace hsd::gguf
