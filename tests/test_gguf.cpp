// Tests for the GGUF reader (src/gguf/gguf_file.*):
//  - the five shared models parse and describe the expected Llama models;
//  - hand-made v2/v3 files (every metadata value type, nested arrays, F32/F16/Q8_0/BF16
//    tensors, alignment 32 and 64) round-trip through File::from_memory / File::open;
//  - corrupt files (truncated at every header offset, bad magic/version, absurd counts and
//    lengths, bad dims, bad offsets, bad alignment, unknown types, bad bools, duplicates,
//    deep nesting, random byte flips) each throw hsd::Error naming the file and the
//    problem, and never crash (run this binary under ASan/UBSan too);
//  - typed getters name the key when it is missing or has the wrong type.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "quant/blocks.h"
#include "gguf_writer.h"
#include "test_support.h"

namespace {

using hsd::gguf::File;
using hsd::gguf::TensorInfo;
using hsd::gguf::Value;
using hsd::gguf::ValueType;
using hsd::test::Bytes;
using hsd::test::Enc;
using hsd::test::GgufLayout;
using hsd::test::GgufTensor;
using hsd::test::GgufWriter;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ4_K = 12, kBF16 = 30;

// ---------------------------------------------------------------------------------------
// Hand-made files (tests/gguf_writer.h writes them, valid or not).

// Bytes of a tensor of `type` with these dims (the test's own table, independent of the reader).
uint64_t expected_bytes(uint32_t type, const std::vector<uint64_t>& dims) {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    switch (type) {
        case kF32: return n * 4;
        case kF16: case kBF16: return n * 2;
        case kQ8_0: return n / 32 * 34;
        case kQ4_K: return n / 256 * 144;
    }
    ADD_FAILURE() << "no size for type " << type;
    return 0;
}

Bytes pattern(size_t n, uint8_t salt) {
    Bytes b(n);
    for (size_t k = 0; k < n; ++k) b[k] = (uint8_t)(k * 31 + salt * 17 + 1);
    return b;
}

GgufTensor make_tensor(std::string name, std::vector<uint64_t> dims, uint32_t type, uint8_t salt = 0) {
    GgufTensor t;
    t.name = std::move(name);
    t.dims = std::move(dims);
    t.type = type;
    t.data = pattern(expected_bytes(type, t.dims), salt);
    return t;
}

// Two float32s, written exactly.
Bytes f32_bytes(std::initializer_list<float> v) {
    Enc e;
    for (float x : v) e.put(x);
    return e.b;
}

// Metadata of every value type, including empty and nested arrays.
void add_all_value_types(GgufWriter& b) {
    b.str("general.architecture", "llama");
    b.kv("t.u8", ValueType::UINT8, Enc().put<uint8_t>(255));
    b.kv("t.i8", ValueType::INT8, Enc().put<int8_t>(-128));
    b.kv("t.u16", ValueType::UINT16, Enc().put<uint16_t>(65535));
    b.kv("t.i16", ValueType::INT16, Enc().put<int16_t>(-32768));
    b.kv("t.u32", ValueType::UINT32, Enc().put<uint32_t>(0xFFFFFFFFu));
    b.kv("t.i32", ValueType::INT32, Enc().put<int32_t>(std::numeric_limits<int32_t>::min()));
    b.kv("t.f32", ValueType::FLOAT32, Enc().put<float>(1.5f));
    b.kv("t.bool_true", ValueType::BOOL, Enc().put<uint8_t>(1));
    b.kv("t.bool_false", ValueType::BOOL, Enc().put<uint8_t>(0));
    b.kv("t.str", ValueType::STRING, Enc().str(std::string_view("h\xc3\xa9llo\0x", 8)));
    b.kv("t.str_empty", ValueType::STRING, Enc().str(""));
    b.kv("t.u64", ValueType::UINT64, Enc().put<uint64_t>(std::numeric_limits<uint64_t>::max()));
    b.kv("t.i64", ValueType::INT64, Enc().put<int64_t>(std::numeric_limits<int64_t>::min()));
    b.kv("t.f64", ValueType::FLOAT64, Enc().put<double>(-2.25e300));
    b.kv("a.u8", ValueType::ARRAY, Enc().arr(ValueType::UINT8, 3).put<uint8_t>(0).put<uint8_t>(7).put<uint8_t>(255));
    b.kv("a.i8", ValueType::ARRAY, Enc().arr(ValueType::INT8, 2).put<int8_t>(-1).put<int8_t>(1));
    b.kv("a.u16", ValueType::ARRAY, Enc().arr(ValueType::UINT16, 1).put<uint16_t>(1000));
    b.kv("a.i16", ValueType::ARRAY, Enc().arr(ValueType::INT16, 2).put<int16_t>(-300).put<int16_t>(300));
    b.kv("a.u32", ValueType::ARRAY, Enc().arr(ValueType::UINT32, 4).put<uint32_t>(2).put<uint32_t>(4).put<uint32_t>(8).put<uint32_t>(12));
    b.kv("a.i32", ValueType::ARRAY, Enc().arr(ValueType::INT32, 2).put<int32_t>(-5).put<int32_t>(6));
    b.kv("a.f32", ValueType::ARRAY, Enc().arr(ValueType::FLOAT32, 3).put(0.25f).put(-1.0f).put(3.0f));
    b.kv("a.bool", ValueType::ARRAY, Enc().arr(ValueType::BOOL, 3).put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(1));
    b.kv("a.str", ValueType::ARRAY, Enc().arr(ValueType::STRING, 3).str("<unk>").str("").str("tok"));
    b.kv("a.u64", ValueType::ARRAY, Enc().arr(ValueType::UINT64, 1).put<uint64_t>(1ull << 40));
    b.kv("a.i64", ValueType::ARRAY, Enc().arr(ValueType::INT64, 1).put<int64_t>(-(1ll << 40)));
    b.kv("a.f64", ValueType::ARRAY, Enc().arr(ValueType::FLOAT64, 2).put(0.5).put(1e-300));
    b.kv("a.empty", ValueType::ARRAY, Enc().arr(ValueType::INT32, 0));
    // Array of arrays of strings: [["a", "bc"], [], ["def"]].
    b.kv("a.nested", ValueType::ARRAY,
         Enc().arr(ValueType::ARRAY, 3)
             .arr(ValueType::STRING, 2).str("a").str("bc")
             .arr(ValueType::STRING, 0)
             .arr(ValueType::STRING, 1).str("def"));
    // Three levels: [[[1, 2]], [[3]]] of uint16.
    b.kv("a.nested3", ValueType::ARRAY,
         Enc().arr(ValueType::ARRAY, 2)
             .arr(ValueType::ARRAY, 1).arr(ValueType::UINT16, 2).put<uint16_t>(1).put<uint16_t>(2)
             .arr(ValueType::ARRAY, 1).arr(ValueType::UINT16, 1).put<uint16_t>(3));
}

void add_tensors(GgufWriter& b) {
    GgufTensor norm;
    norm.name = "norm.weight";
    norm.dims = {8};
    norm.type = kF32;
    norm.data = f32_bytes({1, 2, 3, 4, 5, 6, 7, -8.5f});
    b.tensor(norm);
    b.tensor(make_tensor("mat.f16", {16, 3}, kF16, 1));
    b.tensor(make_tensor("mat.q8_0", {64, 2}, kQ8_0, 2));
    b.tensor(make_tensor("mat.bf16", {4, 4, 2}, kBF16, 3));
    b.tensor(make_tensor("vec.4d", {2, 1, 3, 2}, kF32, 4));
}

// The rich valid file used by round-trip, truncation and byte-flip tests.
Bytes rich_file(uint32_t version = 3, uint32_t alignment = 32, GgufLayout* layout = nullptr) {
    GgufWriter b;
    b.version = version;
    add_all_value_types(b);
    b.alignment(alignment);
    add_tensors(b);
    return b.bytes(layout);
}

// A small valid file with one F32 tensor, for targeted corruption.
GgufWriter small_builder() {
    GgufWriter b;
    b.str("general.architecture", "llama");
    b.alignment(32);
    b.tensor(make_tensor("w", {4, 2}, kF32));
    return b;
}

// ---------------------------------------------------------------------------------------
// Error helpers.

// Runs f; returns the hsd::Error message, or records a failure for any other outcome.
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const hsd::Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw a non-hsd exception: " << e.what();
        return "<non-hsd exception>";
    } catch (...) {
        ADD_FAILURE() << "threw a non-std exception";
        return "<unknown exception>";
    }
    ADD_FAILURE() << "did not throw";
    return "<no exception>";
}

