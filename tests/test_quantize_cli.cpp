// `hsd quantize` end to end (it runs the built binary):
//  * hsd-m1 quantized to Q4_K_M, Q5_K_M, Q3_K_M, Q2_K and IQ4_XS is, byte for byte, the file
//    llama-quantize made (recipe, metadata order, layout, quantizers), loads with gguf::File and
//    Model::load, and gives the same teacher-forced perplexity on HumanEval (within 1%);
//  * a hand-made file with every metadata value type (nested arrays included) and alignment 64
//    comes out with all its key/values, the alignment honoured, and the planned tensor types;
//  * --dry-run writes nothing; -t 1 and -t 2 write identical files; `hsd info` has the type table;
//  * bad input (unknown type, missing or non-GGUF input, output = input under another
//    spelling, quantized input, unwritable output, non-finite weights) exits 1 with a message
//    naming the problem, and never leaves a partial output or temporary file behind (nor does
//    an interrupted run);
//  * gguf::Writer itself: writes in pieces across tensors, set/remove, the layout it announces.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_writer.h"
#include "kernels/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "prompts/prompt_set.h"
#include "quant/dequantize.h"
#include "quant/quant_recipe.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace hsd;

namespace {

using hsd::test::CliRun;
CliRun run(const std::string& args) { return hsd::test::run_cli(HSD_CLI_PATH, args); }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string m1() { return test::shared_path("models/hsd-m1.gguf"); }
std::string reference(const std::string& type) { return test::shared_path("models/quant/hsd-m1-" + type + ".gguf"); }

// A fresh directory per test, removed afterwards.
class QuantizeCli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("hsd_quantize_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    // Files in the directory (to catch leftover temporaries).
    std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    fs::path dir_;
};

std::string value_text(const gguf::Value& v) { return std::string(gguf::value_type_name(v.type)) + ":" + v.to_string(SIZE_MAX); }

// Teacher-forced perplexity of `model` on the first HumanEval prompts (about n_tokens tokens).
double humaneval_perplexity(const Model& model, size_t n_tokens) {
    const std::vector<Prompt> prompts = load_prompts(test::shared_path("prompts/HumanEval.jsonl.gz"));
    ThreadPool pool(2);
    double nll = 0;
    size_t n = 0;
    for (const Prompt& p : prompts) {
        if (n >= n_tokens) break;
        std::vector<TokenId> toks = model.tokenizer().encode(p.text, true);
        if (toks.size() > 512) toks.resize(512);
        if (toks.size() < 2) continue;
        Context ctx(model, pool, 512);
        const float* logits = ctx.eval(toks, true);
        const int V = model.config().n_vocab;
        for (size_t i = 0; i + 1 < toks.size(); ++i) {
            const float* l = logits + i * (size_t)V;
            double mx = l[0];
            for (int k = 1; k < V; ++k) mx = std::max<double>(mx, l[k]);
            double sum = 0;
            for (int k = 0; k < V; ++k) sum += std::exp((double)l[k] - mx);
            nll += mx + std::log(sum) - l[toks[i + 1]];
            ++n;
        }
    }
    return std::exp(nll / (double)n);
}

const char* kTypes[] = {"Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"};

}  // namespace

// ---- the shared model against llama.cpp's quantizations -----------------------------------

