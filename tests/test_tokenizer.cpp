// Tokenizer tests: exact agreement with the SentencePiece library (the Debian libsentencepiece
// build, loaded with the same tokenizer.model the GGUF vocabularies were converted from) on
// well over 1 MB of text, the reference prompts, streaming detokenization, and GGUF errors.
//
// Known, deliberate classes of inputs that do not round-trip (decode(encode(x)) != x) — the
// library behaves the same, and we check that our ids and decoded text still equal the library's:
//   * invalid UTF-8: SentencePiece's normalizer replaces every byte that does not start a valid
//     character (also overlong forms, surrogates, > U+10FFFF) by U+FFFD before encoding;
//   * a literal U+2581 "▁" in the input: it is the whitespace marker, so it decodes as ' ';
//   * characters without a piece in vocabularies without byte pieces: they become <unk>, which
//     decodes to " ⁇ ".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "gguf_writer.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_stream.h"
#include "utf8_oracle.h"

namespace {

using hsd::TokenId;
using hsd::Tokenizer;
using hsd::Utf8Stream;
using PieceType = Tokenizer::PieceType;

// ---------------------------------------------------------------------------------------------
// Small helpers

struct Rng {  // splitmix64: the same sequence everywhere
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return (size_t)(next() % n); }
    bool chance(int percent) { return below(100) < (size_t)percent; }
    template <class T>
    const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

std::string utf8(uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += (char)cp;
    } else if (cp < 0x800) {
        s += (char)(0xC0 | (cp >> 6));
        s += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += (char)(0xE0 | (cp >> 12));
        s += (char)(0x80 | ((cp >> 6) & 0x3F));
        s += (char)(0x80 | (cp & 0x3F));
    } else {
        s += (char)(0xF0 | (cp >> 18));
        s += (char)(0x80 | ((cp >> 12) & 0x3F));
        s += (char)(0x80 | ((cp >> 6) & 0x3F));
        s += (char)(0x80 | (cp & 0x3F));
    }
    return s;
}

using hsd::test::reference_valid_utf8;  // strict UTF-8, written independently of the tokenizer's

const std::string kSpaceMark = "\xE2\x96\x81";  // U+2581
const std::string kFFFD = "\xEF\xBF\xBD";

bool round_trips(std::string_view s) { return reference_valid_utf8(s) && s.find(kSpaceMark) == std::string_view::npos; }

std::string escape(std::string_view s, size_t max = 120) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\\') out += "\\\\";
        else if (c >= 0x20 && c < 0x7F) out += (char)c;
        else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

std::vector<int> to_int(const std::vector<TokenId>& v) { return std::vector<int>(v.begin(), v.end()); }

// "doc 12: first difference at token 7 (text byte ~31): ..." with both id sequences around it.
std::string describe_mismatch(size_t doc, const std::string& text, const std::vector<int>& want,
                              const std::vector<int>& got, const Tokenizer& tok) {
    size_t p = 0;
    while (p < want.size() && p < got.size() && want[p] == got[p]) ++p;
    size_t byte = 0;
    for (size_t k = 0; k < p; ++k) byte += tok.token_bytes(got[k]).size();
    auto around = [&](const std::vector<int>& v) {
        std::string s;
        const size_t lo = p > 5 ? p - 5 : 0, hi = std::min(v.size(), p + 6);
        for (size_t k = lo; k < hi; ++k) {
            s += (k == p ? " >>" : " ") + std::to_string(v[k]);
            if (v[k] >= 0 && v[k] < tok.n_vocab()) s += "'" + escape(tok.piece(v[k]), 24) + "'";
        }
        return s;
    };
    std::ostringstream o;
    o << "doc " << doc << " (" << text.size() << " bytes): first difference at token " << p << " (text byte ~"
      << byte << ": \"" << escape(std::string_view(text).substr(std::min(byte, text.size())), 40) << "\")\n"
      << "  library (" << want.size() << " ids):" << around(want) << "\n"
      << "  hsd     (" << got.size() << " ids):" << around(got) << "\n";
    return o.str();
}

// ---------------------------------------------------------------------------------------------
// Hand-made vocabularies (GGUF v3, no tensors)

using hsd::test::GgufWriter;

// A GGUF vocabulary mirroring a loaded SentencePiece model.
GgufWriter gguf_from_processor(const sentencepiece::SentencePieceProcessor& sp, bool add_space_prefix,
                               const std::set<std::string>& user_defined) {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    for (int i = 0; i < sp.GetPieceSize(); ++i) {
        tokens.push_back(sp.IdToPiece(i));
        scores.push_back(sp.GetScore(i));
        PieceType t = PieceType::Normal;
        if (sp.IsUnknown(i)) t = PieceType::Unknown;
        else if (sp.IsControl(i)) t = PieceType::Control;
        else if (sp.IsByte(i)) t = PieceType::Byte;
        else if (sp.IsUnused(i)) t = PieceType::Unused;
        else if (user_defined.count(sp.IdToPiece(i))) t = PieceType::UserDefined;
        types.push_back((int32_t)t);
    }
    GgufWriter b;
    b.str("tokenizer.ggml.model", "llama")
        .array<std::string>("tokenizer.ggml.tokens", tokens)
        .array<float>("tokenizer.ggml.scores", scores)
        .array<int32_t>("tokenizer.ggml.token_type", types)
        .u32("tokenizer.ggml.bos_token_id", (uint32_t)sp.bos_id())
        .u32("tokenizer.ggml.eos_token_id", (uint32_t)sp.eos_id())
        .u32("tokenizer.ggml.unknown_token_id", (uint32_t)sp.unk_id())
        .boolean("tokenizer.ggml.add_bos_token", true)
        .boolean("tokenizer.ggml.add_eos_token", false)
        .boolean("tokenizer.ggml.add_space_prefix", add_space_prefix);
    return b;
}

// ---------------------------------------------------------------------------------------------
// Shared model and library

const Tokenizer& shared_tokenizer() {
    static const Tokenizer tok = [] {
        auto f = hsd::gguf::File::open(hsd::test::shared_path("models/hsd-m0.gguf"));
        return Tokenizer::from_gguf(*f);
    }();
    return tok;
}