bool contains(const std::string& s, std::string_view sub) { return s.find(sub) != std::string::npos; }

bool contains_any(const std::string& s, std::initializer_list<std::string_view> subs) {
    for (std::string_view x : subs)
        if (contains(s, x)) return true;
    return false;
}

// Parsing `bytes` must throw hsd::Error naming `name` and containing one of `words`.
void expect_parse_error(Bytes bytes, const std::string& name, std::initializer_list<std::string_view> words) {
    const std::string msg = error_of([&] { File::from_memory(std::move(bytes), name); });
    EXPECT_TRUE(contains(msg, name)) << "message does not name the file '" << name << "': " << msg;
    EXPECT_TRUE(contains_any(msg, words)) << "message lacks the expected word: " << msg;
}

#define EXPECT_GGUF_ERROR(bytes, name, ...)                                \
    do {                                                                   \
        SCOPED_TRACE(name);                                                \
        expect_parse_error((bytes), (name), {__VA_ARGS__});                \
    } while (0)

template <typename T>
void poke(Bytes& b, size_t at, T v) {
    ASSERT_LE(at + sizeof(T), b.size());
    std::memcpy(b.data() + at, &v, sizeof(T));
}

// Touches every byte of every tensor (so ASan flags a data pointer that escaped the image)
// and checks the bounds arithmetic.
uint64_t touch_tensors(const File& f) {
    uint64_t sum = 0;
    for (const TensorInfo& t : f.tensors()) {
        EXPECT_NE(t.data, nullptr);
        EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size()) << t.name;
        for (uint64_t k = 0; k < t.n_bytes; ++k) sum += t.data[k];
    }
    return sum;
}

// ---------------------------------------------------------------------------------------
// Shared models.

struct ModelFacts {
    const char* name;
    uint64_t blocks, d, ffn, heads;
    std::vector<int64_t> exits;  // empty: no hsd.early_exit.layers
    uint64_t file_bytes;
};

const ModelFacts kModels[] = {
    {"hsd-m0", 2, 128, 384, 4, {}, 5223392},
    {"hsd-m1", 4, 256, 704, 4, {}, 14995968},
    {"hsd-m2", 8, 384, 1024, 6, {}, 41098304},
    {"hsd-ee-small", 8, 256, 704, 4, {1, 2, 4, 6}, 21428864},
    {"hsd-target", 16, 448, 1216, 8, {2, 4, 8, 12}, 92909120},
};

void PrintTo(const ModelFacts& m, std::ostream* os) { *os << m.name; }

class SharedModel : public ::testing::TestWithParam<ModelFacts> {};

TEST_P(SharedModel, ParsesAndDescribesLlama) {
    const ModelFacts& m = GetParam();
    const std::string rel = std::string("models/") + m.name + ".gguf";
    HSD_REQUIRE_SHARED(rel);
    const std::string path = hsd::test::shared_path(rel);
    std::unique_ptr<File> f = File::open(path);
    ASSERT_TRUE(f);

    EXPECT_EQ(f->path(), path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->file_size(), m.file_bytes);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->data_offset() % 32, 0u);
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->get_string("general.name"), m.name);
    EXPECT_EQ(f->get_uint("llama.block_count"), m.blocks);
    EXPECT_EQ(f->get_uint("llama.embedding_length"), m.d);
    EXPECT_EQ(f->get_uint("llama.feed_forward_length"), m.ffn);
    EXPECT_EQ(f->get_uint("llama.attention.head_count"), m.heads);
    EXPECT_EQ(f->get_uint("llama.attention.head_count_kv"), m.heads);
    EXPECT_EQ(f->get_uint("llama.rope.dimension_count"), m.d / m.heads);
    EXPECT_EQ(f->get_uint("llama.context_length"), 1024u);
    EXPECT_EQ(f->get_uint("llama.vocab_size"), 8192u);
    EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
    EXPECT_DOUBLE_EQ(f->get_float("llama.rope.freq_base"), 10000.0);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    const std::vector<std::string> tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.size(), 8192u);
    EXPECT_EQ(tokens[0], "<unk>");
    EXPECT_EQ(tokens[1], "<s>");
    EXPECT_EQ(tokens[2], "</s>");
    EXPECT_EQ(f->get_float_array("tokenizer.ggml.scores").size(), 8192u);
    EXPECT_EQ(f->get_int_array("tokenizer.ggml.token_type").size(), 8192u);
    EXPECT_EQ(f->get_uint("tokenizer.ggml.bos_token_id"), 1u);
    EXPECT_EQ(f->get_uint("tokenizer.ggml.eos_token_id"), 2u);
    EXPECT_EQ(f->get_uint("tokenizer.ggml.unknown_token_id"), 0u);
    EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token", false));
    EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_eos_token", true));

    if (m.exits.empty()) {
        EXPECT_EQ(f->find("hsd.early_exit.layers"), nullptr);
        EXPECT_TRUE(f->get_int_array("hsd.early_exit.layers", {}).empty());
    } else {
        EXPECT_EQ(f->get_int_array("hsd.early_exit.layers"), m.exits);
        EXPECT_EQ(f->find("hsd.early_exit.layers")->elem_type, ValueType::UINT32);
    }

    // 9 tensors per block + token_embd, output_norm, output.
    ASSERT_EQ(f->tensors().size(), 9 * m.blocks + 3);
    auto expect_tensor = [&](const std::string& name, std::vector<uint64_t> dims) {
        const TensorInfo* t = f->find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->dims, dims) << name;
        // Matrices are F16, norms F32.
        EXPECT_EQ(t->ggml_type, dims.size() == 1 ? kF32 : kF16) << name;
        EXPECT_TRUE(hsd::gguf::tensor_type_supported(t->ggml_type)) << name;
        EXPECT_EQ(&f->tensor(name), t);
    };
    expect_tensor("token_embd.weight", {m.d, 8192});
    expect_tensor("output_norm.weight", {m.d});
    expect_tensor("output.weight", {m.d, 8192});
    for (uint64_t i = 0; i < m.blocks; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        expect_tensor(p + "attn_norm.weight", {m.d});
        expect_tensor(p + "attn_q.weight", {m.d, m.d});
        expect_tensor(p + "attn_k.weight", {m.d, m.d});
        expect_tensor(p + "attn_v.weight", {m.d, m.d});
        expect_tensor(p + "attn_output.weight", {m.d, m.d});
        expect_tensor(p + "ffn_norm.weight", {m.d});
        expect_tensor(p + "ffn_gate.weight", {m.d, m.ffn});
        expect_tensor(p + "ffn_up.weight", {m.d, m.ffn});
        expect_tensor(p + "ffn_down.weight", {m.ffn, m.d});
    }

    // Every tensor's data lies inside the file, aligned, without overlaps.
    const uint8_t* base = f->tensors()[0].data - f->tensors()[0].offset - f->data_offset();
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (const TensorInfo& t : f->tensors()) {
        EXPECT_EQ(t.n_bytes, expected_bytes(t.ggml_type, t.dims)) << t.name;
        EXPECT_EQ(t.n_elements * (t.ggml_type == kF32 ? 4 : 2), t.n_bytes) << t.name;
        EXPECT_EQ(t.offset % 32, 0u) << t.name;
        EXPECT_LE(f->data_offset() + t.offset + t.n_bytes, f->file_size()) << t.name;
        EXPECT_EQ(t.data, base + f->data_offset() + t.offset) << t.name;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << t.name;  // mmap is page aligned
        spans.emplace_back(t.offset, t.offset + t.n_bytes);
    }
    std::sort(spans.begin(), spans.end());
    for (size_t k = 1; k < spans.size(); ++k) EXPECT_LE(spans[k - 1].second, spans[k].first);
    EXPECT_EQ(f->data_offset() + spans.back().second, f->file_size());  // no trailing junk

    // Norm weights are finite floats; the last byte of the file is readable.
    const TensorInfo& norm = f->tensor("output_norm.weight");
    for (uint64_t k = 0; k < norm.n_elements; ++k) {
        float x;
        std::memcpy(&x, norm.data + 4 * k, 4);
        EXPECT_TRUE(std::isfinite(x)) << k;
    }
    const TensorInfo& out = f->tensor("output.weight");
    volatile uint8_t last = out.data[out.n_bytes - 1];
    (void)last;
}