TEST_F(QuantizeCli, HsdM1MatchesLlamaQuantizeByteForByte) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    const auto in = gguf::File::open(m1());
    for (const std::string type : kTypes) {
        SCOPED_TRACE(type);
        HSD_REQUIRE_SHARED("models/quant/hsd-m1-" + type + ".gguf");
        const std::string out = path(type + ".gguf");
        const CliRun r = run("quantize " + m1() + " " + out + " " + type + " -t 2");
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;

        const auto q = gguf::File::open(out);
        const auto ref = gguf::File::open(reference(type));
        // The planned types, in llama.cpp's order.
        ASSERT_EQ(q->tensors().size(), ref->tensors().size());
        for (size_t i = 0; i < q->tensors().size(); ++i) {
            EXPECT_EQ(q->tensors()[i].name, ref->tensors()[i].name);
            EXPECT_STREQ(gguf::tensor_type_name(q->tensors()[i].ggml_type), gguf::tensor_type_name(ref->tensors()[i].ggml_type))
                << q->tensors()[i].name;
        }
        // Metadata: the input's, file type and quantization version set.
        for (const auto& [key, v] : in->metadata()) {
            const gguf::Value* w = q->find(key);
            ASSERT_NE(w, nullptr) << key;
            if (key != "general.file_type") {
                EXPECT_EQ(value_text(*w), value_text(v)) << key;
            }
        }
        EXPECT_EQ(q->get_uint("general.file_type"), quant::find_scheme(type)->file_type);
        EXPECT_EQ(q->get_uint("general.quantization_version"), 2u);
        // The header is llama.cpp's to the byte; so is the data, as the quantizers round alike.
        const std::string a = read_all(out), b = read_all(reference(type));
        ASSERT_EQ(a.size(), b.size());
        EXPECT_TRUE(a.compare(0, q->data_offset(), b, 0, ref->data_offset()) == 0) << "headers differ";
        for (size_t i = 0; i < q->tensors().size(); ++i) {
            const gguf::TensorInfo& t = q->tensors()[i];
            const gguf::TensorInfo& u = ref->tensors()[i];
            EXPECT_TRUE(t.n_bytes == u.n_bytes && std::memcmp(t.data, u.data, t.n_bytes) == 0)
                << t.name << " (" << gguf::tensor_type_name(t.ggml_type) << ") differs from llama-quantize's";
        }
        EXPECT_NO_THROW(Model::load(out)) << out;
    }
    EXPECT_EQ(listing().size(), std::size(kTypes));  // no temporaries left
}

TEST_F(QuantizeCli, Q4KMPerplexityWithinOnePercentOfLlamaCpp) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    HSD_REQUIRE_SHARED("prompts/HumanEval.jsonl.gz");
    const std::string out = path("Q4_K_M.gguf");
    const CliRun r = run("quantize " + m1() + " " + out + " Q4_K_M");
    ASSERT_EQ(r.status, 0) << r.out;
    const double ours = humaneval_perplexity(*Model::load(out), 3000);
    const double theirs = humaneval_perplexity(*Model::load(reference("Q4_K_M")), 3000);
    const double f16 = humaneval_perplexity(*Model::load(m1()), 3000);
    std::printf("HumanEval perplexity (~3000 tokens): F16 %.4f, hsd Q4_K_M %.4f, llama.cpp Q4_K_M %.4f\n", f16, ours, theirs);
    EXPECT_LT(std::fabs(ours / theirs - 1.0), 0.01);
    EXPECT_LT(ours, f16 * 1.10);  // and the quantization is a sane one
}

TEST_F(QuantizeCli, ThreadCountDoesNotChangeTheOutput) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    for (const char* type : {"Q4_K_M", "IQ4_XS", "Q8_0"}) {
        ASSERT_EQ(run(std::string("quantize ") + m1() + " " + path("a.gguf") + " " + type + " -t 1").status, 0);
        ASSERT_EQ(run(std::string("quantize ") + m1() + " " + path("b.gguf") + " " + type + " -t 2").status, 0);
        EXPECT_TRUE(read_all(path("a.gguf")) == read_all(path("b.gguf"))) << type;
    }
}

