// Loading quantized GGUF files that are damaged: every problem is an error naming the file,
// the tensor and what is wrong, never a crash or a silently wrong model (also under
// ASan/UBSan). The files are llama.cpp's quantizations of hsd-m1, edited byte by byte.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/gguf_file.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "test_support.h"

using namespace hsd;
using namespace hsd::test;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string temp_file(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("hsd_qload_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Writes the bytes, loads them as a model, removes the file; returns the error ("" if it loaded).
std::string load_error(const Bytes& b, const std::string& name) {
    const std::string path = temp_file(name);
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(b.data()), (std::streamsize)b.size());
    }
    std::string msg;
    try {
        Model::load(path);
    } catch (const Error& e) {
        msg = e.what();
    }
    std::filesystem::remove(path);
    return msg;
}

// Offset of the type field in the tensor-info entry of `tensor` (name, n_dims, dims, type).
size_t type_field(const Bytes& b, const std::string& tensor) {
    const std::string needle = tensor;
    for (size_t i = 8; i + needle.size() < b.size(); ++i) {
        uint64_t len;
        std::memcpy(&len, &b[i - 8], 8);
        if (len != needle.size() || std::memcmp(&b[i], needle.data(), needle.size()) != 0) continue;
        uint32_t nd;
        std::memcpy(&nd, &b[i + needle.size()], 4);
        return i + needle.size() + 4 + 8 * (size_t)nd;
    }
    ADD_FAILURE() << "tensor " << tensor << " not found";
    return 0;
}

const std::string kQ4KM = "models/quant/hsd-m1-Q4_K_M.gguf";

TEST(QuantLoading, UnsupportedTypeNamesItselfAndTheSupportedOnes) {
    HSD_REQUIRE_SHARED(kQ4KM);
    Bytes b = read_all(shared_path(kQ4KM));
    // blk.0.attn_q.weight is Q4_K ([256, 256]: 256 blocks of 144 bytes); as MXFP4 (32-blocks
    // of 17 bytes) its data is smaller and still inside the file, so only the type is wrong.
    const size_t at = type_field(b, "blk.0.attn_q.weight");
    const uint32_t mxfp4 = 39;
    std::memcpy(&b[at], &mxfp4, 4);
    const std::string msg = load_error(b, "mxfp4.gguf");
    EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("type 39 (MXFP4)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Q4_K"), std::string::npos) << msg;
    EXPECT_NE(msg.find("IQ4_XS"), std::string::npos) << msg;
    // A type id ggml never had.
    const uint32_t bogus = 77;
    std::memcpy(&b[at], &bogus, 4);
    const std::string msg2 = load_error(b, "bogus.gguf");
    EXPECT_NE(msg2.find("unknown tensor type 77"), std::string::npos) << msg2;
}

TEST(QuantLoading, BlockSizeThatDoesNotDivideTheRowIsNamed) {
    HSD_REQUIRE_SHARED(kQ4KM);
    Bytes b = read_all(shared_path(kQ4KM));
    // blk.0.ffn_down.weight has rows of 704 (llama.cpp fell back to a 32-block type): as Q4_K
    // (256-blocks) the row does not divide.
    const size_t at = type_field(b, "blk.0.ffn_down.weight");
    const uint32_t q4k = 12;
    std::memcpy(&b[at], &q4k, 4);
    const std::string msg = load_error(b, "rows.gguf");
    EXPECT_NE(msg.find("blk.0.ffn_down.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("704"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block size 256"), std::string::npos) << msg;
}

TEST(QuantLoading, DataPastTheEndIsNamed) {
    HSD_REQUIRE_SHARED(kQ4KM);
    Bytes b = read_all(shared_path(kQ4KM));
    b.resize(b.size() - 1000);
    const std::string msg = load_error(b, "short.gguf");
    EXPECT_NE(msg.find("blk.3.ffn_up.weight"), std::string::npos) << msg;  // the last tensor in the file
    EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
}

TEST(QuantLoading, NonFiniteScaleIsNamedWithItsBlock) {
    HSD_REQUIRE_SHARED(kQ4KM);
    Bytes b = read_all(shared_path(kQ4KM));
    auto f = gguf::File::open(shared_path(kQ4KM));
    const gguf::TensorInfo& t = f->tensor("blk.1.attn_q.weight");
    ASSERT_EQ(t.type(), gguf::TensorType::Q4_K);
    const size_t block = 5;  // Q4_K: d is the first F16 of each 144-byte block
    const size_t at = (size_t)(f->data_offset() + t.offset) + block * 144;
    const uint16_t nan = 0x7e00;
    std::memcpy(&b[at], &nan, 2);
    const std::string msg = load_error(b, "nan.gguf");
    EXPECT_NE(msg.find("blk.1.attn_q.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block 5"), std::string::npos) << msg;
    const uint16_t inf = 0x7c00;
    std::memcpy(&b[at], &inf, 2);
    EXPECT_NE(load_error(b, "inf.gguf").find("blk.1.attn_q.weight"), std::string::npos);
}

TEST(QuantLoading, ArbitraryQuantBitsLoadAndRunWithoutCrashing) {
    // Any bit pattern of the quants themselves is a valid value; only scales can be
    // non-finite. Random bytes over the data section (scales repaired to finite values are
    // not needed: a model that fails validation must say so, one that loads must run).
    HSD_REQUIRE_SHARED(kQ4KM);
    const Bytes orig = read_all(shared_path(kQ4KM));
    auto f = gguf::File::open(shared_path(kQ4KM));
    std::mt19937 rng(3);
    ThreadPool pool(2);
    int loaded = 0, refused = 0;
    for (int trial = 0; trial < 6; ++trial) {
        Bytes b = orig;
        for (int k = 0; k < 2000; ++k) {
            const size_t at = f->data_offset() + rng() % (b.size() - f->data_offset());
            b[at] = (uint8_t)rng();
        }
        const std::string path = temp_file("rand" + std::to_string(trial) + ".gguf");
        {
            std::ofstream out(path, std::ios::binary);
            out.write(reinterpret_cast<const char*>(b.data()), (std::streamsize)b.size());
        }
        try {
            auto m = Model::load(path);
            Context ctx(*m, pool, 64);
            const std::vector<TokenId> toks = {1, 300, 301, 302, 303, 304, 305, 306};
            ctx.eval(toks, true);
            ++loaded;
        } catch (const Error& e) {
            ++refused;
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
        std::filesystem::remove(path);
    }
    EXPECT_EQ(loaded + refused, 6);
}

}  // namespace