std::string model_param_name(const ::testing::TestParamInfo<ModelFacts>& info) {
    std::string s = info.param.name;
    for (char& ch : s)
        if (ch == '-') ch = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Gguf, SharedModel, ::testing::ValuesIn(kModels), model_param_name);

// ---------------------------------------------------------------------------------------
// Hand-made valid files.

void check_rich_file(const File& f, uint32_t version, uint32_t alignment, const GgufLayout& lay) {
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.file_size(), lay.size);
    EXPECT_EQ(f.data_offset(), lay.data_offset);
    EXPECT_EQ(f.data_offset() % alignment, 0u);

    // Metadata, in file order.
    ASSERT_EQ(f.metadata().size(), 31u);
    EXPECT_EQ(f.metadata()[0].first, "general.architecture");
    EXPECT_EQ(f.metadata().back().first, "general.alignment");
    EXPECT_EQ(f.get_string("general.architecture"), "llama");

    auto val = [&](const char* key) -> const Value& {
        const Value* v = f.find(key);
        EXPECT_NE(v, nullptr) << key;
        static const Value empty;
        return v ? *v : empty;
    };
    EXPECT_EQ(val("t.u8").type, ValueType::UINT8);
    EXPECT_EQ(val("t.u8").u, 255u);
    EXPECT_EQ(val("t.i8").type, ValueType::INT8);
    EXPECT_EQ(val("t.i8").i, -128);
    EXPECT_EQ(val("t.u16").u, 65535u);
    EXPECT_EQ(val("t.i16").i, -32768);
    EXPECT_EQ(val("t.u32").u, 0xFFFFFFFFu);
    EXPECT_EQ(val("t.i32").i, std::numeric_limits<int32_t>::min());
    EXPECT_EQ(val("t.f32").type, ValueType::FLOAT32);
    EXPECT_EQ(val("t.f32").f, 1.5);
    EXPECT_EQ(val("t.bool_true").type, ValueType::BOOL);
    EXPECT_TRUE(val("t.bool_true").b);
    EXPECT_FALSE(val("t.bool_false").b);
    EXPECT_EQ(val("t.str").str, std::string("h\xc3\xa9llo\0x", 8));
    EXPECT_EQ(val("t.str_empty").type, ValueType::STRING);
    EXPECT_EQ(val("t.str_empty").str, "");
    EXPECT_EQ(val("t.u64").type, ValueType::UINT64);
    EXPECT_EQ(val("t.u64").u, std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(val("t.i64").i, std::numeric_limits<int64_t>::min());
    EXPECT_EQ(val("t.f64").type, ValueType::FLOAT64);
    EXPECT_EQ(val("t.f64").f, -2.25e300);

    EXPECT_EQ(f.get_uint("t.u8"), 255u);
    EXPECT_EQ(f.get_uint("t.u16"), 65535u);
    EXPECT_EQ(f.get_uint("t.u32"), 0xFFFFFFFFu);
    EXPECT_EQ(f.get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(f.get_uint("general.alignment"), alignment);
    EXPECT_EQ(f.get_float("t.f32"), 1.5);
    EXPECT_EQ(f.get_float("t.f64"), -2.25e300);
    EXPECT_EQ(f.get_float("t.i16"), -32768.0);
    EXPECT_EQ(f.get_float("t.u64"), 18446744073709551615.0);  // unsigned, not -1
    EXPECT_TRUE(f.get_bool("t.bool_true", false));
    EXPECT_FALSE(f.get_bool("t.bool_false", true));
    EXPECT_EQ(f.get_string("t.str_empty"), "");

    EXPECT_EQ(f.get_int_array("a.u8"), (std::vector<int64_t>{0, 7, 255}));
    EXPECT_EQ(f.get_int_array("a.i8"), (std::vector<int64_t>{-1, 1}));
    EXPECT_EQ(f.get_int_array("a.u16"), (std::vector<int64_t>{1000}));
    EXPECT_EQ(f.get_int_array("a.i16"), (std::vector<int64_t>{-300, 300}));
    EXPECT_EQ(f.get_int_array("a.u32"), (std::vector<int64_t>{2, 4, 8, 12}));
    EXPECT_EQ(f.get_int_array("a.i32"), (std::vector<int64_t>{-5, 6}));
    EXPECT_EQ(f.get_int_array("a.u64"), (std::vector<int64_t>{1ll << 40}));
    EXPECT_EQ(f.get_int_array("a.i64"), (std::vector<int64_t>{-(1ll << 40)}));
    EXPECT_EQ(f.get_float_array("a.f32"), (std::vector<float>{0.25f, -1.0f, 3.0f}));
    EXPECT_EQ(f.get_float_array("a.f64"), (std::vector<float>{0.5f, (float)1e-300}));
    EXPECT_EQ(f.get_string_array("a.str"), (std::vector<std::string>{"<unk>", "", "tok"}));
    EXPECT_TRUE(f.get_int_array("a.empty").empty());
    EXPECT_EQ(val("a.empty").elem_type, ValueType::INT32);
    const Value& bools = val("a.bool");
    EXPECT_EQ(bools.elem_type, ValueType::BOOL);
    ASSERT_EQ(bools.arr.size(), 3u);
    EXPECT_TRUE(bools.arr[0].b);
    EXPECT_FALSE(bools.arr[1].b);
    EXPECT_TRUE(bools.arr[2].b);

    const Value& nested = val("a.nested");
    EXPECT_EQ(nested.type, ValueType::ARRAY);
    EXPECT_EQ(nested.elem_type, ValueType::ARRAY);
    ASSERT_EQ(nested.arr.size(), 3u);
    EXPECT_EQ(nested.arr[0].type, ValueType::ARRAY);
    EXPECT_EQ(nested.arr[0].elem_type, ValueType::STRING);
    ASSERT_EQ(nested.arr[0].arr.size(), 2u);
    EXPECT_EQ(nested.arr[0].arr[0].str, "a");
    EXPECT_EQ(nested.arr[0].arr[1].str, "bc");
    EXPECT_TRUE(nested.arr[1].arr.empty());
    ASSERT_EQ(nested.arr[2].arr.size(), 1u);
    EXPECT_EQ(nested.arr[2].arr[0].str, "def");
    EXPECT_EQ(nested.to_string(), "[[\"a\", \"bc\"], [], [\"def\"]]");
    const Value& n3 = val("a.nested3");
    ASSERT_EQ(n3.arr.size(), 2u);
    ASSERT_EQ(n3.arr[0].arr.size(), 1u);
    ASSERT_EQ(n3.arr[0].arr[0].arr.size(), 2u);
    EXPECT_EQ(n3.arr[0].arr[0].elem_type, ValueType::UINT16);
    EXPECT_EQ(n3.arr[0].arr[0].arr[1].u, 2u);
    EXPECT_EQ(n3.arr[1].arr[0].arr[0].u, 3u);

    // Tensors: shapes, sizes, offsets, data pointers into the image.
    ASSERT_EQ(f.tensors().size(), 5u);
    struct Want { const char* name; std::vector<uint64_t> dims; uint32_t type; };
    const Want want[] = {
        {"norm.weight", {8}, kF32},        {"mat.f16", {16, 3}, kF16},     {"mat.q8_0", {64, 2}, kQ8_0},
        {"mat.bf16", {4, 4, 2}, kBF16},    {"vec.4d", {2, 1, 3, 2}, kF32},
    };
    const uint8_t* base = f.tensors()[0].data - f.data_offset();
    for (size_t k = 0; k < 5; ++k) {
        const TensorInfo& t = f.tensors()[k];
        SCOPED_TRACE(want[k].name);
        EXPECT_EQ(t.name, want[k].name);
        EXPECT_EQ(&f.tensor(want[k].name), &t);
        EXPECT_EQ(t.dims, want[k].dims);
        EXPECT_EQ(t.ggml_type, want[k].type);
        EXPECT_EQ(static_cast<uint32_t>(t.type()), want[k].type);
        EXPECT_EQ(t.offset, lay.offsets[k]);
        EXPECT_EQ(t.offset % alignment, 0u);
        EXPECT_EQ(t.n_bytes, expected_bytes(want[k].type, want[k].dims));
        uint64_t n = 1;
        for (uint64_t d : want[k].dims) n *= d;
        EXPECT_EQ(t.n_elements, n);
        EXPECT_EQ(t.rows(), n / want[k].dims[0]);
        EXPECT_EQ(t.data, base + f.data_offset() + t.offset);
        if (k > 0) {
            EXPECT_EQ(t.data, base + lay.data_offset + lay.offsets[k]);
        }
    }
    EXPECT_EQ(f.tensor("mat.bf16").shape_string(), "[4, 4, 2]");
    // Data contents.
    const TensorInfo& norm = f.tensor("norm.weight");
    float x[8];
    std::memcpy(x, norm.data, sizeof(x));
    EXPECT_EQ(x[0], 1.0f);
    EXPECT_EQ(x[7], -8.5f);
    for (size_t k = 1; k < 5; ++k) {
        const TensorInfo& t = f.tensors()[k];
        const Bytes p = pattern(t.n_bytes, (uint8_t)k);
        EXPECT_EQ(std::memcmp(t.data, p.data(), p.size()), 0) << t.name;
    }
    // The Q8_0 tensor reads as blocks.
    const TensorInfo& q = f.tensor("mat.q8_0");
    EXPECT_EQ(hsd::gguf::tensor_row_bytes(q.type(), q.dims[0]) * q.rows(), q.n_bytes);
    hsd::quant::BlockQ8_0 blk;
    std::memcpy(&blk, q.data + sizeof(blk), sizeof(blk));
    const Bytes qp = pattern(q.n_bytes, 2);
    EXPECT_EQ(blk.qs[0], (int8_t)qp[sizeof(blk) + 2]);
    // The file ends exactly at the end of the last tensor.
    const TensorInfo& last = f.tensors().back();
    EXPECT_EQ(f.data_offset() + last.offset + last.n_bytes, f.file_size());
    touch_tensors(f);
}

TEST(GgufBuilder, V3AllValueTypesAndTensors) {
    GgufLayout lay;
    Bytes b = rich_file(3, 32, &lay);
    auto f = File::from_memory(b, "rich-v3.gguf");
    EXPECT_EQ(f->path(), "rich-v3.gguf");
    check_rich_file(*f, 3, 32, lay);
}

TEST(GgufBuilder, V2AllValueTypesAndTensors) {
    GgufLayout lay;
    Bytes b = rich_file(2, 32, &lay);
    auto f = File::from_memory(b, "rich-v2.gguf");
    check_rich_file(*f, 2, 32, lay);
}

TEST(GgufBuilder, Alignment64) {
    GgufLayout lay;
    Bytes b = rich_file(3, 64, &lay);
    EXPECT_EQ(lay.data_offset % 64, 0u);
    // The layout really needs 64: some offset is 32 mod 64 with alignment 32.
    GgufLayout lay32;
    rich_file(3, 32, &lay32);
    EXPECT_NE(lay32.offsets, lay.offsets);
    auto f = File::from_memory(b, "rich-a64.gguf");
    check_rich_file(*f, 3, 64, lay);
}

TEST(GgufBuilder, OtherAlignments) {
    for (uint32_t a : {1u, 2u, 8u, 256u, 4096u}) {
        SCOPED_TRACE(a);
        GgufLayout lay;
        Bytes b = rich_file(3, a, &lay);
        auto f = File::from_memory(b, "rich-a.gguf");
        check_rich_file(*f, 3, a, lay);
    }
}

TEST(GgufBuilder, DefaultAlignmentIs32) {
    GgufWriter b;
    b.str("general.architecture", "llama");
    b.tensor(make_tensor("a", {3}, kF32));  // 12 bytes: next offset must be padded to 32
    b.tensor(make_tensor("b", {5}, kF16));
    GgufLayout lay;
    auto f = File::from_memory(b.bytes(&lay), "noalign.gguf");
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->data_offset() % 32, 0u);
    EXPECT_EQ(f->tensor("b").offset, 32u);
    EXPECT_EQ(f->tensor("b").n_bytes, 10u);
}

