#include "testing/widen_ffn.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace hsd {

namespace {
bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
}  // namespace

void write_widened_ffn(const std::string& in, const std::string& out, int64_t new_ffn, uint64_t seed) {
    auto src = gguf::File::open(in);
    const std::string arch = src->get_string("general.architecture");
    const std::string ffn_key = arch + ".feed_forward_length";
    const uint64_t ffn = src->get_uint(ffn_key);
    if (new_ffn <= (int64_t)ffn)
        fail(fmt::format("--ffn {} must be larger than {}'s feed-forward width {}", new_ffn, in, ffn));
    const uint64_t nf = (uint64_t)new_ffn;

    gguf::Writer w(out);
    w.copy_metadata(*src);
    w.set(ffn_key, gguf::value_u32((uint32_t)nf));
    w.set("general.name", gguf::value_string(src->get_string("general.name") + fmt::format("-ffn{}", nf)));
    enum class Kind { Copy, GateUp, Down };
    std::vector<Kind> kinds;
    for (const gguf::TensorInfo& t : src->tensors()) {
        Kind k = Kind::Copy;
        if (ends_with(t.name, ".ffn_gate.weight") || ends_with(t.name, ".ffn_up.weight")) k = Kind::GateUp;
        if (ends_with(t.name, ".ffn_down.weight")) k = Kind::Down;
        std::vector<uint64_t> dims = t.dims;
        if (k != Kind::Copy) {
            if (t.type() != gguf::TensorType::F16)
                fail(fmt::format("{}: tensor '{}' is not F16; widening needs F16 FFN matrices", in, t.name));
            if (k == Kind::GateUp) dims[1] = nf;  // [n_embd, ffn] -> [n_embd, nf]: more rows
            else dims[0] = nf;                    // [ffn, n_embd] -> [nf, n_embd]: longer rows
        }
        w.add_tensor(t.name, dims, t.type());
        kinds.push_back(k);
    }
    w.begin();
    uint64_t s = seed;
    auto uniform = [&s] {  // splitmix64 -> [-1, 1)
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        return (float)((z >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
    };
    std::vector<uint16_t> row;
    for (size_t i = 0; i < src->tensors().size(); ++i) {
        const gguf::TensorInfo& t = src->tensors()[i];
        if (kinds[i] == Kind::Copy) {
            w.write(t.data, t.n_bytes);
        } else if (kinds[i] == Kind::GateUp) {
            w.write(t.data, t.n_bytes);  // the original units, then the inert ones
            const uint64_t cols = t.dims[0];
            const float a = std::sqrt(3.0f / (float)cols);
            row.resize(cols);
            for (uint64_t r = ffn; r < nf; ++r) {
                for (uint64_t k = 0; k < cols; ++k) row[k] = f32_to_f16(a * uniform());
                w.write(row.data(), row.size() * sizeof(uint16_t));
            }
        } else {
            const uint64_t rows = t.rows();
            row.assign(nf, 0);  // F16 +0: the extra columns
            const uint16_t* p = reinterpret_cast<const uint16_t*>(t.data);
            for (uint64_t r = 0; r < rows; ++r) {
                std::memcpy(row.data(), p + r * ffn, ffn * sizeof(uint16_t));
                w.write(row.data(), row.size() * sizeof(uint16_t));
            }
        }
    }
    w.finish();
}

}  // namespace hsd