const sentencepiece::SentencePieceProcessor& shared_sp() {
    static const auto sp = [] {
        auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
        const auto st = p->Load(hsd::test::shared_path("models/tokenizer.model"));
        if (!st.ok()) throw std::runtime_error("cannot load tokenizer.model: " + st.ToString());
        return p;
    }();
    return *sp;
}

#define REQUIRE_TOKENIZER_DATA()                     \
    HSD_REQUIRE_SHARED("models/tokenizer.model");    \
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf")

std::vector<int> sp_encode(const sentencepiece::SentencePieceProcessor& sp, const std::string& text) {
    std::vector<int> ids;
    const auto st = sp.Encode(text, &ids);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return ids;
}

std::string sp_decode(const sentencepiece::SentencePieceProcessor& sp, const std::vector<int>& ids) {
    std::string text;
    const auto st = sp.Decode(ids, &text);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return text;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    return nlohmann::json::parse(in);
}

void collect_strings(const nlohmann::json& j, std::vector<std::string>& out) {
    if (j.is_string()) {
        out.push_back(j.get<std::string>());
    } else if (j.is_array() || j.is_object()) {
        for (const auto& e : j) collect_strings(e, out);
    }
}

// Every string of every line of a .jsonl file.
void jsonl_strings(const std::string& path, std::vector<std::string>& out) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) collect_strings(nlohmann::json::parse(line), out);
}

// ---------------------------------------------------------------------------------------------
// Generated text

const std::vector<std::string> kIdents = {
    "data", "value", "result", "node", "graph", "matrix", "index", "count", "items", "key", "weights", "x", "y",
    "i", "j", "n_samples", "tmp", "buffer", "config", "learning_rate", "batch_size", "_cache", "alpha", "beta",
    "edges", "visited", "queue", "stack", "path", "total", "numbers", "text", "words", "mapping", "parent",
    "größe", "naïve", "数据", "имя", "getValue", "HTTPServer", "__dict__", "kwargs", "args", "fh", "exc"};
const std::vector<std::string> kTypes = {"int", "float", "str", "list[int]", "dict[str, Any]", "Optional[np.ndarray]",
                                         "torch.Tensor", "None", "bool", "tuple[int, ...]"};
const std::vector<std::string> kWords = {
    "the", "graph", "returns", "a", "list", "of", "nodes", "in", "order", "Compute", "value", "for", "each",
    "edge", "This", "function", "is", "used", "by", "algorithm", "If", "not", "given", "default", "Raises",
    "when", "input", "empty", "number", "matrix", "résumé", "café", "über", "Ångström", "naïve", "coöperate",
    "niño", "façade", "Œuvre", "Straße", "ÆØÅ", "e\xCC\x81t\xC3\xA9", "smörgåsbord", "δ-function", "λ"};

std::string gen_number(Rng& r) {
    switch (r.below(9)) {
        case 0: return std::to_string(r.below(10));
        case 1: return std::to_string(r.below(1000));
        case 2: return std::to_string(r.next() % 1000000000000ULL);
        case 3: return std::to_string(r.below(100)) + "." + std::to_string(r.below(100000));
        case 4: return std::to_string(r.below(10)) + "e-" + std::to_string(r.below(20));
        case 5: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "0x%llX", (unsigned long long)(r.next() & 0xFFFFFF));
            return buf;
        }
        case 6: return "1_000_" + std::to_string(100 + r.below(900));
        case 7: return "-" + std::to_string(r.below(5000));
        default: {
            std::string s;
            const size_t n = 1 + r.below(60);
            for (size_t k = 0; k < n; ++k) s += (char)('0' + r.below(10));
            return s;
        }
    }
}

std::string gen_sentence(Rng& r) {
    std::string s;
    const size_t n = 3 + r.below(12);
    for (size_t k = 0; k < n; ++k) {
        if (k) s += ' ';
        s += r.chance(10) ? gen_number(r) : r.pick(kWords);
    }
    return s + (r.chance(70) ? "." : r.chance(50) ? ":" : "");
}

std::string gen_expr(Rng& r, int depth = 0) {
    const std::string a = r.chance(30) ? gen_number(r) : r.pick(kIdents);
    if (depth > 2 || r.chance(35)) return a;
    static const std::vector<std::string> ops = {" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " == ", " != ",
                                                 " < ", " >= ", " and ", " or ", " in ", " is not ", "@", " & "};
    switch (r.below(7)) {
        case 0: return a + r.pick(ops) + gen_expr(r, depth + 1);
        case 1: return r.pick(kIdents) + "(" + gen_expr(r, depth + 1) + ", " + gen_expr(r, depth + 1) + ")";
        case 2: return a + "[" + gen_expr(r, depth + 1) + "]";
        case 3: return "[" + gen_expr(r, depth + 1) + " for " + r.pick(kIdents) + " in " + r.pick(kIdents) + "]";
        case 4: return "f\"" + gen_sentence(r) + " {" + r.pick(kIdents) + "!r}\"";
        case 5: return "'" + r.pick(kWords) + "'";
        default: return a + "." + r.pick(kIdents) + "()";
    }
}

void gen_block(Rng& r, std::string& out, const std::string& indent, int depth) {
    const std::string ind = r.chance(3) ? indent + "\t" : indent + "    ";
    const size_t n = 1 + r.below(6);
    for (size_t k = 0; k < n; ++k) {
        switch (r.below(12)) {
            case 0:
            case 1:
            case 2: out += ind + r.pick(kIdents) + " = " + gen_expr(r) + "\n"; break;
            case 3: out += ind + "# " + gen_sentence(r) + "\n"; break;
            case 4: out += ind + "return " + gen_expr(r) + "\n"; break;
            case 5:
                if (depth < 3) {
                    out += ind + "for " + r.pick(kIdents) + " in range(" + gen_number(r) + "):\n";
                    gen_block(r, out, ind, depth + 1);
                }
                break;
            case 6:
                if (depth < 3) {
                    out += ind + "if " + gen_expr(r) + ":\n";
                    gen_block(r, out, ind, depth + 1);
                    if (r.chance(50)) {
                        out += ind + "else:\n";
                        gen_block(r, out, ind, depth + 1);
                    }
                }
                break;
            case 7: out += ind + "raise ValueError(f\"invalid " + r.pick(kIdents) + ": {" + r.pick(kIdents) + "}\")\n"; break;
            case 8:
                if (depth < 3) {
                    out += ind + "try:\n";
                    gen_block(r, out, ind, depth + 1);
                    out += ind + "except (KeyError, IndexError) as exc:\n";
                    gen_block(r, out, ind, depth + 1);
                }
                break;
            case 9: out += ind + "print(" + gen_expr(r) + ", sep='\\t', end=\"\\n\")" + (r.chance(20) ? "   " : "") + "\n"; break;
            case 10: out += r.chance(50) ? "\n" : ind + "\n"; break;
            default: out += ind + "yield " + gen_expr(r) + "\n"; break;
        }
    }
}