TEST(GgufBuilder, MinimalFiles) {
    // Header only: no tensors, no metadata.
    GgufWriter empty;
    auto f = File::from_memory(empty.bytes(), "empty.gguf");
    EXPECT_TRUE(f->metadata().empty());
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_EQ(f->find("general.architecture"), nullptr);
    EXPECT_EQ(f->find_tensor("x"), nullptr);
    // Metadata only.
    GgufWriter meta;
    meta.str("general.architecture", "llama");
    f = File::from_memory(meta.bytes(), "meta.gguf");
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufBuilder, KnownButUnsupportedTypeParses) {
    // The reader sizes every ggml type (so `hsd info` can describe any file) but the engine
    // computes with a subset: MXFP4 (39) is known by name and size, not supported.
    GgufWriter b;
    b.tensor(make_tensor("k", {512, 2}, kQ4_K));
    b.tensor(GgufTensor{"m", {64, 2}, 39, Bytes(2 * 2 * 17, 0), {}, {}});
    auto f = File::from_memory(b.bytes(), "q4k.gguf");
    EXPECT_EQ(f->tensor("k").n_bytes, 2u * 2 * 144);
    EXPECT_EQ(f->tensor("m").n_bytes, 2u * 2 * 17);
    EXPECT_TRUE(hsd::gguf::tensor_type_supported(kQ4_K));
    EXPECT_FALSE(hsd::gguf::tensor_type_supported(39));
    EXPECT_STREQ(hsd::gguf::tensor_type_name(kQ4_K), "Q4_K");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(39), "MXFP4");
}

TEST(GgufBuilder, TypeTables) {
    using hsd::gguf::TensorType;
    EXPECT_STREQ(hsd::gguf::tensor_type_name(0), "F32");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(1), "F16");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(8), "Q8_0");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(30), "BF16");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(4), "unknown");
    EXPECT_STREQ(hsd::gguf::tensor_type_name(1000), "unknown");
    for (uint32_t t : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 10u, 11u, 12u, 13u, 14u, 20u, 23u, 30u})
        EXPECT_TRUE(hsd::gguf::tensor_type_supported(t)) << t;
    // Q8_K exists only as an activation format; the IQ2/IQ3/IQ1, TQ and MXFP4 types are not implemented.
    for (uint32_t t : {4u, 5u, 9u, 15u, 16u, 19u, 21u, 31u, 34u, 39u, 1000u})
        EXPECT_FALSE(hsd::gguf::tensor_type_supported(t)) << t;
    EXPECT_EQ(hsd::gguf::tensor_type_from_name("q4_k"), TensorType::Q4_K);
    EXPECT_EQ(hsd::gguf::tensor_type_from_name("IQ4_XS"), TensorType::IQ4_XS);
    EXPECT_FALSE(hsd::gguf::tensor_type_from_name("Q8_K").has_value());
    EXPECT_FALSE(hsd::gguf::tensor_type_from_name("Q4_K_M").has_value());
    EXPECT_EQ(hsd::gguf::tensor_row_bytes(TensorType::F32, 10), 40u);
    EXPECT_EQ(hsd::gguf::tensor_row_bytes(TensorType::F16, 10), 20u);
    EXPECT_EQ(hsd::gguf::tensor_row_bytes(TensorType::BF16, 10), 20u);
    EXPECT_EQ(hsd::gguf::tensor_row_bytes(TensorType::Q8_0, 64), 68u);
    EXPECT_EQ(hsd::gguf::tensor_block_size(TensorType::Q8_0), 32u);
    EXPECT_EQ(hsd::gguf::tensor_block_size(TensorType::F16), 1u);
    EXPECT_STREQ(hsd::gguf::value_type_name(ValueType::ARRAY), "array");
    EXPECT_STREQ(hsd::gguf::value_type_name(ValueType::UINT64), "uint64");
}

