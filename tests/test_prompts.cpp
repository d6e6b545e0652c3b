// Tests for load_prompts (src/prompts/prompt_set.*): a JSON Lines file and its gzip load to the
// same prompts (every supported field, ids, blank lines, the count limit), and a corrupt or
// truncated .gz or a missing file throws hsd::Error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf_writer.h"
#include "prompts/prompt_set.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using hsd::Prompt;

// A folder of its own under the system temp dir, removed with everything in it.
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("hsd_test_prompts_" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// One line per supported layout, plus a blank line (skipped, but it still counts for line ids).
const std::string kJsonl =
    R"({"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Add.\"\"\"\n"})" "\n"
    R"({"question_id": 81, "turns": ["Write a haiku about caches.", "Now a limerick."]})" "\n"
    "  \t\r\n"
    R"({"question": "Natalia sold 48 clips. How many?", "answer": "72"})" "\n"
    R"({"text": "h\u00e9llo \u2713 w\u00f6rld"})" "\n"
    R"({"task_id": 7, "prompt": "x"})";  // no final newline

struct Want {
    std::string id, text;
};
const std::vector<Want> kWant = {
    {"HumanEval/0", "def add(a, b):\n    \"\"\"Add.\"\"\"\n"},
    {"81", "Write a haiku about caches."},
    {"4", "Natalia sold 48 clips. How many?"},
    {"5", "h\xc3\xa9llo \xe2\x9c\x93 w\xc3\xb6rld"},
    {"7", "x"},
};

void write_plain(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    ASSERT_TRUE(out.good()) << path;
}

void write_gzip(const std::string& path, const std::string& data) {
    gzFile f = gzopen(path.c_str(), "wb9");
    ASSERT_NE(f, nullptr) << path;
    EXPECT_EQ(gzwrite(f, data.data(), (unsigned)data.size()), (int)data.size()) << path;
    ASSERT_EQ(gzclose(f), Z_OK) << path;
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void expect_prompts(const std::vector<Prompt>& got, size_t n) {
    ASSERT_EQ(got.size(), n);
    for (size_t k = 0; k < n; ++k) {
        EXPECT_EQ(got[k].id, kWant[k].id) << k;
        EXPECT_EQ(got[k].text, kWant[k].text) << k;
    }
}

// load_prompts(path) must throw hsd::Error whose message names `path`.
void expect_error_naming(const std::string& path) {
    try {
        const std::vector<Prompt> p = hsd::load_prompts(path);
        ADD_FAILURE() << "no hsd::Error for " << path << " (loaded " << p.size() << " prompts)";
    } catch (const hsd::Error& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
}

TEST(PromptSet, PlainAndGzipLoadTheSamePrompts) {
    TempDir dir;
    const std::string plain = dir.file("set.jsonl"), gz = dir.file("set.jsonl.gz");
    write_plain(plain, kJsonl);
    write_gzip(gz, kJsonl);
    const std::string gz_bytes = read_bytes(gz);
    // Really compressed, so the gzip path is what is tested (zlib passes plain files through).
    ASSERT_GT(gz_bytes.size(), 2u);
    EXPECT_EQ((uint8_t)gz_bytes[0], 0x1f);
    EXPECT_EQ((uint8_t)gz_bytes[1], 0x8b);

    const std::vector<Prompt> a = hsd::load_prompts(plain), b = hsd::load_prompts(gz);
    expect_prompts(a, kWant.size());
    expect_prompts(b, kWant.size());
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k].id, b[k].id);
        EXPECT_EQ(a[k].text, b[k].text);
    }
}

TEST(PromptSet, LimitCountsPrompts) {
    TempDir dir;
    const std::string plain = dir.file("set.jsonl"), gz = dir.file("set.jsonl.gz");
    write_plain(plain, kJsonl);
    write_gzip(gz, kJsonl);
    for (const std::string& path : {plain, gz}) {
        SCOPED_TRACE(path);
        expect_prompts(hsd::load_prompts(path, 1), 1);
        expect_prompts(hsd::load_prompts(path, 3), 3);  // the blank line is not a prompt
        expect_prompts(hsd::load_prompts(path, kWant.size()), kWant.size());
        expect_prompts(hsd::load_prompts(path, 100), kWant.size());
        expect_prompts(hsd::load_prompts(path, 0), kWant.size());  // 0: all
    }
}

