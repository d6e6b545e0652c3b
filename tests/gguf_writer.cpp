#include "gguf_writer.h"

#include <fstream>
#include <stdexcept>
#include <utility>

namespace hsd::test {

namespace {
uint64_t round_up(uint64_t x, uint64_t a) { return a == 0 ? x : (x + a - 1) / a * a; }
}  // namespace

Enc& Enc::str(std::string_view s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
}

Enc& Enc::raw(const Bytes& o) {
    b.insert(b.end(), o.begin(), o.end());
    return *this;
}

GgufWriter& GgufWriter::kv(std::string_view key, gguf::ValueType t, const Enc& payload) {
    kvs_.str(key).type(t).raw(payload.b);
    ++n_kv_;
    return *this;
}

GgufWriter& GgufWriter::alignment(uint32_t a) {
    layout_alignment = a;
    return u32("general.alignment", a);
}

GgufWriter& GgufWriter::tensor(GgufTensor t) {
    tensors_.push_back(std::move(t));
    return *this;
}

GgufWriter& GgufWriter::tensor(std::string name, std::vector<uint64_t> dims, uint32_t ggml_type, Bytes data) {
    GgufTensor t;
    t.name = std::move(name);
    t.dims = std::move(dims);
    t.type = ggml_type;
    t.data = std::move(data);
    return tensor(std::move(t));
}

GgufWriter& GgufWriter::tensor_f32(std::string name, std::vector<uint64_t> dims, const std::vector<float>& data) {
    Bytes b(data.size() * sizeof(float));
    if (!b.empty()) std::memcpy(b.data(), data.data(), b.size());
    return tensor(std::move(name), std::move(dims), 0, std::move(b));
}

Bytes GgufWriter::bytes(GgufLayout* layout) const {
    Enc e;
    e.put<uint32_t>(magic).put<uint32_t>(version);
    e.put<uint64_t>(n_tensors_override.value_or(tensors_.size()));
    e.put<uint64_t>(n_kv_override.value_or(n_kv_));
    e.raw(kvs_.b);
    GgufLayout lay;
    lay.tensor_info_begin = e.b.size();
    uint64_t off = 0;
    for (const GgufTensor& t : tensors_) {
        off = round_up(off, layout_alignment);
        lay.offsets.push_back(off);
        e.str(t.name).put<uint32_t>(t.n_dims.value_or((uint32_t)t.dims.size()));
        for (uint64_t d : t.dims) e.put<uint64_t>(d);
        e.put<uint32_t>(t.type).put<uint64_t>(t.offset.value_or(off));
        off += t.data.size();
    }
    lay.tensor_info_end = e.b.size();
    lay.data_offset = round_up(e.b.size(), layout_alignment);
    // A file without tensors ends after its tensor infos: no padding to a data section.
    if (!tensors_.empty()) {
        e.b.resize(lay.data_offset, 0);
        for (size_t k = 0; k < tensors_.size(); ++k) {
            e.b.resize(lay.data_offset + lay.offsets[k], 0);
            e.raw(tensors_[k].data);
        }
    }
    lay.size = e.b.size();
    if (layout) *layout = lay;
    return std::move(e.b);
}

std::unique_ptr<gguf::File> GgufWriter::file(const std::string& name) const {
    return gguf::File::from_memory(bytes(), name);
}

void GgufWriter::write(const std::string& path) const { write_file(path, bytes()); }

void write_file(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), (std::streamsize)bytes.size());
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace hsd::test