TEST(GgufBuilder, ValueToString) {
    GgufWriter b;
    Enc e;
    e.arr(ValueType::UINT8, 20);
    for (int k = 0; k < 20; ++k) e.put<uint8_t>((uint8_t)k);
    b.kv("long", ValueType::ARRAY, e);
    b.kv("neg", ValueType::INT32, Enc().put<int32_t>(-7));
    b.kv("s", ValueType::STRING, Enc().str("hi"));
    b.kv("flag", ValueType::BOOL, Enc().put<uint8_t>(1));
    auto f = File::from_memory(b.bytes(), "str.gguf");
    EXPECT_EQ(f->find("long")->to_string(3), "[0, 1, 2, ... (20 uint8 items)]");
    EXPECT_EQ(f->find("neg")->to_string(), "-7");
    EXPECT_EQ(f->find("s")->to_string(), "\"hi\"");
    EXPECT_EQ(f->find("flag")->to_string(), "true");
}

// Writes bytes to a unique temporary file, removed on destruction.
struct TempFile {
    std::string path;
    explicit TempFile(const Bytes& b, const char* tag) {
        path = (std::filesystem::temp_directory_path() /
                ("hsd_test_gguf_" + std::to_string(::getpid()) + "_" + tag + ".gguf")).string();
        hsd::test::write_file(path, b);
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

TEST(GgufBuilder, OpenFromDisk) {
    GgufLayout lay;
    TempFile tmp(rich_file(3, 64, &lay), "rich");
    auto f = File::open(tmp.path);
    EXPECT_EQ(f->path(), tmp.path);
    check_rich_file(*f, 3, 64, lay);
    for (const TensorInfo& t : f->tensors())
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name;  // mmap is page aligned
}

TEST(GgufOpen, MissingEmptyAndDirectory) {
    const std::string missing = "/nonexistent/dir/hsd-missing.gguf";
    std::string msg = error_of([&] { File::open(missing); });
    EXPECT_TRUE(contains(msg, missing)) << msg;
    EXPECT_TRUE(contains(msg, "cannot open")) << msg;

    const std::string dir = std::filesystem::temp_directory_path().string();
    msg = error_of([&] { File::open(dir); });
    EXPECT_TRUE(contains(msg, dir)) << msg;
    EXPECT_TRUE(contains(msg, "regular file")) << msg;

    TempFile empty(Bytes{}, "empty");
    msg = error_of([&] { File::open(empty.path); });
    EXPECT_TRUE(contains(msg, empty.path)) << msg;
    EXPECT_TRUE(contains(msg, "truncated")) << msg;

    Bytes bad = small_builder().bytes();
    bad[0] = 'X';
    TempFile badf(bad, "badmagic");
    msg = error_of([&] { File::open(badf.path); });
    EXPECT_TRUE(contains(msg, badf.path)) << msg;
    EXPECT_TRUE(contains(msg, "magic")) << msg;
}

// ---------------------------------------------------------------------------------------
// Truncation.

TEST(GgufCorrupt, TruncatedBuilderFileAtEveryOffset) {
    for (uint32_t version : {2u, 3u}) {
        GgufLayout lay;
        const Bytes full = rich_file(version, 64, &lay);
        ASSERT_NO_THROW(File::from_memory(full, "full.gguf"));
        ASSERT_GT(lay.data_offset, lay.tensor_info_end);  // there is padding to truncate into
        for (size_t cut = 0; cut < full.size(); ++cut) {
            SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(full.size()));
            Bytes b(full.begin(), full.begin() + (std::ptrdiff_t)cut);
            const std::string msg = error_of([&] { File::from_memory(std::move(b), "cut.gguf"); });
            ASSERT_TRUE(contains(msg, "cut.gguf")) << msg;
            if (cut < lay.tensor_info_end)
                ASSERT_TRUE(contains_any(msg, {"truncated", "cannot fit"})) << msg;
            else
                ASSERT_TRUE(contains(msg, "past the end")) << msg;
        }
    }
}

// Sanitizer builds sample some dense truncation sweeps more sparsely to stay fast.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kDense = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
constexpr uint64_t kDense = 4;
#else
constexpr uint64_t kDense = 1;
#endif
#else
constexpr uint64_t kDense = 1;
#endif

// Encoded size of a metadata value (the test's own arithmetic).
uint64_t encoded_size(const Value& v) {
    switch (v.type) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: return 8 + v.str.size();
        case ValueType::ARRAY: {
            uint64_t n = 12;
            for (const Value& e : v.arr) n += encoded_size(e);
            return n;
        }
    }
    return 0;
}

TEST(GgufCorrupt, TruncatedRealModel) {
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const std::string path = hsd::test::shared_path("models/hsd-m0.gguf");
    std::ifstream in(path, std::ios::binary);
    const Bytes full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto f = File::from_memory(full, "hsd-m0-copy");
    ASSERT_EQ(f->file_size(), full.size());

    // Reconstruct the layout (KVs, tensor infos, padding, data) and choose cut points: every
    // byte of the header, of the small KVs and of the tensor infos (every kDense-th byte in
    // the middle of the tensor infos under sanitizers, where each parse of the 8192-entry
    // token arrays is ~10x slower), and a stride through the big token arrays.
    std::vector<size_t> cuts;
    auto add = [&](uint64_t begin, uint64_t end, uint64_t stride) {
        for (uint64_t k = begin; k < end; k += stride) cuts.push_back(k);
    };
    uint64_t pos = 24;
    add(0, pos, 1);
    for (const auto& [key, v] : f->metadata()) {
        const uint64_t len = 8 + key.size() + 4 + encoded_size(v);
        if (len <= 1024) {
            add(pos, pos + len, 1);
        } else {  // big token arrays: both ends densely, the middle with a stride
            add(pos, pos + 48, 1);
            add(pos + 48, pos + len - 48, (len - 96) / 24 + 1);
            add(pos + len - 48, pos + len, 1);
        }
        pos += len;
    }
    const uint64_t info_begin = pos;
    std::vector<uint64_t> info_starts;
    for (const TensorInfo& t : f->tensors()) {
        info_starts.push_back(pos);
        pos += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
    }
    const uint64_t info_end = pos;
    ASSERT_EQ(f->data_offset(), (info_end + 31) / 32 * 32);  // our arithmetic matches the reader
    ASSERT_GE(info_starts.size(), 4u);
    add(info_begin, info_starts[2], 1);                  // first two tensor infos: every byte
    add(info_starts[2], info_starts[info_starts.size() - 2], kDense);
    add(info_starts[info_starts.size() - 2], f->data_offset(), 1);  // last two + padding
    // Inside the data: the first bytes, and at and around a few tensors' start and end.
    add(f->data_offset(), f->data_offset() + 4, 1);
    for (size_t k : {size_t{0}, size_t{1}, f->tensors().size() / 2, f->tensors().size() - 1}) {
        const TensorInfo& t = f->tensors()[k];
        const uint64_t s = f->data_offset() + t.offset, e = s + t.n_bytes;
        for (uint64_t c : {s, s + 1, s + t.n_bytes / 2, e - 1}) cuts.push_back(c);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    EXPECT_GT(cuts.size(), kDense == 1 ? 2000u : 1000u);

    for (size_t cut : cuts) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        ASSERT_LT(cut, full.size());
        Bytes b(full.begin(), full.begin() + (std::ptrdiff_t)cut);
        const std::string msg = error_of([&] { File::from_memory(std::move(b), "hsd-m0-cut"); });
        ASSERT_TRUE(contains(msg, "hsd-m0-cut")) << msg;
        if (cut < info_end)
            ASSERT_TRUE(contains_any(msg, {"truncated", "cannot fit"})) << msg;
        else
            ASSERT_TRUE(contains(msg, "past the end")) << msg;
    }
}