TEST_F(QuantizeCli, DryRunPrintsThePlanAndWritesNothing) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    const std::string out = path("never.gguf");
    const CliRun r = run("quantize " + m1() + " " + out + " Q4_K_M --dry-run");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_TRUE(listing().empty());
    const auto in = gguf::File::open(m1());
    for (const gguf::TensorInfo& t : in->tensors()) EXPECT_NE(r.out.find(t.name), std::string::npos) << t.name;
    EXPECT_NE(r.out.find("blk.2.ffn_down.weight"), std::string::npos);
    EXPECT_NE(r.out.find("F16 -> Q8_0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("F16 -> Q6_K"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
    // The announced size is the size of the file llama-quantize wrote.
    EXPECT_NE(r.out.find("file size: 5150240 bytes"), std::string::npos) << r.out;
}

TEST_F(QuantizeCli, InfoShowsThePerTypeTable) {
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const CliRun r = run("info " + reference("Q4_K_M"));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("tensor types:"), std::string::npos) << r.out;
    // Q4_K: 23 tensors of 4.5 bits; Q6_K: 3; total 39 tensors, 4974592 bytes.
    EXPECT_NE(r.out.find("Q4_K          23"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("4.50"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Q6_K           3"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("total         39        4974592"), std::string::npos) << r.out;
}

// ---- a hand-made file: every value type, alignment 64 -------------------------------------

namespace {

std::vector<float> ramp(size_t n, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * (float)i + 0.1f);
    return v;
}

test::GgufWriter synthetic_model() {
    using V = gguf::ValueType;
    test::GgufWriter w;
    w.str("general.architecture", "llama").alignment(64).u32("general.file_type", 0);
    w.u32("llama.block_count", 1).u32("llama.attention.head_count", 2).u32("llama.attention.head_count_kv", 2);
    w.scalar<uint8_t>("t.u8", 200).scalar<int8_t>("t.i8", -100).scalar<uint16_t>("t.u16", 60000);
    w.scalar<int16_t>("t.i16", -30000).scalar<int32_t>("t.i32", -2000000000).scalar<uint64_t>("t.u64", 1ull << 60);
    w.scalar<int64_t>("t.i64", -(1ll << 60)).f32("t.f32", 0.25f).scalar<double>("t.f64", 1.0 / 3.0).boolean("t.bool", true);
    w.str("t.str", "hello, world");
    w.array<std::string>("t.strs", {"a", "", "ccc"});
    w.array<int32_t>("t.i32s", {1, -2, 3});
    w.array<double>("t.f64s", {0.5, -1e300});
    w.array<bool>("t.bools", {true, false});
    w.array<uint8_t>("t.empty", {});
    w.kv("t.nested", V::ARRAY,
         test::Enc().arr(V::ARRAY, 2).array<uint16_t>({1, 2, 3}).array<std::string>({"x", "yz"}));
    w.kv("t.nested2", V::ARRAY,
         test::Enc().arr(V::ARRAY, 1).arr(V::ARRAY, 2).array<int8_t>({-1}).array<int8_t>({}));
    w.tensor_f32("token_embd.weight", {64, 10}, ramp(640, 1.0f));
    w.tensor_f32("blk.0.attn_norm.weight", {64}, ramp(64, 0.5f));
    w.tensor_f32("blk.0.attn_q.weight", {64, 64}, ramp(4096, 0.1f));
    w.tensor_f32("blk.0.ffn_down.weight", {96, 64}, ramp(96 * 64, 0.2f));  // rows of 96: 32-blocks
    w.tensor_f32("output.weight", {64, 10}, ramp(640, 0.3f));
    return w;
}

}  // namespace

TEST_F(QuantizeCli, CopiesEveryMetadataValueAndHonoursTheAlignment) {
    const std::string in_path = path("in.gguf");
    synthetic_model().write(in_path);
    const auto in = gguf::File::open(in_path);
    for (const char* type : {"Q8_0", "F32", "Q4_0"}) {
        SCOPED_TRACE(type);
        const std::string out = path(std::string("out-") + type + ".gguf");
        const CliRun r = run("quantize " + in_path + " " + out + " " + type);
        ASSERT_EQ(r.status, 0) << r.out;
        const auto q = gguf::File::open(out);
        EXPECT_EQ(q->alignment(), 64u);
        EXPECT_EQ(q->data_offset() % 64, 0u);
        ASSERT_EQ(q->metadata().size(), in->metadata().size() + 1);  // + quantization_version
        for (const auto& [key, v] : in->metadata()) {
            const gguf::Value* w = q->find(key);
            ASSERT_NE(w, nullptr) << key;
            if (key != "general.file_type") {
                EXPECT_EQ(value_text(*w), value_text(v)) << key;
            }
        }
        EXPECT_EQ(q->get_uint("general.file_type"), quant::find_scheme(type)->file_type);
        // The last two keys, as llama-quantize appends them.
        EXPECT_EQ(q->metadata()[q->metadata().size() - 2].first, "general.quantization_version");
        EXPECT_EQ(q->metadata().back().first, "general.file_type");

        const auto plan = quant::plan_quantization(quant::recipe_tensors(*in), quant::RecipeModel::from_file(*in),
                                                   *quant::find_scheme(type));
        ASSERT_EQ(q->tensors().size(), plan.size());
        for (size_t i = 0; i < plan.size(); ++i) {
            const gguf::TensorInfo& src = in->tensors()[plan[i].index];
            const gguf::TensorInfo& t = q->tensors()[i];
            EXPECT_EQ(t.name, src.name);
            EXPECT_EQ(t.dims, src.dims);
            EXPECT_EQ(t.type(), plan[i].to) << t.name;
            EXPECT_EQ(t.offset % 64, 0u) << t.name;
            // Decoded weights are close to the input's (exact for F32).
            std::vector<float> got(src.n_elements);
            quant::dequantize_row(t.type(), t.data, got.data(), (int64_t)src.n_elements);
            const auto* want = reinterpret_cast<const float*>(src.data);
            float max_err = 0, max_abs = 0;
            for (size_t k = 0; k < got.size(); ++k) {
                max_err = std::max(max_err, std::fabs(got[k] - want[k]));
                max_abs = std::max(max_abs, std::fabs(want[k]));
            }
            const float tol = t.type() == gguf::TensorType::F32 ? 0.0f : max_abs * (t.type() == gguf::TensorType::Q8_0 ? 0.01f : 0.15f);
            EXPECT_LE(max_err, tol) << t.name << " as " << gguf::tensor_type_name(t.type());
        }
    }
    const auto q = gguf::File::open(path("out-Q4_0.gguf"));
    EXPECT_EQ(q->tensor("blk.0.attn_norm.weight").type(), gguf::TensorType::F32);
    EXPECT_EQ(q->tensor("output.weight").type(), gguf::TensorType::Q8_0);  // rows of 64: not Q6_K's 256
    EXPECT_EQ(q->tensor("blk.0.ffn_down.weight").type(), gguf::TensorType::Q4_0);
}

TEST_F(QuantizeCli, OverrideOptions) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    const std::string out = path("o.gguf");
    const CliRun r = run("quantize " + m1() + " " + out +
                         " Q4_K_M --output-tensor-type q8_0 --token-embedding-type F16");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto q = gguf::File::open(out);
    EXPECT_EQ(q->tensor("output.weight").type(), gguf::TensorType::Q8_0);
    EXPECT_EQ(q->tensor("token_embd.weight").type(), gguf::TensorType::F16);
    EXPECT_EQ(q->tensor("blk.0.attn_q.weight").type(), gguf::TensorType::Q4_K);
}

// ---- errors -------------------------------------------------------------------------------

TEST_F(QuantizeCli, BadInputNamesTheProblemAndLeavesNothing) {
    HSD_REQUIRE_SHARED("models/hsd-m1.gguf");
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const std::string in = path("in.gguf");
    fs::copy_file(m1(), in);
    const std::string in_bytes = read_all(in);
    std::ofstream(path("text.gguf")) << "this is not a GGUF file, just some text\n";
    fs::create_directories(path("sub"));
    fs::create_symlink(in, path("link.gguf"));
    fs::create_hard_link(in, path("hard.gguf"));
    fs::create_directories(path("outdir"));
    const std::string out = path("out.gguf");
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {in + " " + out + " Q9_K", {"unknown type 'Q9_K'", "Q4_K_M", "IQ4_XS", "Q8_0"}},
        {in + " " + out + " Q4_K_M --output-tensor-type Q7", {"--output-tensor-type", "'Q7'"}},
        {path("missing.gguf") + " " + out + " Q4_K_M", {"missing.gguf", "cannot open"}},
        {path("text.gguf") + " " + out + " Q4_K_M", {"text.gguf", "invalid GGUF", "bad magic"}},
        {in + " " + in + " Q4_K_M", {"is the input file"}},
        {in + " " + path("sub/../in.gguf") + " Q4_K_M", {"is the input file"}},
        {in + " " + dir_.string() + "/./in.gguf Q4_K_M", {"is the input file"}},
        {in + " " + path("link.gguf") + " Q4_K_M", {"is the input file"}},
        {in + " " + path("hard.gguf") + " Q4_K_M", {"is the input file"}},
        {reference("Q4_K_M") + " " + out + " Q8_0", {"already quantized", "Q4_K", "--allow-requantize"}},
        {in + " " + path("nodir/out.gguf") + " Q4_K_M", {"nodir/out.gguf", "cannot create", "No such file"}},
        {in + " " + path("outdir") + " Q4_K_M", {"outdir", "is a directory"}},
        {in + " " + out + " Q4_K_M --threads=-3", {"--threads"}},
    };
    const std::vector<std::string> before = listing();
    for (const auto& [args, wants] : cases) {
        const CliRun r = run("quantize " + args);
        EXPECT_EQ(r.status, 1) << args << "\n" << r.out;
        EXPECT_NE(r.out.find("error: "), std::string::npos) << args << "\n" << r.out;
        for (const std::string& want : wants) EXPECT_NE(r.out.find(want), std::string::npos) << args << "\n" << r.out;
        EXPECT_EQ(listing(), before) << args;  // no output, no temporary file
    }
    EXPECT_TRUE(read_all(in) == in_bytes);  // the input is untouched

    // Missing arguments are a usage error (CLI11), not a crash.
    const CliRun usage = run("quantize " + in);
    EXPECT_NE(usage.status, 0);
    EXPECT_NE(usage.out.find("required"), std::string::npos) << usage.out;

    // Without write permission on the directory (meaningless for root, who may write anyway).
    if (::geteuid() != 0) {
        fs::permissions(path("outdir"), fs::perms::owner_read | fs::perms::owner_exec);
        const CliRun r = run("quantize " + in + " " + path("outdir/out.gguf") + " Q4_K_M");
        EXPECT_EQ(r.status, 1) << r.out;
        EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
        fs::permissions(path("outdir"), fs::perms::owner_all);
    }
}

