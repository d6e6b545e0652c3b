#pragma once
// The one GGUF writer of the test suite: hand-made vocabularies (test_tokenizer), tiny random
// models (spec_support), and valid or deliberately corrupt files for the reader (test_gguf).
//
// It writes what it is told, not what is valid: raw value payloads, unknown value or tensor
// types, wrong counts, offsets or dimension counts all go out as given, so that test_gguf can
// build every malformed variant it needs (and poke the returned bytes further).
//
//     GgufWriter w;                        // version 3, no general.alignment (the reader's default 32)
//     w.str("general.architecture", "llama").u32("llama.block_count", 2);
//     w.array<std::string>("tokenizer.ggml.tokens", {"<unk>", "a"});
//     w.kv("a.nested", ValueType::ARRAY, Enc().arr(ValueType::ARRAY, 1).array<uint16_t>({1, 2}));
//     w.tensor_f32("norm.weight", {8}, weights);
//     Bytes b = w.bytes(&layout);  // or w.file("name.gguf"), w.write(path)
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "gguf/gguf_file.h"

namespace hsd::test {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF"

// The GGUF value type of a C++ element type: the integer types of <cstdint>, float, double,
// bool and std::string.
template <typename T>
constexpr gguf::ValueType value_type_of() {
    using V = gguf::ValueType;
    if constexpr (std::is_same_v<T, uint8_t>) return V::UINT8;
    else if constexpr (std::is_same_v<T, int8_t>) return V::INT8;
    else if constexpr (std::is_same_v<T, uint16_t>) return V::UINT16;
    else if constexpr (std::is_same_v<T, int16_t>) return V::INT16;
    else if constexpr (std::is_same_v<T, uint32_t>) return V::UINT32;
    else if constexpr (std::is_same_v<T, int32_t>) return V::INT32;
    else if constexpr (std::is_same_v<T, uint64_t>) return V::UINT64;
    else if constexpr (std::is_same_v<T, int64_t>) return V::INT64;
    else if constexpr (std::is_same_v<T, float>) return V::FLOAT32;
    else if constexpr (std::is_same_v<T, double>) return V::FLOAT64;
    else if constexpr (std::is_same_v<T, bool>) return V::BOOL;
    else if constexpr (std::is_same_v<T, std::string>) return V::STRING;
    else static_assert(sizeof(T) == 0, "no GGUF value type for this C++ type");
}

// Little-endian encoder of untagged GGUF data: value payloads, array headers and elements.
struct Enc {
    Bytes b;

    template <typename T>
    Enc& put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        // resize + memcpy rather than insert(): GCC 12 at -O3 flags the latter (-Wnonnull false positive).
        const size_t at = b.size();
        b.resize(at + sizeof(T));
        std::memcpy(b.data() + at, &v, sizeof(T));
        return *this;
    }
    Enc& type(gguf::ValueType t) { return put<uint32_t>(static_cast<uint32_t>(t)); }
    Enc& str(std::string_view s);
    Enc& raw(const Bytes& o);
    // Array header: element type and length (the elements follow, untagged).
    Enc& arr(gguf::ValueType elem, uint64_t n) { return type(elem).put<uint64_t>(n); }

    // One untagged element of T's value type (bool as one byte 0/1).
    template <typename T>
    Enc& value(const T& v) {
        if constexpr (std::is_same_v<T, std::string>) return str(v);
        else if constexpr (std::is_same_v<T, bool>) return put<uint8_t>(v ? 1 : 0);
        else return put<T>(v);
    }
    // A whole array of T: header and elements (also as an element of a nested array).
    template <typename T>
    Enc& array(const std::vector<T>& v) {
        arr(value_type_of<T>(), v.size());
        for (const T& x : v) value<T>(x);
        return *this;
    }
};

struct GgufTensor {
    std::string name;
    std::vector<uint64_t> dims;       // ggml order: dims[0] is the row length
    uint32_t type = 0;                // ggml type (F32 = 0); any number, known or not
    Bytes data;                       // written as is: its size sets the next offset
    std::optional<uint64_t> offset;   // written instead of the laid-out offset
    std::optional<uint32_t> n_dims;   // written instead of dims.size()
};

// Where things ended up in a written file.
struct GgufLayout {
    size_t tensor_info_begin = 0;   // first byte of the tensor-info section
    size_t tensor_info_end = 0;     // one past its last byte
    size_t data_offset = 0;         // start of the (aligned) data section
    std::vector<uint64_t> offsets;  // tensor offsets relative to data_offset, as laid out
    size_t size = 0;
};

class GgufWriter {
public:
    // Header fields, written as they are (any value, to test the reader's checks).
    uint32_t magic = kGgufMagic;
    uint32_t version = 3;
    std::optional<uint64_t> n_tensors_override;  // written instead of the number of tensors
    std::optional<uint64_t> n_kv_override;       // written instead of the number of key/values
    uint64_t layout_alignment = 32;              // padding used to lay out the data section

    // A key/value with a raw payload: any type tag, any bytes (nested arrays, corrupt values).
    GgufWriter& kv(std::string_view key, gguf::ValueType t, const Enc& payload);
    // A scalar or an array of T's value type.
    template <typename T>
    GgufWriter& scalar(std::string_view key, const T& v) {
        return kv(key, value_type_of<T>(), Enc().value<T>(v));
    }
    template <typename T>
    GgufWriter& array(std::string_view key, const std::vector<T>& v) {
        return kv(key, gguf::ValueType::ARRAY, Enc().array<T>(v));
    }
    GgufWriter& u32(std::string_view key, uint32_t v) { return scalar<uint32_t>(key, v); }
    GgufWriter& f32(std::string_view key, float v) { return scalar<float>(key, v); }
    GgufWriter& boolean(std::string_view key, bool v) { return scalar<bool>(key, v); }
    GgufWriter& str(std::string_view key, std::string_view v) { return kv(key, gguf::ValueType::STRING, Enc().str(v)); }
    // general.alignment as uint32, and the data section laid out with it. Without it the
    // layout uses 32, the reader's default.
    GgufWriter& alignment(uint32_t a);

    GgufWriter& tensor(GgufTensor t);
    GgufWriter& tensor(std::string name, std::vector<uint64_t> dims, uint32_t ggml_type, Bytes data);
    GgufWriter& tensor_f32(std::string name, std::vector<uint64_t> dims, const std::vector<float>& data);

    // The file: header, key/values, tensor infos, then (only when there are tensors) the
    // data section padded to layout_alignment, each tensor at its laid-out offset.
    Bytes bytes(GgufLayout* layout = nullptr) const;
    // Parsed by gguf::File::from_memory; `name` labels its errors.
    std::unique_ptr<gguf::File> file(const std::string& name) const;
    // Written to disk; throws std::runtime_error naming the path when that fails.
    void write(const std::string& path) const;

private:
    Enc kvs_;
    uint64_t n_kv_ = 0;
    std::vector<GgufTensor> tensors_;
};

// Writes any bytes (a GGUF file or not) to `path`; throws std::runtime_error naming it on failure.
void write_file(const std::string& path, const Bytes& bytes);

}  // namespace hsd::test