std::string gen_python(Rng& r) {
    std::string out = "import os\nimport numpy as np\nfrom typing import Any, Optional\n\n";
    if (r.chance(50)) out += "# -*- coding: utf-8 -*-\n\"\"\"" + gen_sentence(r) + "\n\n" + gen_sentence(r) + "\n\"\"\"\n\n";
    const size_t n_defs = 1 + r.below(5);
    for (size_t d = 0; d < n_defs; ++d) {
        const bool cls = r.chance(40);
        std::string indent;
        if (cls) {
            out += "\n\nclass " + std::string(r.chance(50) ? "Graph" : "Matrix") + gen_number(r) + "(object):\n";
            out += "    \"\"\"" + gen_sentence(r) + "\n\n    Parameters\n    ----------\n    " + r.pick(kIdents) + " : " +
                   r.pick(kTypes) + "\n        " + gen_sentence(r) + "\n    \"\"\"\n\n";
            indent = "    ";
        }
        const size_t n_fn = 1 + r.below(3);
        for (size_t f = 0; f < n_fn; ++f) {
            if (r.chance(20)) out += indent + "@functools.lru_cache(maxsize=" + gen_number(r) + ")\n";
            out += indent + "def " + r.pick(kIdents) + "_" + r.pick(kIdents) + "(" + (cls ? "self, " : "") + r.pick(kIdents) +
                   ": " + r.pick(kTypes) + " = " + gen_number(r) + ", *args, **kwargs) -> " + r.pick(kTypes) + ":\n";
            out += indent + "    \"\"\"" + gen_sentence(r) + "\n\n" + indent + "    >>> " + gen_expr(r) + "\n" + indent +
                   "    " + gen_number(r) + "\n" + indent + "    \"\"\"\n";
            gen_block(r, out, indent, 0);
            out += "\n";
        }
    }
    return out;
}

const std::vector<std::string> kUnicodeChunks = {
    "机器学习是人工智能的一个分支。", "这是一个测试：中文、标点，以及数字１２３。", "これは日本語の文章です。カタカナとひらがな。",
    "안녕하세요, 세계! 한국어 텍스트입니다.", "😀", "😂🤣", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵🇺🇸", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🌍🌲🚨", "❤️", "✅",
    "café naïve résumé Ångström Œuvre façade", "e\xCC\x81 a\xCC\x88 n\xCC\x83 o\xCC\x82\xCC\x81 Z\xCC\xB5\xCC\xA1\xCD\x8E",
    "שלום עולם, זה טקסט בעברית.", "مرحبا بالعالم، هذا نص عربي.", "\xE2\x80\x8F\xE2\x80\xAE" "reversed\xE2\x80\xAC",
    "नमस्ते दुनिया", "สวัสดีชาวโลก", "αβγδε Ελληνικά", "Привет, мир! Ёжик.", "∑∫√∞≠≤≥ ∀x∈ℝ", "┌──┐│└┘",
    "\xC2\xA0non-breaking\xC2\xA0space", "\xE3\x80\x80ideographic", "\xEF\xBB\xBF" "bom", "zero\xE2\x80\x8Bwidth\xE2\x80\x8C\xE2\x80\x8Dj",
    "\xEE\x80\x80private", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐐁𐐧", "\xEF\xBF\xBD replacement", "\xF4\x8F\xBF\xBF max", "\xEF\xBF\xBE\xEF\xBF\xBF nonchar",
    "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "١٢٣٤ ۱۲۳ ๑๒๓", "“quotes” ‘single’ «guillemets» — – …", "™©®°±×÷", "\x01\x02\x1F\x7F controls",
    "ǅǈǋ ﬁﬂ ᴬᴮ ⅣⅫ", "Ⓐⓑ ⒜ ㈱"};

std::string gen_unicode(Rng& r) {
    std::string s;
    const size_t n = 3 + r.below(20);
    for (size_t k = 0; k < n; ++k) {
        if (k) s += r.chance(70) ? " " : r.chance(50) ? "\n" : "";
        s += r.chance(75) ? r.pick(kUnicodeChunks) : r.pick(kWords);
    }
    return s;
}

// Random code points from all planes (no surrogates): valid UTF-8, mostly unknown to the vocab.
std::string gen_codepoints(Rng& r) {
    std::string s;
    const size_t n = 1 + r.below(80);
    for (size_t k = 0; k < n; ++k) {
        uint32_t cp;
        switch (r.below(6)) {
            case 0: cp = 0x20 + (uint32_t)r.below(0x5F); break;
            case 1: cp = 0x80 + (uint32_t)r.below(0x780); break;
            case 2: cp = 0x800 + (uint32_t)r.below(0xD000 - 0x800); break;
            case 3: cp = 0xE000 + (uint32_t)r.below(0x2000); break;
            case 4: cp = 0x10000 + (uint32_t)r.below(0x100000); break;
            default: cp = 0x4E00 + (uint32_t)r.below(0x5200); break;  // CJK
        }
        s += utf8(cp);
    }
    return s;
}

