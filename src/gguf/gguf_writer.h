#pragma once
// GGUF v3 writer for `hsd quantize`. The layout (key/values, tensor infos, data) is fixed
// before the first data byte, so the header goes out first and tensor data is then streamed
// in order, in pieces of any size: the output never has to fit in memory.
//
// Everything goes to a temporary file beside the destination, which is renamed over it only
// by finish(): a failed or interrupted run never leaves a half-written file under the
// destination's name (and never touches an existing one).
//
//     Writer w(out_path);
//     w.copy_metadata(in);  w.set("general.file_type", Value::of_u32(15));
//     w.add_tensor(name, dims, type);  ...        // in file order
//     w.begin();                                  // creates the temporary file, writes the header
//     w.write(bytes, n);  ...                     // each tensor's data, in order, in any pieces
//     w.finish();                                 // checks every byte came, renames into place
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf_file.h"

namespace hsd::gguf {

// Values for set(): the reader's Value with one field filled.
Value value_u32(uint32_t v);
Value value_string(const std::string& s);

class Writer {
public:
    explicit Writer(std::string path);
    ~Writer();  // removes the temporary file unless finish() succeeded
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // --- layout (before begin) ------------------------------------------------------------
    // Every key/value of `f`, in its order.
    void copy_metadata(const File& f);
    // Replaces `key` in place (keeping its position) or appends it.
    void set(const std::string& key, Value v);
    // Removes `key` if present (so a following set() appends it at the end).
    void remove(const std::string& key);
    // A tensor of `type`; its data (rows() * tensor_row_bytes(type, dims[0]) bytes) is written
    // after the previous tensor's, at the next multiple of the alignment.
    void add_tensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type);

    // general.alignment if set (validated as the reader does), else 32.
    uint64_t alignment() const;
    uint64_t header_bytes() const { return header().size(); }  // the data section's offset
    uint64_t data_bytes() const;    // the data section: every tensor, each padded to the alignment
    uint64_t file_bytes() const { return header_bytes() + data_bytes(); }
    uint64_t tensor_bytes(size_t i) const { return tensors_.at(i).n_bytes; }

    // --- output ---------------------------------------------------------------------------
    // Creates the temporary file and writes the header. Throws hsd::Error naming the
    // destination when it cannot be created (missing directory, no permission, ...).
    void begin();
    // The next n bytes of tensor data (of the current tensor; padding between tensors is
    // inserted automatically). Writing past the last tensor's end throws.
    void write(const void* data, size_t n);
    // Verifies that all tensor data was written, flushes, syncs and renames into place.
    void finish();

    const std::string& path() const { return path_; }
    // The temporary file being written (empty before begin() and after finish()).
    const std::string& temp_path() const { return tmp_path_; }

private:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        TensorType type;
        uint64_t offset;   // relative to the data section
        uint64_t n_bytes;
    };
    std::vector<uint8_t> header() const;  // everything before the data section, padded
    void put(const void* p, size_t n);
    void put_zeros(uint64_t n);
    void abandon();

    std::string path_;
    std::string tmp_path_;
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<Tensor> tensors_;
    FILE* out_ = nullptr;
    uint64_t pos_ = 0;        // bytes written so far
    size_t cur_ = 0;          // tensor being written
    uint64_t cur_done_ = 0;   // its bytes written so far
    bool finished_ = false;
};

}  // namespace hsd::gguf