// Counts and lengths in a real model inflated to the largest value that still "fits" in the
// file: the reader walks into the tensor data and must fail cleanly (bounded work and memory).
TEST(GgufCorrupt, RealModelInflatedCounts) {
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    std::ifstream in(hsd::test::shared_path("models/hsd-m0.gguf"), std::ios::binary);
    const Bytes full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto f = File::from_memory(full, "hsd-m0-copy");
    uint64_t pos = 24;
    for (const auto& [key, v] : f->metadata()) {
        if (v.type == ValueType::ARRAY) {
            const uint64_t len_at = pos + 8 + key.size() + 4 + 4;  // key, type, element type
            uint64_t len;
            std::memcpy(&len, full.data() + len_at, 8);
            ASSERT_EQ(len, v.arr.size()) << key;
            const uint64_t elem = v.elem_type == ValueType::STRING ? 8 : encoded_size(v.arr[0]);
            for (uint64_t n : {len + 1, (full.size() - len_at - 8) / elem}) {
                SCOPED_TRACE(key + " length " + std::to_string(n));
                Bytes b = full;
                poke<uint64_t>(b, len_at, n);
                const std::string msg = error_of([&] { File::from_memory(std::move(b), "inflated.gguf"); });
                EXPECT_TRUE(contains(msg, "inflated.gguf")) << msg;
            }
        }
        pos += 8 + key.size() + 4 + encoded_size(v);
    }
    // Tensor count: the largest the header check lets through.
    Bytes b = full;
    poke<uint64_t>(b, 8, (full.size() - 24) / 32);
    EXPECT_GGUF_ERROR(b, "inflated-tensors.gguf", "truncated", "dimensions", "out of range", "unknown tensor type",
                      "absurd", "alignment", "block size", "overflow", "duplicate", "past the end");
    // Metadata count: one more KV than present reads a tensor info as a KV.
    b = full;
    poke<uint64_t>(b, 16, f->metadata().size() + 1);
    EXPECT_GGUF_ERROR(b, "inflated-kv.gguf", "unknown value type", "truncated", "absurd", "bool", "array");
}

TEST(GgufCorrupt, DataSectionPastTheEnd) {
    GgufLayout lay;
    Bytes b = small_builder().bytes(&lay);
    b.resize(lay.tensor_info_end);  // tensor infos present, data section missing
    EXPECT_GGUF_ERROR(b, "nodata.gguf", "past the end");
    b = small_builder().bytes(&lay);
    b.pop_back();  // one byte short of the last tensor
    EXPECT_GGUF_ERROR(b, "short.gguf", "past the end");
}

// ---------------------------------------------------------------------------------------
// Header fields.

TEST(GgufCorrupt, BadMagic) {
    const Bytes good = small_builder().bytes();
    Bytes b = good;
    b[0] = 'g';
    EXPECT_GGUF_ERROR(b, "m1.gguf", "magic");
    b = good;
    poke<uint32_t>(b, 0, 0x4C4D4747);  // "GGML"
    EXPECT_GGUF_ERROR(b, "ggml.gguf", "magic");
    b = good;
    std::reverse(b.begin(), b.begin() + 4);  // big-endian magic
    EXPECT_GGUF_ERROR(b, "be.gguf", "magic");
    EXPECT_GGUF_ERROR(Bytes(64, 0), "zeros.gguf", "magic");
    EXPECT_GGUF_ERROR((Bytes{'G', 'G'}), "tiny.gguf", "truncated");
    EXPECT_GGUF_ERROR((Bytes{}), "nothing.gguf", "truncated");
}

TEST(GgufCorrupt, UnsupportedVersion) {
    for (uint32_t v : {0u, 1u, 4u, 0x03000000u, 0xFFFFFFFFu}) {
        GgufWriter b = small_builder();
        b.version = v;
        EXPECT_GGUF_ERROR(b.bytes(), "ver" + std::to_string(v) + ".gguf", "version");
    }
}

TEST(GgufCorrupt, AbsurdCounts) {
    for (uint64_t n : {1ull << 62, ~0ull, 1ull << 32, 1000ull}) {
        GgufWriter b = small_builder();
        b.n_tensors_override = n;
        EXPECT_GGUF_ERROR(b.bytes(), "ntensors.gguf", "tensor count", "truncated");
        GgufWriter k = small_builder();
        k.n_kv_override = n;
        EXPECT_GGUF_ERROR(k.bytes(), "nkv.gguf", "metadata count", "truncated");
    }
    {
        GgufWriter b = small_builder();
        b.n_tensors_override = 1ull << 62;
        EXPECT_GGUF_ERROR(b.bytes(), "ntensors62.gguf", "tensor count");
        GgufWriter k = small_builder();
        k.n_kv_override = 1ull << 62;
        EXPECT_GGUF_ERROR(k.bytes(), "nkv62.gguf", "metadata count");
    }
    // One more KV/tensor than present: runs into the next section and fails there.
    GgufWriter b = small_builder();
    b.n_tensors_override = 2;
    EXPECT_GGUF_ERROR(b.bytes(), "ntensors2.gguf", "truncated", "past the end", "cannot fit", "dimensions");
}

TEST(GgufCorrupt, AbsurdStringLengths) {
    for (uint64_t n : {1ull << 62, ~0ull, (1ull << 30) + 1}) {
        // Key length.
        Bytes b = small_builder().bytes();
        poke<uint64_t>(b, 24, n);
        EXPECT_GGUF_ERROR(b, "keylen.gguf", "absurd length");
        // String value length.
        GgufWriter s;
        s.kv("k", ValueType::STRING, Enc().put<uint64_t>(n).put<uint64_t>(0));
        EXPECT_GGUF_ERROR(s.bytes(), "strlen.gguf", "absurd length");
        // Tensor name length.
        GgufWriter t;
        GgufTensor spec = make_tensor("w", {4}, kF32);
        spec.name = "";
        t.tensor(spec);
        GgufLayout lay;
        b = t.bytes(&lay);
        poke<uint64_t>(b, lay.tensor_info_begin, n);
        EXPECT_GGUF_ERROR(b, "namelen.gguf", "absurd length");
        // String inside an array.
        GgufWriter a;
        a.kv("arr", ValueType::ARRAY, Enc().arr(ValueType::STRING, 2).str("ok").put<uint64_t>(n));
        EXPECT_GGUF_ERROR(a.bytes(), "arrstr.gguf", "absurd length");
    }
    // Plausible length that runs past the end.
    GgufWriter s;
    s.kv("k", ValueType::STRING, Enc().put<uint64_t>(1000).put<uint64_t>(0));
    EXPECT_GGUF_ERROR(s.bytes(), "strpast.gguf", "truncated");
}

TEST(GgufCorrupt, AbsurdArrayLengths) {
    for (uint64_t n : {1ull << 62, ~0ull, 1ull << 32, 100ull}) {
        for (ValueType et : {ValueType::UINT8, ValueType::UINT64, ValueType::STRING, ValueType::ARRAY}) {
            GgufWriter b;
            b.kv("arr", ValueType::ARRAY, Enc().arr(et, n).put<uint64_t>(0));
            EXPECT_GGUF_ERROR(b.bytes(), "arrlen.gguf", "array length", "truncated");
        }
    }
    GgufWriter b;
    b.kv("arr", ValueType::ARRAY, Enc().arr(ValueType::UINT32, 1ull << 62).put<uint32_t>(1));
    EXPECT_GGUF_ERROR(b.bytes(), "arrlen62.gguf", "array length");
    // Nested: the inner array is absurd.
    GgufWriter n;
    n.kv("arr", ValueType::ARRAY, Enc().arr(ValueType::ARRAY, 1).arr(ValueType::INT16, 1ull << 62));
    EXPECT_GGUF_ERROR(n.bytes(), "innerlen.gguf", "array length");
}

// ---------------------------------------------------------------------------------------
// Tensor infos.

GgufWriter one_tensor(GgufTensor t, uint32_t alignment = 32) {
    GgufWriter b;
    b.alignment(alignment);
    b.tensor(std::move(t));
    return b;
}

TEST(GgufCorrupt, DimensionCount) {
    for (uint32_t nd : {0u, 5u, 100u, 0xFFFFFFFFu}) {
        GgufTensor t = make_tensor("w", {4}, kF32);
        t.n_dims = nd;
        if (nd == 5) t.dims = {1, 1, 1, 1, 4};  // really 5 dims
        EXPECT_GGUF_ERROR(one_tensor(t).bytes(), "ndims" + std::to_string(nd) + ".gguf", "dimensions");
    }
}

