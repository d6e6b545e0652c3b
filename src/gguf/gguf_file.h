#pragma once
// Memory-mapped GGUF (v2/v3) reader. Every count, length, dimension and offset is
// validated against the file size before use; any problem throws hsd::Error naming the
// file and what is wrong. Tensor data is never copied: TensorInfo::data points into the map.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hsd::gguf {

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType t);

// ggml tensor element types this engine computes with. Other ggml types are recognised by
// name (for `hsd info` and error messages) but refused when a model tries to use them.
// Block layouts of the quantized types: quant/blocks.h.
enum class TensorType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,  // Q8_K: activations only
    IQ4_NL = 20, IQ4_XS = 23, BF16 = 30,
};
const char* tensor_type_name(uint32_t ggml_type);  // "F16", "Q4_K", ... or "unknown"
inline const char* tensor_type_name(TensorType t) { return tensor_type_name(static_cast<uint32_t>(t)); }
// Types a model's tensors may have (every TensorType but Q8_K).
bool tensor_type_supported(uint32_t ggml_type);
// "F32, F16, BF16, Q4_0, ...": for error messages.
const char* supported_tensor_types_text();
// The type named `name` (case-insensitive, "q4_k" or "Q4_K"), if it is a supported one.
std::optional<TensorType> tensor_type_from_name(const std::string& name);
// Bytes for n elements of a row of this type; n must be a multiple of the block size.
size_t tensor_row_bytes(TensorType t, uint64_t n);
uint64_t tensor_block_size(TensorType t);


// A metadata value. Scalars are widened into one of u/i/f/b; arrays keep their element type.
struct Value {
    ValueType type = ValueType::UINT8;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    std::string str;
    ValueType elem_type = ValueType::UINT8;  // for ARRAY
    std::vector<Value> arr;                  // for ARRAY

    std::string to_string(size_t max_items = 8) const;
};

struct TensorInfo {
    std::string name;
    uint32_t ggml_type = 0;
    std::vector<uint64_t> dims;  // ggml order: dims[0] is the contiguous (row) length
    uint64_t offset = 0;         // relative to the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;

    TensorType type() const { return static_cast<TensorType>(ggml_type); }
    uint64_t rows() const;  // product of dims[1..]
    std::string shape_string() const;
};

class File {
public:
    // Opens and fully validates the file. Throws hsd::Error on any problem.
    static std::unique_ptr<File> open(const std::string& path);
    // Parses an in-memory image (used by tests on hand-made files); `name` labels errors.
    static std::unique_ptr<File> from_memory(std::vector<uint8_t> bytes, const std::string& name);
    ~File();
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t file_size() const { return size_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }

    const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }

    // Drops the resident pages that lie wholly inside [p, p + bytes) of the map (a reader of
    // a copy of these bytes, such as a repacked matrix, keeps memory at one copy); touching
    // them again reads them back from the file. No-op for a file parsed from memory.
    void release(const void* p, size_t bytes) const;

    const Value* find(const std::string& key) const;
    const TensorInfo* find_tensor(const std::string& name) const;
    const TensorInfo& tensor(const std::string& name) const;  // throws if missing

    // Typed getters: throw naming the file and key when missing or of the wrong type.
    uint64_t get_uint(const std::string& key) const;
    uint64_t get_uint(const std::string& key, uint64_t fallback) const;
    double get_float(const std::string& key) const;
    double get_float(const std::string& key, double fallback) const;
    bool get_bool(const std::string& key, bool fallback) const;
    std::string get_string(const std::string& key) const;
    std::vector<std::string> get_string_array(const std::string& key) const;
    std::vector<float> get_float_array(const std::string& key) const;
    std::vector<int64_t> get_int_array(const std::string& key) const;
    std::vector<int64_t> get_int_array(const std::string& key, std::vector<int64_t> fallback) const;

private:
    File() = default;
    void parse();

    std::string path_;
    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    void* map_ = nullptr;          // mmap'ed region (when opened from disk)
    std::vector<uint8_t> owned_;   // backing bytes (when parsed from memory)
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, Value>> kv_;
    std::map<std::string, size_t> kv_index_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace hsd::gguf