TEST(PromptSet, CorruptOrTruncatedGzipThrowsNamingTheFile) {
    TempDir dir;
    const std::string good_path = dir.file("good.jsonl.gz");
    write_gzip(good_path, kJsonl);
    const std::string good = read_bytes(good_path);
    ASSERT_GT(good.size(), 40u);
    ASSERT_NO_THROW(hsd::load_prompts(good_path));

    struct Case {
        const char* name;
        std::string bytes;
    };
    std::vector<Case> cases;
    std::string crc = good;
    crc[crc.size() - 8] ^= 0x55;  // the CRC-32 of the trailer
    cases.push_back({"bad-crc.jsonl.gz", crc});
    std::string len = good;
    len[len.size() - 4] ^= 0x01;  // the uncompressed length of the trailer
    cases.push_back({"bad-length.jsonl.gz", len});
    std::string body = good;
    body[body.size() / 2] ^= 0xFF;  // inside the deflate stream
    cases.push_back({"bad-body.jsonl.gz", body});
    // Cut inside the deflate stream: the last line read is incomplete JSON.
    cases.push_back({"half.jsonl.gz", good.substr(0, good.size() / 2)});
    cases.push_back({"header-only.jsonl.gz", good.substr(0, 10)});
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string path = dir.file(c.name);
        write_plain(path, c.bytes);
        expect_error_naming(path);
    }
}

// gzread() reports a gzip stream cut short (Z_BUF_ERROR) only through gzerror()/gzclose():
// a .gz cut after its deflate data (no trailer) must not load as a complete prompt set.
TEST(PromptSet, GzipCutAtLineBoundaryThrows) {
    TempDir dir;
    const std::string path = dir.file("cut.jsonl.gz");
    write_gzip(path, kJsonl);
    const std::string good = read_bytes(path);
    write_plain(path, good.substr(0, good.size() - 8));  // the whole deflate stream, no trailer
    expect_error_naming(path);
}

TEST(PromptSet, MissingFileThrowsNamingTheFile) {
    TempDir dir;
    expect_error_naming(dir.file("no-such-prompts.jsonl.gz"));
    expect_error_naming(dir.file("no-such-prompts.jsonl"));
}

// A five-piece vocabulary, BOS (id 1) added or not.
hsd::Tokenizer tiny_vocab(bool add_bos) {
    hsd::test::GgufWriter w;
    w.str("tokenizer.ggml.model", "llama")
        .array<std::string>("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "b"})
        .array<float>("tokenizer.ggml.scores", {0, 0, 0, -1, -2})
        .array<int32_t>("tokenizer.ggml.token_type", {2, 3, 3, 1, 1})
        .u32("tokenizer.ggml.bos_token_id", 1)
        .u32("tokenizer.ggml.eos_token_id", 2)
        .boolean("tokenizer.ggml.add_bos_token", add_bos);
    return hsd::Tokenizer::from_gguf(*w.file("tiny-vocab.gguf"));
}

TEST(PromptSet, KeepPromptTailKeepsBosAndTheEnd) {
    using T = std::vector<hsd::TokenId>;
    const hsd::Tokenizer bos = tiny_vocab(true), plain = tiny_vocab(false);
    EXPECT_EQ(hsd::keep_prompt_tail({1, 3, 4, 3, 4}, 5, bos), (T{1, 3, 4, 3, 4}));  // fits: unchanged
    EXPECT_EQ(hsd::keep_prompt_tail({1, 3, 4, 3, 4}, 3, bos), (T{1, 3, 4}));
    EXPECT_EQ(hsd::keep_prompt_tail({1, 3, 4, 3, 4}, 1, bos), (T{1}));
    // No BOS to keep: only the end (neither when the model does not add one).
    EXPECT_EQ(hsd::keep_prompt_tail({3, 4, 3, 3, 4}, 2, bos), (T{3, 4}));
    EXPECT_EQ(hsd::keep_prompt_tail({1, 3, 4, 3, 4}, 2, plain), (T{3, 4}));
}

}  // namespace