std::string gen_whitespace(Rng& r) {
    static const std::vector<std::string> ws = {" ", "\t", "\n", "\r\n", "\r", "\v", "\f", "\xC2\xA0", "\xE3\x80\x80"};
    std::string s;
    const size_t n = 1 + r.below(30);
    for (size_t k = 0; k < n; ++k) {
        const size_t run = 1 + (r.chance(20) ? r.below(80) : r.below(9));
        const std::string& w = r.chance(60) ? ws[r.below(3)] : r.pick(ws);
        for (size_t q = 0; q < run; ++q) s += r.chance(85) ? w : r.pick(ws);
        if (r.chance(80)) s += r.chance(70) ? r.pick(kIdents) : r.chance(50) ? gen_number(r) : "()";
    }
    return s;
}

std::string gen_digits(Rng& r) {
    static const std::vector<std::string> seps = {"", " ", ",", ".", "-", "/", ":", "x", "abc", "e+", "$", "%", "\n"};
    std::string s;
    const size_t n = 1 + r.below(40);
    for (size_t k = 0; k < n; ++k) s += gen_number(r) + r.pick(seps);
    return s;
}

std::string gen_bytes(Rng& r) {  // arbitrary bytes: invalid UTF-8, NULs, truncated sequences
    static const std::vector<std::string> bits = {"\x80", "\xBF", "\xC0\x80", "\xC3", "\xE4\xB8", "\xF0\x9F\x98",
                                                  "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\xFF",
                                                  "\xFE", std::string(1, '\0'), "\xE0\x80\xAF"};
    std::string s;
    const size_t n = 1 + r.below(60);
    for (size_t k = 0; k < n; ++k) {
        switch (r.below(4)) {
            case 0: s += (char)r.below(256); break;
            case 1: s += r.pick(bits); break;
            case 2: s += r.pick(kWords) + " "; break;
            default: s += r.pick(kUnicodeChunks); break;
        }
    }
    return s;
}

// Concatenated vocabulary pieces (as text): forces long merge chains and near-ties.
std::string gen_vocab_soup(Rng& r, const Tokenizer& tok) {
    std::string s;
    const size_t n = 5 + r.below(100);
    for (size_t k = 0; k < n; ++k) {
        const TokenId id = (TokenId)r.below((size_t)tok.n_vocab());
        if (tok.type(id) == PieceType::Normal || tok.type(id) == PieceType::UserDefined) s += tok.token_bytes(id);
    }
    return s;
}

const std::vector<std::string> kEdgeCases = {
    "", " ", "  ", "   ", "\n", "\t", " \n ", "a", " a", "a ", std::string("a\0b", 3), std::string(1, '\0'), "<s>",
    "</s>", "<unk>", "<0x41>", "<0xZZ>", "▁", "▁▁hello", " ▁ ", "\xEF\xBF\xBD", "\xC3", "\xC3(", "\xED\xA0\x80",
    "\xC0\x80", "\xF5\x80\x80\x80", std::string(1000, ' '), std::string(777, '\n'), std::string(300, 'a'),
    std::string(513, '9'), "1234567890", "x = 1\n", "def f():\n    return 0\n", "\xEF\xBB\xBF" "def", "🤣🤣🤣",
    "日本", "hello world"};

// Documents for the library-equality test on a given vocabulary (not counting the prompt files).
std::vector<std::string> generated_documents(uint64_t seed, const Tokenizer& tok, size_t n_each) {
    Rng r(seed);
    std::vector<std::string> docs(kEdgeCases.begin(), kEdgeCases.end());
    for (size_t k = 0; k < n_each; ++k) {
        docs.push_back(gen_python(r));
        docs.push_back(gen_unicode(r));
        docs.push_back(gen_whitespace(r));
        docs.push_back(gen_digits(r));
        docs.push_back(gen_vocab_soup(r, tok));
        if (k % 2 == 0) docs.push_back(gen_codepoints(r));
        if (k % 4 == 0) docs.push_back(gen_bytes(r));
    }
    // One long document: the encoder must stay O(n log n).
    std::string big;
    while (big.size() < 150000) big += gen_python(r) + gen_unicode(r) + "\n";
    docs.push_back(big);
    return docs;
}

struct Comparison {
    size_t bytes = 0, docs = 0, mismatches = 0, decode_mismatches = 0, roundtrip_failures = 0, roundtrip_checked = 0;
    double hsd_seconds = 0, lib_seconds = 0;
    std::string report;
};