TEST(GgufCorrupt, BadDimensions) {
    GgufTensor zero = make_tensor("w", {4, 1}, kF32);
    zero.dims = {4, 0};
    EXPECT_GGUF_ERROR(one_tensor(zero).bytes(), "zerodim.gguf", "out of range");
    zero.dims = {0};
    EXPECT_GGUF_ERROR(one_tensor(zero).bytes(), "zerodim0.gguf", "out of range");

    GgufTensor huge = make_tensor("w", {4}, kF32);
    huge.dims = {1ull << 63};
    EXPECT_GGUF_ERROR(one_tensor(huge).bytes(), "hugedim.gguf", "out of range");
    huge.dims = {~0ull};
    EXPECT_GGUF_ERROR(one_tensor(huge).bytes(), "maxdim.gguf", "out of range");

    // Product overflows 64 bits (2^32 * 2^32 * 2^32) and also the sane bound.
    GgufTensor over = make_tensor("w", {4}, kF32);
    over.dims = {1ull << 32, 1ull << 32, 1ull << 32};
    EXPECT_GGUF_ERROR(one_tensor(over).bytes(), "overflow.gguf", "overflow");
    over.dims = {1ull << 40, 1ull << 40};
    EXPECT_GGUF_ERROR(one_tensor(over).bytes(), "overflow2.gguf", "overflow");
    over.dims = {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16};
    EXPECT_GGUF_ERROR(one_tensor(over).bytes(), "overflow4.gguf", "overflow");
    // Large but representable: the data is simply missing.
    over.dims = {1ull << 20, 1ull << 20};
    EXPECT_GGUF_ERROR(one_tensor(over).bytes(), "big.gguf", "past the end");

    // Row not a multiple of the block size.
    GgufTensor q = make_tensor("q", {32}, kQ8_0);
    q.dims = {33};
    EXPECT_GGUF_ERROR(one_tensor(q).bytes(), "q8row.gguf", "block size");
}

TEST(GgufCorrupt, UnknownTensorType) {
    for (uint32_t type : {4u, 5u, 31u, 32u, 33u, 36u, 1000u, 0xFFFFFFFFu}) {
        GgufTensor t = make_tensor("w", {4}, kF32);
        t.type = type;
        EXPECT_GGUF_ERROR(one_tensor(t).bytes(), "type" + std::to_string(type) + ".gguf", "unknown tensor type");
    }
}

TEST(GgufCorrupt, OffsetPastTheEnd) {
    for (uint64_t off : {1ull << 40, ~0ull - 31, 64ull, 32ull}) {
        GgufWriter b;
        b.alignment(32);
        b.tensor(make_tensor("a", {8}, kF32));
        GgufTensor t = make_tensor("b", {8}, kF32);
        t.offset = off + 32;  // lands past the last tensor's data
        if (off == ~0ull - 31) t.offset = off;
        b.tensor(t);
        EXPECT_GGUF_ERROR(b.bytes(), "off" + std::to_string(off) + ".gguf", "past the end");
    }
    // Starts inside but ends outside.
    GgufWriter b;
    GgufTensor t = make_tensor("w", {64}, kF32);
    t.data.resize(100);
    b.tensor(t);
    EXPECT_GGUF_ERROR(b.bytes(), "tail.gguf", "past the end");
}

TEST(GgufCorrupt, OffsetNotAligned) {
    for (uint64_t off : {1ull, 16ull, 31ull, 33ull}) {
        GgufTensor t = make_tensor("w", {4}, kF32);
        t.offset = off;
        EXPECT_GGUF_ERROR(one_tensor(t, 32).bytes(), "misaligned.gguf", "alignment");
    }
    // 32 is fine under the default but not under 64.
    GgufWriter b;
    b.alignment(64);
    b.tensor(make_tensor("a", {4}, kF32));
    GgufTensor t = make_tensor("b", {4}, kF32);
    t.offset = 96;
    b.tensor(t);
    EXPECT_GGUF_ERROR(b.bytes(), "misaligned64.gguf", "alignment");
}

TEST(GgufCorrupt, BadAlignmentValue) {
    for (uint32_t a : {0u, 3u, 24u, 1u << 21, 0xFFFFFFFFu}) {
        GgufWriter b;
        b.u32("general.alignment", a);
        b.tensor(make_tensor("w", {4}, kF32));
        EXPECT_GGUF_ERROR(b.bytes(), "align" + std::to_string(a) + ".gguf", "alignment");
    }
    struct Case { const char* name; ValueType t; Enc payload; };
    const Case cases[] = {
        {"align-str.gguf", ValueType::STRING, Enc().str("32")},
        {"align-neg.gguf", ValueType::INT32, Enc().put<int32_t>(-32)},
        {"align-float.gguf", ValueType::FLOAT32, Enc().put<float>(32.0f)},
        {"align-bool.gguf", ValueType::BOOL, Enc().put<uint8_t>(1)},
        {"align-arr.gguf", ValueType::ARRAY, Enc().arr(ValueType::UINT32, 1).put<uint32_t>(32)},
    };
    for (const Case& c : cases) {
        GgufWriter b;
        b.kv("general.alignment", c.t, c.payload);
        EXPECT_GGUF_ERROR(b.bytes(), c.name, "alignment");
    }
}

TEST(GgufCorrupt, DuplicateTensorNames) {
    GgufWriter b;
    b.tensor(make_tensor("w", {4}, kF32));
    b.tensor(make_tensor("w", {4}, kF32));
    EXPECT_GGUF_ERROR(b.bytes(), "duptensor.gguf", "duplicate tensor name 'w'");
}

// ---------------------------------------------------------------------------------------
// Metadata values.

TEST(GgufCorrupt, UnknownValueType) {
    for (uint32_t t : {13u, 100u, 0xFFFFFFFFu}) {
        GgufWriter b;
        b.kv("k", static_cast<ValueType>(t), Enc().put<uint64_t>(0));
        EXPECT_GGUF_ERROR(b.bytes(), "vtype.gguf", "unknown value type");
        GgufWriter a;
        a.kv("k", ValueType::ARRAY, Enc().put<uint32_t>(t).put<uint64_t>(1).put<uint64_t>(0));
        EXPECT_GGUF_ERROR(a.bytes(), "etype.gguf", "unknown array element type");
        GgufWriter n;  // inside a nested array
        n.kv("k", ValueType::ARRAY, Enc().arr(ValueType::ARRAY, 1).put<uint32_t>(t).put<uint64_t>(0));
        EXPECT_GGUF_ERROR(n.bytes(), "netype.gguf", "unknown array element type");
    }
}

TEST(GgufCorrupt, BadBool) {
    for (uint8_t v : {uint8_t{2}, uint8_t{0x80}, uint8_t{0xFF}}) {
        GgufWriter b;
        b.kv("flag", ValueType::BOOL, Enc().put<uint8_t>(v));
        EXPECT_GGUF_ERROR(b.bytes(), "bool.gguf", "bool");
        GgufWriter a;
        a.kv("flags", ValueType::ARRAY, Enc().arr(ValueType::BOOL, 2).put<uint8_t>(0).put<uint8_t>(v));
        EXPECT_GGUF_ERROR(a.bytes(), "boolarr.gguf", "bool");
    }
}

TEST(GgufCorrupt, DuplicateKeys) {
    GgufWriter b;
    b.str("general.architecture", "llama");
    b.u32("x", 1);
    b.str("general.architecture", "gpt2");
    EXPECT_GGUF_ERROR(b.bytes(), "dupkey.gguf", "duplicate metadata key 'general.architecture'");
}

Enc nested_u8(int levels) {
    Enc e;
    for (int k = 0; k < levels - 1; ++k) e.arr(ValueType::ARRAY, 1);
    e.arr(ValueType::UINT8, 1).put<uint8_t>(5);
    return e;
}