TEST_F(QuantizeCli, AllowRequantize) {
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const std::string out = path("re.gguf");
    const CliRun r = run("quantize " + reference("Q4_K_M") + " " + out + " Q8_0 --allow-requantize");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto q = gguf::File::open(out);
    EXPECT_EQ(q->tensor("blk.0.attn_q.weight").type(), gguf::TensorType::Q8_0);
    EXPECT_NO_THROW(Model::load(out));
    // Tensors already of their planned type are copied as they are: Q4_K_M -> Q4_K_M is the same data.
    ASSERT_EQ(run("quantize " + reference("Q4_K_M") + " " + path("same.gguf") + " Q4_K_M --allow-requantize").status, 0);
    EXPECT_TRUE(read_all(path("same.gguf")) == read_all(reference("Q4_K_M")));
}

TEST_F(QuantizeCli, FailureHalfWayKeepsTheOldOutput) {
    // An infinite weight in a tensor quantized late: the run fails after writing has begun.
    test::GgufWriter w = synthetic_model();
    std::vector<float> bad = ramp(96 * 64, 0.2f);
    bad[1000] = std::numeric_limits<float>::infinity();
    w.tensor_f32("blk.0.ffn_up.weight", {96, 64}, bad);
    const std::string in = path("inf.gguf"), out = path("out.gguf");
    w.write(in);
    std::ofstream(out) << "previous contents";
    const CliRun r = run("quantize " + in + " " + out + " Q8_0");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("blk.0.ffn_up.weight"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
    EXPECT_EQ(read_all(out), "previous contents");
    EXPECT_EQ(listing(), (std::vector<std::string>{"inf.gguf", "out.gguf"}));
}

TEST_F(QuantizeCli, InterruptedRunLeavesNoTemporaryFile) {
    HSD_REQUIRE_SHARED("models/hsd-target.gguf");
    const std::string out = path("big.gguf");
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const std::string in = test::shared_path("models/hsd-target.gguf");
        ::freopen("/dev/null", "w", stderr);
        ::freopen("/dev/null", "w", stdout);
        ::execl(HSD_CLI_PATH, HSD_CLI_PATH, "quantize", in.c_str(), out.c_str(), "IQ4_NL", "-t", "1", (char*)nullptr);
        ::_exit(127);
    }
    // Wait for the temporary file to appear, then interrupt as Ctrl-C would.
    bool writing = false;
    for (int i = 0; i < 20000 && !writing; ++i) {
        for (const std::string& n : listing()) writing |= n.find(".tmp-") != std::string::npos;
        if (!writing) ::usleep(500);
    }
    ::usleep(50000);  // past the header, into the tensors
    ::kill(pid, SIGINT);
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) GTEST_SKIP() << "the run finished before it could be interrupted";
    ASSERT_TRUE(writing);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    EXPECT_TRUE(listing().empty()) << listing().front();
}