// Encodes every document with both tokenizers and compares ids, decoded text and round trips.
Comparison compare_with_library(const Tokenizer& tok, const sentencepiece::SentencePieceProcessor& sp,
                                const std::vector<std::string>& docs, bool expect_round_trip) {
    Comparison c;
    for (size_t d = 0; d < docs.size(); ++d) {
        const std::string& text = docs[d];
        auto t0 = std::chrono::steady_clock::now();
        const std::vector<int> want = sp_encode(sp, text);
        auto t1 = std::chrono::steady_clock::now();
        const std::vector<TokenId> got_ids = tok.encode(text, false);
        auto t2 = std::chrono::steady_clock::now();
        c.lib_seconds += std::chrono::duration<double>(t1 - t0).count();
        c.hsd_seconds += std::chrono::duration<double>(t2 - t1).count();
        c.bytes += text.size();
        ++c.docs;
        const std::vector<int> got = to_int(got_ids);
        if (got != want) {
            if (++c.mismatches <= 5) c.report += describe_mismatch(d, text, want, got, tok);
            continue;
        }
        const std::string decoded = tok.decode(got_ids);
        if (decoded != sp_decode(sp, want)) {
            if (++c.decode_mismatches <= 5)
                c.report += "doc " + std::to_string(d) + ": decode differs from the library: \"" + escape(decoded) +
                            "\" vs \"" + escape(sp_decode(sp, want)) + "\"\n";
        }
        if (expect_round_trip && round_trips(text)) {
            ++c.roundtrip_checked;
            if (decoded != text && ++c.roundtrip_failures <= 5)
                c.report += "doc " + std::to_string(d) + ": decode(encode(x)) != x: \"" + escape(decoded) + "\" vs \"" +
                            escape(text) + "\"\n";
        }
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// Tests on the shared vocabulary

TEST(Tokenizer, LoadsSharedVocabulary) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    const auto& sp = shared_sp();
    ASSERT_EQ(tok.n_vocab(), 8192);
    ASSERT_EQ(tok.n_vocab(), sp.GetPieceSize());
    EXPECT_EQ(tok.bos_id(), 1);
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_EQ(tok.unk_id(), 0);
    EXPECT_TRUE(tok.add_bos_default());
    EXPECT_FALSE(tok.add_eos_default());
    EXPECT_FALSE(tok.add_space_prefix());
    for (TokenId id = 0; id < tok.n_vocab(); ++id) {
        ASSERT_EQ(tok.piece(id), sp.IdToPiece(id)) << id;
        ASSERT_EQ(tok.is_control(id), sp.IsControl(id)) << id;
        ASSERT_EQ(tok.type(id) == PieceType::Byte, sp.IsByte(id)) << id;
        ASSERT_EQ(tok.type(id) == PieceType::Unknown, sp.IsUnknown(id)) << id;
    }
    EXPECT_EQ(tok.token_bytes(1), "");
    EXPECT_EQ(tok.token_bytes(0), " \xE2\x81\x87 ");
    EXPECT_EQ(tok.token_bytes(3 + 0x41), "A");  // <0x41>
    EXPECT_EQ(tok.token_bytes(259), "  ");      // "▁▁"
    EXPECT_TRUE(tok.encode("", true) == std::vector<TokenId>{1});
    EXPECT_TRUE(tok.encode("", false).empty());

    // Every model of the family carries the same vocabulary.
    for (const char* m : {"hsd-m1.gguf", "hsd-m2.gguf", "hsd-ee-small.gguf", "hsd-target.gguf"}) {
        const std::string path = hsd::test::shared_path(std::string("models/") + m);
        if (!std::filesystem::exists(path)) continue;
        const Tokenizer other = Tokenizer::from_gguf(*hsd::gguf::File::open(path));
        ASSERT_EQ(other.n_vocab(), tok.n_vocab()) << m;
        for (TokenId id = 0; id < tok.n_vocab(); ++id) ASSERT_EQ(other.piece(id), tok.piece(id)) << m << " id " << id;
        EXPECT_EQ(other.encode("def f(x):\n    return x  # 日本\n", true), tok.encode("def f(x):\n    return x  # 日本\n", true));
    }
}

TEST(Tokenizer, ReferencePrompts) {
    REQUIRE_TOKENIZER_DATA();
    HSD_REQUIRE_SHARED("models/reference.json");
    const Tokenizer& tok = shared_tokenizer();
    const nlohmann::json ref = read_json(hsd::test::shared_path("models/reference.json"));
    const auto& prompts = ref.at("prompts");
    ASSERT_EQ(prompts.size(), 16u);
    for (const auto& p : prompts) {
        const std::string text = p.at("text").get<std::string>();
        const std::vector<TokenId> want = p.at("tokens").get<std::vector<TokenId>>();
        const std::vector<TokenId> got = tok.encode(text, true);
        EXPECT_EQ(got, want) << describe_mismatch(p.at("id").get<size_t>(), text, to_int(want), to_int(got), tok);
        EXPECT_EQ(tok.decode(got), text);
        std::vector<int> lib = sp_encode(shared_sp(), text);
        lib.insert(lib.begin(), 1);
        EXPECT_EQ(to_int(got), lib);
    }
    // Model outputs decode to the text the reference generator printed (SentencePiece decode).
    size_t n_results = 0;
    for (const auto& [name, m] : ref.at("models").items()) {
        for (const auto& res : m.at("results")) {
            const std::vector<TokenId> ids = res.at("greedy_tokens").get<std::vector<TokenId>>();
            EXPECT_EQ(tok.decode(ids), res.at("greedy_text").get<std::string>()) << name;
            EXPECT_EQ(tok.decode(ids), sp_decode(shared_sp(), to_int(ids))) << name;
            ++n_results;
        }
    }
    EXPECT_GT(n_results, 0u);
}

TEST(Tokenizer, MatchesSentencePieceLibraryOnOneMegabyte) {
    REQUIRE_TOKENIZER_DATA();
    HSD_REQUIRE_SHARED("models/reference.json");
    HSD_REQUIRE_SHARED("prompts/spec_bench_question.jsonl");
    HSD_REQUIRE_SHARED("prompts/mt_bench_question.jsonl");
    HSD_REQUIRE_SHARED("prompts/gsm8k_test.jsonl");
    const Tokenizer& tok = shared_tokenizer();

    std::vector<std::string> docs;
    for (const char* f : {"prompts/spec_bench_question.jsonl", "prompts/mt_bench_question.jsonl", "prompts/gsm8k_test.jsonl"})
        jsonl_strings(hsd::test::shared_path(f), docs);
    const size_t n_prompt_docs = docs.size();
    size_t prompt_bytes = 0;
    for (const auto& d : docs) prompt_bytes += d.size();
    collect_strings(read_json(hsd::test::shared_path("models/reference.json")), docs);  // code prompts + outputs
    const std::vector<std::string> gen = generated_documents(20240601, tok, 400);
    docs.insert(docs.end(), gen.begin(), gen.end());

    const Comparison c = compare_with_library(tok, shared_sp(), docs, true);
    std::cout << "[ compared ] " << c.docs << " documents, " << c.bytes << " bytes (" << n_prompt_docs << " strings, "
              << prompt_bytes << " bytes from the prompt files); round trip checked on " << c.roundtrip_checked
              << " documents\n"
              << "[ speed    ] hsd " << c.bytes / 1e6 / c.hsd_seconds << " MB/s, libsentencepiece "
              << c.bytes / 1e6 / c.lib_seconds << " MB/s (informational)\n";
    EXPECT_GE(c.bytes, 1000000u);
    EXPECT_EQ(c.mismatches, 0u) << c.report;
    EXPECT_EQ(c.decode_mismatches, 0u) << c.report;
    EXPECT_EQ(c.roundtrip_failures, 0u) << c.report;
    EXPECT_GT(c.roundtrip_checked, c.docs * 9 / 10);
}

// The normalizer's handling of malformed UTF-8, checked explicitly (see the file comment).
TEST(Tokenizer, MalformedUtf8BecomesReplacementCharacters) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a\xFF" "b", "a" + kFFFD + "b"},
        {"\xC3(", kFFFD + "("},
        {"\xED\xA0\x80", kFFFD + kFFFD + kFFFD},  // surrogate
        {"\xC0\xAF", kFFFD + kFFFD},              // overlong
        {"\xF4\x90\x80\x80", kFFFD + kFFFD + kFFFD + kFFFD},  // > U+10FFFF
        {"\xE4\xB8", kFFFD + kFFFD},                          // truncated
    };
    for (const auto& [in, out] : cases) {
        EXPECT_EQ(tok.encode(in, false), tok.encode(out, false)) << escape(in);
        EXPECT_EQ(to_int(tok.encode(in, false)), sp_encode(shared_sp(), in)) << escape(in);
        EXPECT_EQ(tok.decode(tok.encode(in, false)), out) << escape(in);
    }
}