TEST(GgufCorrupt, DeepNesting) {
    // A few levels are fine.
    GgufWriter ok;
    ok.kv("deep", ValueType::ARRAY, nested_u8(4));
    auto f = File::from_memory(ok.bytes(), "deep4.gguf");
    const Value* v = f->find("deep");
    for (int k = 0; k < 3; ++k) {
        ASSERT_EQ(v->arr.size(), 1u);
        v = &v->arr[0];
    }
    ASSERT_EQ(v->arr.size(), 1u);
    EXPECT_EQ(v->arr[0].u, 5u);
    // 100 (and 10,000) levels are refused, without blowing the stack.
    for (int levels : {100, 10000}) {
        GgufWriter b;
        b.kv("deep", ValueType::ARRAY, nested_u8(levels));
        EXPECT_GGUF_ERROR(b.bytes(), "deep.gguf", "nested");
    }
}

// ---------------------------------------------------------------------------------------
// Random corruption.

TEST(GgufCorrupt, RandomByteFlips) {
    GgufLayout lay;
    const Bytes good = rich_file(3, 32, &lay);
    std::mt19937_64 rng(0x5eed1234);
    int ok = 0, errors = 0;
    const int trials = 6000;
    for (int trial = 0; trial < trials; ++trial) {
        Bytes b = good;
        const int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            // Mostly the header (where parsing decisions are made), sometimes anywhere.
            const size_t span = (rng() % 8 == 0) ? b.size() : lay.tensor_info_end + 8;
            const size_t at = rng() % span;
            switch (rng() % 4) {
                case 0: b[at] ^= (uint8_t)(1u << (rng() % 8)); break;     // one bit
                case 1: b[at] ^= (uint8_t)(1 + rng() % 255); break;       // random byte change
                case 2: b[at] = (rng() % 2) ? 0xFF : 0x00; break;          // extremes
                default: b[at] = (uint8_t)(0x7F + rng() % 2); break;       // sign boundary
            }
        }
        try {
            auto f = File::from_memory(std::move(b), "flip.gguf");
            touch_tensors(*f);
            for (const auto& [key, v] : f->metadata()) (void)v.to_string();
            ++ok;
        } catch (const hsd::Error& e) {
            ASSERT_TRUE(contains(e.what(), "flip.gguf")) << "trial " << trial << ": " << e.what();
            ++errors;
        } catch (const std::exception& e) {
            FAIL() << "trial " << trial << ": non-hsd exception: " << e.what();
        }
    }
    EXPECT_EQ(ok + errors, trials);
    EXPECT_GT(ok, 100);      // flips of values/data/padding still parse
    EXPECT_GT(errors, 1000); // structural flips are caught
}

TEST(GgufCorrupt, RandomTruncateAndFlip) {
    const Bytes good = rich_file(2, 64);
    std::mt19937_64 rng(42);
    for (int trial = 0; trial < 2000; ++trial) {
        Bytes b = good;
        b.resize(rng() % (b.size() + 1));
        if (!b.empty()) b[rng() % b.size()] ^= (uint8_t)(1 + rng() % 255);
        try {
            auto f = File::from_memory(std::move(b), "tf.gguf");
            touch_tensors(*f);
        } catch (const hsd::Error&) {
        } catch (const std::exception& e) {
            FAIL() << "trial " << trial << ": non-hsd exception: " << e.what();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Typed getters.

std::unique_ptr<File> getter_file() {
    GgufWriter b;
    b.str("name", "hsd");
    b.u32("count", 7);
    b.kv("neg", ValueType::INT32, Enc().put<int32_t>(-3));
    b.kv("eps", ValueType::FLOAT32, Enc().put<float>(0.5f));
    b.kv("flag", ValueType::BOOL, Enc().put<uint8_t>(1));
    b.kv("ints", ValueType::ARRAY, Enc().arr(ValueType::INT32, 2).put<int32_t>(1).put<int32_t>(2));
    b.kv("floats", ValueType::ARRAY, Enc().arr(ValueType::FLOAT32, 1).put<float>(2.5f));
    b.kv("strs", ValueType::ARRAY, Enc().arr(ValueType::STRING, 1).str("x"));
    b.tensor(make_tensor("w", {4}, kF32));
    return File::from_memory(b.bytes(), "getters.gguf");
}

void expect_getter_error(const std::function<void()>& fn, const std::string& key, std::string_view word) {
    const std::string msg = error_of(fn);
    EXPECT_TRUE(contains(msg, "getters.gguf")) << msg;
    EXPECT_TRUE(contains(msg, "'" + key + "'")) << msg;
    EXPECT_TRUE(contains(msg, word)) << msg;
}

TEST(GgufGetters, MissingKeyNamesTheKey) {
    auto f = getter_file();
    expect_getter_error([&] { f->get_uint("no.such.uint"); }, "no.such.uint", "missing");
    expect_getter_error([&] { f->get_float("no.such.float"); }, "no.such.float", "missing");
    expect_getter_error([&] { f->get_string("no.such.string"); }, "no.such.string", "missing");
    expect_getter_error([&] { f->get_string_array("no.such.strs"); }, "no.such.strs", "missing");
    expect_getter_error([&] { f->get_float_array("no.such.floats"); }, "no.such.floats", "missing");
    expect_getter_error([&] { f->get_int_array("no.such.ints"); }, "no.such.ints", "missing");
    expect_getter_error([&] { f->tensor("no.such.tensor"); }, "no.such.tensor", "missing tensor");
    // Fallbacks apply only when missing.
    EXPECT_EQ(f->get_uint("no.such.uint", 42), 42u);
    EXPECT_EQ(f->get_float("no.such.float", 0.25), 0.25);
    EXPECT_TRUE(f->get_bool("no.such.bool", true));
    EXPECT_FALSE(f->get_bool("no.such.bool", false));
    EXPECT_EQ(f->get_int_array("no.such.ints", {3, 4}), (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(f->get_uint("count", 42), 7u);
    EXPECT_EQ(f->get_float("eps", 9.0), 0.5);
    EXPECT_EQ(f->get_int_array("ints", {3}), (std::vector<int64_t>{1, 2}));
}

TEST(GgufGetters, WrongTypeNamesTheKey) {
    auto f = getter_file();
    expect_getter_error([&] { f->get_uint("name"); }, "name", "type string");
    expect_getter_error([&] { f->get_uint("eps"); }, "eps", "type float32");
    expect_getter_error([&] { f->get_uint("name", 1); }, "name", "type string");
    expect_getter_error([&] { f->get_uint("neg"); }, "neg", "negative");
    expect_getter_error([&] { f->get_float("name"); }, "name", "type string");
    expect_getter_error([&] { f->get_float("flag", 1.0); }, "flag", "type bool");
    expect_getter_error([&] { f->get_bool("count", false); }, "count", "type uint32");
    expect_getter_error([&] { f->get_string("count"); }, "count", "type uint32");
    expect_getter_error([&] { f->get_string("strs"); }, "strs", "type array");
    expect_getter_error([&] { f->get_string_array("ints"); }, "ints", "array of string");
    expect_getter_error([&] { f->get_string_array("name"); }, "name", "array of string");
    expect_getter_error([&] { f->get_float_array("ints"); }, "ints", "array of float");
    expect_getter_error([&] { f->get_float_array("eps"); }, "eps", "array of float");
    expect_getter_error([&] { f->get_int_array("floats"); }, "floats", "array of integer");
    expect_getter_error([&] { f->get_int_array("strs", {}); }, "strs", "array of integer");
    expect_getter_error([&] { f->get_int_array("count"); }, "count", "array of integer");
    // And the right types work.
    EXPECT_EQ(f->get_string("name"), "hsd");
    EXPECT_EQ(f->get_uint("count"), 7u);
    EXPECT_EQ(f->get_float("count"), 7.0);
    EXPECT_EQ(f->get_float("neg"), -3.0);
    EXPECT_EQ(f->get_float("eps"), 0.5);
    EXPECT_TRUE(f->get_bool("flag", false));
    EXPECT_EQ(f->get_string_array("strs"), (std::vector<std::string>{"x"}));
    EXPECT_EQ(f->get_float_array("floats"), (std::vector<float>{2.5f}));
    EXPECT_EQ(f->get_int_array("ints"), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(f->tensor("w").n_elements, 4u);
}

}  // namespace