// ---- gguf::Writer on its own ---------------------------------------------------------------

TEST_F(QuantizeCli, WriterStreamsPiecesAndAnnouncesItsLayout) {
    const auto src = synthetic_model().file("synthetic");
    const std::string out = path("w.gguf");
    {
        gguf::Writer w(out);
        w.copy_metadata(*src);
        w.set("general.alignment", gguf::value_u32(128));      // replaced in place
        w.set("general.name", gguf::value_string("written"));  // appended
        w.remove("t.u8");
        for (const gguf::TensorInfo& t : src->tensors()) w.add_tensor(t.name, t.dims, t.type());
        EXPECT_EQ(w.alignment(), 128u);
        EXPECT_TRUE(w.temp_path().empty());
        w.begin();
        EXPECT_FALSE(w.temp_path().empty());
        EXPECT_FALSE(fs::exists(out));  // only the temporary exists until finish()
        // All tensor data in pieces of 7 bytes, across tensor boundaries.
        std::string all;
        for (const gguf::TensorInfo& t : src->tensors()) all.append(reinterpret_cast<const char*>(t.data), t.n_bytes);
        for (size_t at = 0; at < all.size(); at += 7) w.write(all.data() + at, std::min<size_t>(7, all.size() - at));
        EXPECT_THROW(w.write("x", 1), InternalError);  // past the last tensor
        const uint64_t announced = w.file_bytes(), header = w.header_bytes();
        w.finish();
        EXPECT_EQ(fs::file_size(out), announced);
        EXPECT_EQ(gguf::File::open(out)->data_offset(), header);
    }
    const auto f = gguf::File::open(out);
    EXPECT_EQ(f->alignment(), 128u);
    EXPECT_EQ(f->find("t.u8"), nullptr);
    EXPECT_EQ(f->get_string("general.name"), "written");
    EXPECT_EQ(f->metadata().back().first, "general.name");
    EXPECT_EQ(f->metadata()[1].first, "general.alignment");
    ASSERT_EQ(f->tensors().size(), src->tensors().size());
    for (size_t i = 0; i < f->tensors().size(); ++i) {
        const gguf::TensorInfo &a = f->tensors()[i], &b = src->tensors()[i];
        EXPECT_EQ(a.offset % 128, 0u);
        EXPECT_EQ(a.name, b.name);
        EXPECT_TRUE(a.n_bytes == b.n_bytes && std::memcmp(a.data, b.data, a.n_bytes) == 0) << a.name;
    }
    EXPECT_EQ(listing(), std::vector<std::string>{"w.gguf"});
}

TEST_F(QuantizeCli, WriterLeavesNothingWhenNotFinished) {
    const auto src = synthetic_model().file("synthetic");
    {
        gguf::Writer w(path("a.gguf"));
        w.copy_metadata(*src);
        w.add_tensor("x", {64, 2}, gguf::TensorType::F32);
        w.begin();
        w.write(src->tensors()[0].data, 100);
        EXPECT_THROW(w.finish(), InternalError);  // 412 bytes missing
    }
    {
        gguf::Writer w(path("b.gguf"));
        w.add_tensor("x", {64}, gguf::TensorType::F32);
        w.begin();  // and dropped, as when an exception unwinds past it
    }
    EXPECT_TRUE(listing().empty());
    gguf::Writer w(path("c.gguf"));
    EXPECT_THROW(w.add_tensor("y", {48}, gguf::TensorType::Q4_0), Error);  // rows of 48 do not fit 32-blocks
}