TEST(Tokenizer, DecodeRejectsIdsOutOfRange) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    EXPECT_THROW(tok.decode({5, tok.n_vocab()}), hsd::Error);
    EXPECT_THROW(tok.decode({-1}), hsd::Error);
    EXPECT_THROW(tok.token_bytes(tok.n_vocab()), hsd::Error);
    EXPECT_THROW(tok.piece(-3), hsd::Error);
    try {
        tok.decode({100000});
        FAIL() << "no exception";
    } catch (const hsd::Error& e) {
        EXPECT_NE(std::string(e.what()).find("100000"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(tok.is_control(-1));
    EXPECT_FALSE(tok.is_control(tok.n_vocab()));
}

// Decoding arbitrary ids (as a model may emit them) equals the library's DecodeIds, including
// control tokens, unk and byte tokens that do not form valid UTF-8 (-> U+FFFD per byte).
TEST(Tokenizer, DecodeArbitraryIdsMatchesLibrary) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    Rng r(7);
    for (int k = 0; k < 3000; ++k) {
        std::vector<TokenId> ids;
        const size_t n = r.below(20);
        for (size_t q = 0; q < n; ++q)
            ids.push_back(r.chance(50) ? (TokenId)r.below(262) : (TokenId)r.below((size_t)tok.n_vocab()));
        const std::string got = tok.decode(ids);
        ASSERT_EQ(got, sp_decode(shared_sp(), to_int(ids))) << "case " << k;
        ASSERT_TRUE(reference_valid_utf8(got));
    }
}

// ---------------------------------------------------------------------------------------------
// Utf8Stream

TEST(Utf8Stream, StreamsTokensOfMultibyteText) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    Rng r(99);
    std::vector<std::string> texts(kUnicodeChunks.begin(), kUnicodeChunks.end());
    for (int k = 0; k < 200; ++k) texts.push_back(k % 2 ? gen_unicode(r) : gen_codepoints(r));
    size_t n_byte_tokens = 0;
    for (const std::string& text : texts) {
        const std::vector<TokenId> ids = tok.encode(text, true);
        Utf8Stream stream;
        std::string all;
        for (TokenId id : ids) {
            if (tok.type(id) == PieceType::Byte) ++n_byte_tokens;
            const std::string part = stream.push(tok.token_bytes(id));
            ASSERT_TRUE(reference_valid_utf8(part)) << escape(text);
            all += part;
        }
        all += stream.flush();
        EXPECT_EQ(all, tok.decode(ids));
        EXPECT_EQ(all, text);
    }
    EXPECT_GT(n_byte_tokens, 100u);  // the texts really exercise byte fallback
}

TEST(Utf8Stream, SplitsAndInvalidBytes) {
    Utf8Stream s;
    EXPECT_EQ(s.push("\xF0\x9F"), "");  // 😀 = F0 9F 98 80, split across three pushes
    EXPECT_EQ(s.push("\x98"), "");
    EXPECT_EQ(s.push("\x80!"), "\xF0\x9F\x98\x80!");
    EXPECT_EQ(s.push("ab\xE4"), "ab");
    EXPECT_EQ(s.push("\xB8\xAD"), "\xE4\xB8\xAD");  // 中
    EXPECT_EQ(s.flush(), "");

    EXPECT_EQ(s.push("\xFF" "a"), kFFFD + "a");
    EXPECT_EQ(s.push("\x80"), kFFFD);                             // stray continuation byte
    EXPECT_EQ(s.push("\xC3"), "");                                // could still complete
    EXPECT_EQ(s.push("("), kFFFD + "(");                          // ... but did not
    EXPECT_EQ(s.push("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);     // surrogate: never valid, no wait
    EXPECT_EQ(s.push("\xC0\xAF"), kFFFD + kFFFD);                 // overlong
    EXPECT_EQ(s.push("\xF4\x90"), kFFFD + kFFFD);                 // above U+10FFFF
    EXPECT_EQ(s.push("\xE4\xB8"), "");
    EXPECT_EQ(s.flush(), kFFFD + kFFFD);  // incomplete tail at the end
    EXPECT_EQ(s.flush(), "");
    EXPECT_EQ(s.push(""), "");
    EXPECT_EQ(s.push("\xF0\x9F\x98"), "");
    EXPECT_EQ(s.push("\xF0\x9F\x98\x80"), kFFFD + kFFFD + kFFFD + "\xF0\x9F\x98\x80");
}

// Streaming arbitrary non-control ids (bytes in any order) gives exactly decode()'s text.
TEST(Utf8Stream, MatchesDecodeOnRandomIds) {
    REQUIRE_TOKENIZER_DATA();
    const Tokenizer& tok = shared_tokenizer();
    Rng r(1234);
    for (int k = 0; k < 3000; ++k) {
        std::vector<TokenId> ids;
        const size_t n = r.below(24);
        while (ids.size() < n) {
            // Mostly bytes >= 0x80 so sequences are often complete, sometimes broken.
            const TokenId id = r.chance(70) ? (TokenId)(3 + 0x80 + r.below(0x80)) : (TokenId)r.below((size_t)tok.n_vocab());
            // Control tokens are excluded: they contribute no bytes to a stream, while the
            // library's decoder ends a run of byte pieces at them.
            if (!tok.is_control(id)) ids.push_back(id);
        }
        Utf8Stream s;
        std::string all;
        for (TokenId id : ids) {
            const std::string part = s.push(tok.token_bytes(id));
            ASSERT_TRUE(reference_valid_utf8(part));
            all += part;
        }
        all += s.flush();
        ASSERT_EQ(all, tok.decode(ids)) << "case " << k;
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabularies trained here with the library: user-defined and control symbols, the dummy
// space prefix, unused pieces (resegmentation) and vocabularies without byte fallback.

class VectorIterator : public sentencepiece::SentenceIterator {
public:
    explicit VectorIterator(const std::vector<std::string>& v) : v_(v) {}
    bool done() const override { return i_ >= v_.size(); }
    void Next() override { ++i_; }
    const std::string& value() const override { return v_[i_]; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

private:
    const std::vector<std::string>& v_;
    size_t i_ = 0;
};

std::unique_ptr<sentencepiece::SentencePieceProcessor> train(std::unordered_map<std::string, std::string> opts) {
    Rng r(42);
    std::vector<std::string> corpus;
    for (int k = 0; k < 150; ++k) {
        corpus.push_back(gen_python(r));
        corpus.push_back(gen_unicode(r));
        corpus.push_back(gen_digits(r) + " <|im_start|> [MASK] xyz");
    }
    opts.insert({{"model_type", "bpe"},
                 {"normalization_rule_name", "identity"},
                 {"remove_extra_whitespaces", "false"},
                 {"split_digits", "true"},
                 {"allow_whitespace_only_pieces", "true"},
                 {"max_sentence_length", "1000000"},
                 {"minloglevel", "2"}});
    std::string model;
    VectorIterator it(corpus);
    const auto st = sentencepiece::SentencePieceTrainer::Train(opts, &it, &model);
    if (!st.ok()) throw std::runtime_error("training failed: " + st.ToString());
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto ls = sp->LoadFromSerializedProto(model);
    if (!ls.ok()) throw std::runtime_error("loading the trained model failed: " + ls.ToString());
    return sp;
}

void check_trained(const sentencepiece::SentencePieceProcessor& sp, bool add_space_prefix,
                   const std::set<std::string>& user_defined, bool expect_round_trip, uint64_t seed) {
    const auto f = gguf_from_processor(sp, add_space_prefix, user_defined).file("trained.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    ASSERT_EQ(tok.add_space_prefix(), add_space_prefix);
    std::vector<std::string> docs = generated_documents(seed, tok, 60);
    for (const char* s : {"<|im_start|>user\n[MASK] xyzxyz<|im_start|", "ab abab a b", "  <|im_start|>  ", "<ctl><s>",
                          "xyz▁xyz", "[MASK][MASK]"})
        docs.push_back(s);
    const Comparison c = compare_with_library(tok, sp, docs, expect_round_trip);
    EXPECT_EQ(c.mismatches, 0u) << c.report;
    EXPECT_EQ(c.decode_mismatches, 0u) << c.report;
    EXPECT_EQ(c.roundtrip_failures, 0u) << c.report;
}

TEST(TokenizerTrained, UserDefinedControlDummyPrefixByteFallback) {
    const std::set<std::string> user = {"<|im_start|>", "[MASK]", "ab", "xyz", "\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81"};
    auto sp = train({{"vocab_size", "700"},
                     {"byte_fallback", "true"},
                     {"character_coverage", "0.99"},
                     {"add_dummy_prefix", "true"},
                     {"user_defined_symbols", "<|im_start|>,[MASK],ab,xyz,\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81"},
                     {"control_symbols", "<ctl>"}});
    check_trained(*sp, true, user, true, 11);
}

TEST(TokenizerTrained, NoByteFallbackMergesUnknownRuns) {
    auto sp = train({{"vocab_size", "500"},
                     {"byte_fallback", "false"},
                     {"character_coverage", "0.98"},
                     {"add_dummy_prefix", "false"}});
    // Unknown characters decode as " ⁇ ": no round trip for those documents.
    check_trained(*sp, false, {}, false, 12);
    const auto f = gguf_from_processor(*sp, false, {}).file("trained.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    const std::vector<TokenId> ids = tok.encode("a\xF0\x9F\xA6\x84\xE2\x98\x83\xE2\x9A\xA1z", false);  // a🦄☃⚡z
    EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.unk_id()), 1);  // one unk for the run
}

TEST(TokenizerTrained, UnusedPiecesAreResegmented) {
    // No byte fallback here: SetVocabulary() retypes byte pieces as NORMAL/UNUSED while the
    // library keeps using them for fallback, a state a GGUF vocabulary cannot express.
    auto sp = train({{"vocab_size", "700"},
                     {"byte_fallback", "false"},
                     {"character_coverage", "1.0"},
                     {"add_dummy_prefix", "false"}});
    // Restrict the vocabulary: every third multi-character piece becomes UNUSED.
    std::vector<std::string> keep;
    for (int i = 0; i < sp->GetPieceSize(); ++i)
        if (i % 3 != 0) keep.push_back(sp->IdToPiece(i));
    std::vector<absl::string_view> views(keep.begin(), keep.end());
    ASSERT_TRUE(sp->SetVocabulary(views).ok());
    int n_unused = 0;
    for (int i = 0; i < sp->GetPieceSize(); ++i) n_unused += sp->IsUnused(i);
    ASSERT_GT(n_unused, 50);
    check_trained(*sp, false, {}, false, 13);  // random code points are <unk>: no round trip
}

// ---------------------------------------------------------------------------------------------
// Hand-made vocabularies and GGUF errors

struct MiniVocab {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0x41>", "<0xE2>", "a", "b", "c", "\xE2\x96\x81",
                                       "ab", "bc", "abc", "\xE2\x96\x81" "a"};
    std::vector<float> scores = {0, 0, 0, 0, 0, -1, -1, -1, -1, -2, -3, -4, -5};
    std::vector<int32_t> types = {2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1};
    GgufWriter builder(bool with_model = true) const {
        GgufWriter b;
        if (with_model) b.str("tokenizer.ggml.model", "llama");
        b.array<std::string>("tokenizer.ggml.tokens", tokens)
            .array<float>("tokenizer.ggml.scores", scores)
            .array<int32_t>("tokenizer.ggml.token_type", types);
        return b;
    }
};

void expect_error(const GgufWriter& b, const std::vector<std::string>& needles) {
    try {
        const auto f = b.file("bad-vocab.gguf");
        (void)Tokenizer::from_gguf(*f);
        ADD_FAILURE() << "no hsd::Error thrown (expected one mentioning " << needles.front() << ")";
    } catch (const hsd::Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("bad-vocab.gguf"), std::string::npos) << msg;
        for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    }
}

TEST(TokenizerGguf, MiniVocabulary) {
    MiniVocab v;
    GgufWriter b = v.builder();
    b.boolean("tokenizer.ggml.add_space_prefix", false);
    const auto f = b.file("mini.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.n_vocab(), 13);
    EXPECT_EQ(tok.bos_id(), 1);  // defaults
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_EQ(tok.unk_id(), 0);
    EXPECT_TRUE(tok.add_bos_default());
    EXPECT_EQ(tok.encode("abc", true), (std::vector<TokenId>{1, 11}));  // a b c -> ab c -> abc
    EXPECT_EQ(tok.encode("bca", false), (std::vector<TokenId>{10, 5}));
    EXPECT_EQ(tok.encode("abcbc", false), (std::vector<TokenId>{11, 10}));  // "ab" (-2) beats "bc" (-3)
    EXPECT_EQ(tok.encode("cab", false), (std::vector<TokenId>{7, 9}));
    EXPECT_EQ(tok.encode(" a", false), (std::vector<TokenId>{12}));
    // 'A' has a byte piece; 'B' (0x42) has none -> unk; "▁" is U+2581 = E2 96 81, a piece itself.
    EXPECT_EQ(tok.encode("AB", false), (std::vector<TokenId>{3, 0}));
    // '→' = E2 86 92: <0xE2> exists, 0x86 and 0x92 do not.
    EXPECT_EQ(tok.encode("\xE2\x86\x92", false), (std::vector<TokenId>{4, 0, 0}));
    EXPECT_EQ(tok.decode({1, 9, 7, 2}), "abc");
    EXPECT_EQ(tok.decode({12, 0, 3}), " a \xE2\x81\x87 A");
    EXPECT_THROW(tok.decode({5, 13}), hsd::Error);
    EXPECT_THROW(tok.decode({-1}), hsd::Error);

    // Without add_space_prefix = false in the file, the llama default (true) applies.
    const auto f2 = v.builder().file("mini2.gguf");
    const Tokenizer tok2 = Tokenizer::from_gguf(*f2);
    EXPECT_TRUE(tok2.add_space_prefix());
    EXPECT_EQ(tok2.encode("a", false), (std::vector<TokenId>{12}));
    EXPECT_EQ(tok2.decode({12, 8, 5}), "a a");  // the dummy prefix is dropped once
    EXPECT_TRUE(tok2.encode("", false).empty());
}

TEST(TokenizerGguf, Errors) {
    // No tokenizer keys at all.
    expect_error(GgufWriter().str("general.architecture", "llama"), {"tokenizer.ggml.model"});
    // Model type present, vocabulary missing.
    expect_error(GgufWriter().str("tokenizer.ggml.model", "llama"), {"tokenizer.ggml.tokens"});
    // Not a SentencePiece vocabulary.
    {
        MiniVocab v;
        GgufWriter b = v.builder(false);
        b.str("tokenizer.ggml.model", "gpt2");
        expect_error(b, {"tokenizer.ggml.model", "gpt2"});
    }
    // Arrays of different lengths.
    {
        MiniVocab v;
        v.scores.pop_back();
        expect_error(v.builder(), {"tokenizer.ggml.scores", "12", "13"});
    }
    {
        MiniVocab v;
        v.types.push_back(1);
        expect_error(v.builder(), {"tokenizer.ggml.token_type", "14"});
    }
    // Missing scores / types.
    {
        GgufWriter b;
        b.str("tokenizer.ggml.model", "llama").array<std::string>("tokenizer.ggml.tokens", {"<unk>", "a"});
        expect_error(b, {"tokenizer.ggml.scores"});
    }
    {
        GgufWriter b;
        b.str("tokenizer.ggml.model", "llama")
            .array<std::string>("tokenizer.ggml.tokens", {"<unk>", "a"})
            .array<float>("tokenizer.ggml.scores", {0, 0});
        expect_error(b, {"tokenizer.ggml.token_type"});
    }
    // Wrong value type.
    {
        GgufWriter b;
        b.str("tokenizer.ggml.model", "llama")
            .array<std::string>("tokenizer.ggml.tokens", {"<unk>", "a"})
            .array<int32_t>("tokenizer.ggml.scores", {0, 0});
        expect_error(b, {"tokenizer.ggml.scores"});
    }
    // Special ids out of range.
    {
        MiniVocab v;
        GgufWriter b = v.builder();
        b.u32("tokenizer.ggml.bos_token_id", 13);
        expect_error(b, {"tokenizer.ggml.bos_token_id", "13"});
    }
    {
        MiniVocab v;
        GgufWriter b = v.builder();
        b.u32("tokenizer.ggml.eos_token_id", 1000);
        expect_error(b, {"tokenizer.ggml.eos_token_id", "1000"});
    }
    // Bad piece types and byte pieces.
    {
        MiniVocab v;
        v.types[6] = 9;
        expect_error(v.builder(), {"tokenizer.ggml.token_type[6]", "9"});
    }
    {
        MiniVocab v;
        v.types[5] = 6;  // "a" typed as a byte piece
        expect_error(v.builder(), {"tokenizer.ggml.tokens[5]", "<0xXX>"});
    }
    {
        MiniVocab v;
        v.tokens.clear();
        v.scores.clear();
        v.types.clear();
        expect_error(v.builder(), {"tokenizer.ggml.tokens", "empty"});
    }
    {
        MiniVocab v;
        GgufWriter b = v.builder();
        b.str("tokenizer.ggml.add_bos_token", "yes");
        expect_error(b, {"tokenizer.ggml.add_bos_token"});
    }
}

}  // namespace
