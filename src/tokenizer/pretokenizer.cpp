// How llama.cpp runs a pre-tokenizer regex, reproduced here with PCRE2 (32-bit code units, so
// every offset is a code point index):
// - The GPT-2 and Llama-3 expressions run as hand-written scanners in llama.cpp; their results
//   differ from a regex engine in one corner (unassigned code points are never part of
//   [^\s\p{L}\p{N}]+), so they are hand-written here too.
// - An expression using \p{N}, \p{L}, \p{P}, \p{M} or \p{S} runs on a "collapsed" text: ASCII
//   stays, every other code point becomes one marker unit for its category (non-ASCII whitespace
//   becomes \v), and each \p{X} becomes a class of its marker plus its ASCII members. The ASCII
//   member lists are llama.cpp's (its \p{S} lacks '~', which is kept for identical results).
// - Any other expression runs on the code points, non-ASCII whitespace replaced by \v, with
//   ASCII-only \s (as std::wregex in the C locale).
#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/utf8.h"
#include "tokenizer/unicode_props.h"

namespace hsd {

namespace {

const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct PreDef {
    std::vector<std::string> names;
    std::vector<std::string> regexes;
    bool ignore_merges = false, add_bos = false;
};

// llama.cpp's expression lists, by pre-tokenizer name.
const std::vector<PreDef>& definitions() {
    static const std::vector<PreDef> defs = {
        {{"default"},
         {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
        {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral"}, {kLlama3}, true, true},
        {{"dbrx", "smaug-bpe"}, {kLlama3}},
        {{"deepseek-coder"},
         {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+",
          "\\p{N}"}},
        {{"deepseek-v3"},
         {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
          "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
          "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
        {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}},
        {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2}},
        {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de",
          "jina-v2-code", "roberta-bpe", "exaone4"},
         {kGpt2}},
        {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan"},
         {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
        {{"tekken"},
         {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^"
          "a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         true,
         true},
        {{"gpt-4o", "llama4"},
         {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'["
          "mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'"
          "[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?"
          "!\\S)|\\s+"}},
    };
    return defs;
}

constexpr uint32_t kOut = 0xFFFFFFFF;  // "no code point": outside the piece

}  // namespace

struct PreTokenizer::Step {
    enum class Kind { Gpt2, Llama3, Collapsed, Wide } kind;
    pcre2_code* code = nullptr;

    ~Step() {
        if (code) pcre2_code_free(code);
    }
    // cpts: the text; flags: their unicode::flags; units: what the regex sees (see above);
    // in: the current pieces' lengths; out: the new ones.
    void run(const std::vector<uint32_t>& cpts, const std::vector<uint8_t>& flags, const std::vector<uint32_t>& units,
             const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const;
};

namespace {

using Step = PreTokenizer::Step;

bool uses_category(const std::string& re) {
    for (const char* c : {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}"})
        if (re.find(c) != std::string::npos) return true;
    return false;
}

// Marker units of the collapsed text, and the ASCII members each \p{X} class keeps.
uint32_t marker(uint8_t f) {
    if (f & unicode::kWhitespace) return 0x0B;
    switch (f & 0x7F) {
        case unicode::kNumber: return 0xD1;
        case unicode::kLetter: return 0xD2;
        case unicode::kPunctuation: return 0xD3;
        case unicode::kMark: return 0xD4;
        case unicode::kSymbol: return 0xD5;
        default: return 0xD0;
    }
}

std::u32string collapse_regex(const std::string& re) {
    static const std::map<char, std::pair<uint32_t, std::string>> cls = {
        {'N', {0xD1, "0-9"}},
        {'L', {0xD2, "A-Za-z"}},
        {'P', {0xD3, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"}},
        {'M', {0xD4, ""}},
        {'S', {0xD5, "\\$\\+<->\\^`\\|"}},
    };
    std::u32string out;
    bool inside = false;
    for (size_t i = 0; i < re.size(); ++i) {
        const char c = re[i];
        if (c == '[' && (i == 0 || re[i - 1] != '\\')) {
            out += U'[';
            inside = true;
            continue;
        }
        if (inside && c == ']' && re[i - 1] != '\\') {
            out += U']';
            inside = false;
            continue;
        }
        if (c == '\\' && i + 4 < re.size() && re[i + 1] == 'p' && re[i + 2] == '{' && re[i + 4] == '}') {
            const auto it = cls.find(re[i + 3]);
            if (it != cls.end()) {
                if (!inside) out += U'[';
                out += (char32_t)it->second.first;
                for (char m : it->second.second) out += (char32_t)(unsigned char)m;
                if (!inside) out += U']';
                i += 4;
                continue;
            }
        }
        out += (char32_t)(unsigned char)c;
    }
    return out;
}

pcre2_code* compile(const std::u32string& pat, uint32_t options, const std::string& shown) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(),
                                     options | PCRE2_DOLLAR_ENDONLY, &err, &off, nullptr);
    if (!code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(err, buf, 256);
        std::string msg;
        for (PCRE2_UCHAR* p = buf; *p; ++p) msg += (char)*p;
        internal_error(__FILE__, __LINE__, "pcre2_compile", fmt::format("'{}' at {}: {}", shown, off, msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
    return code;
}

std::shared_ptr<const Step> make_step(const std::string& re) {
    auto s = std::make_shared<Step>();
    if (re == kGpt2) {
        s->kind = Step::Kind::Gpt2;
    } else if (re == kLlama3) {
        s->kind = Step::Kind::Llama3;
    } else if (uses_category(re)) {
        s->kind = Step::Kind::Collapsed;
        s->code = compile(collapse_regex(re), 0, re);
    } else {
        s->kind = Step::Kind::Wide;
        std::vector<uint32_t> cp;
        decode_utf8(re, cp);
        s->code = compile(std::u32string(cp.begin(), cp.end()), PCRE2_UTF, re);
    }
    return s;
}

// The hand-written scanners: `piece` gives the code point at a position (kOut outside), `fl`
// its flags (0 outside); `emit` closes the current word at a position.
template <class Piece, class Fl, class Emit>
void scan_gpt2(size_t ini, size_t end, Piece piece, Fl fl, Emit emit) {
    for (size_t pos = ini; pos < end;) {
        const uint32_t c = piece(pos);
        if (c == '\'' && pos + 1 < end) {  // 's 't 're 've 'm 'll 'd (case-sensitive)
            const uint32_t n = piece(pos + 1);
            if (n == 's' || n == 't' || n == 'm' || n == 'd') {
                emit(pos += 2);
                continue;
            }
            if (pos + 2 < end) {
                const uint32_t nn = piece(pos + 2);
                if ((n == 'r' && nn == 'e') || (n == 'v' && nn == 'e') || (n == 'l' && nn == 'l')) {
                    emit(pos += 3);
                    continue;
                }
            }
        }
        const size_t q = pos + (c == ' ' ? 1 : 0);  // optional leading space
        const uint8_t f = fl(q);
        if (f & unicode::kLetter) {
            for (pos = q; fl(pos) & unicode::kLetter;) ++pos;
            emit(pos);
            continue;
        }
        if (f & unicode::kNumber) {
            for (pos = q; fl(pos) & unicode::kNumber;) ++pos;
            emit(pos);
            continue;
        }
        auto other = [](uint8_t g) { return g != 0 && !(g & (unicode::kWhitespace | unicode::kLetter | unicode::kNumber)); };
        if (other(f)) {
            for (pos = q; other(fl(pos));) ++pos;
            emit(pos);
            continue;
        }
        size_t ws = 0;
        while (fl(pos + ws) & unicode::kWhitespace) ++ws;
        if (ws > 1 && piece(pos + ws) != kOut) {  // \s+(?!\S): leave the last space to the next word
            emit(pos += ws - 1);
            continue;
        }
        if (ws > 0) {
            emit(pos += ws);
            continue;
        }
        emit(++pos);
    }
}

inline uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

template <class Piece, class Fl, class Emit>
void scan_llama3(size_t ini, size_t end, Piece piece, Fl fl, Emit emit) {
    auto other = [](uint8_t g) { return !(g & (unicode::kWhitespace | unicode::kLetter | unicode::kNumber)); };
    for (size_t pos = ini; pos < end;) {
        const uint32_t c = piece(pos);
        const uint8_t f = fl(pos);
        if (c == '\'' && pos + 1 < end) {  // contractions, case-insensitive
            const uint32_t n = ascii_lower(piece(pos + 1));
            if (n == 's' || n == 't' || n == 'm' || n == 'd') {
                emit(pos += 2);
                continue;
            }
            if (pos + 2 < end) {
                const uint32_t nn = ascii_lower(piece(pos + 2));
                if ((n == 'r' && nn == 'e') || (n == 'v' && nn == 'e') || (n == 'l' && nn == 'l')) {
                    emit(pos += 3);
                    continue;
                }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(c == '\r' || c == '\n' || (f & unicode::kNumber)) &&
            ((f & unicode::kLetter) || (fl(pos + 1) & unicode::kLetter))) {
            ++pos;
            while (fl(pos) & unicode::kLetter) ++pos;
            emit(pos);
            continue;
        }
        if (f & unicode::kNumber) {  // \p{N}{1,3}
            size_t ini3 = pos;
            while (fl(pos) & unicode::kNumber) {
                if (++pos - ini3 >= 3) {
                    emit(pos);
                    ini3 = pos;
                }
            }
            emit(pos);
            continue;
        }
        // " ?[^\s\p{L}\p{N}]+[\r\n]*" (the first test looks at the code point itself)
        uint8_t f2 = c == ' ' ? fl(pos + 1) : f;
        if (other(f2) && f != 0) {
            pos += c == ' ' ? 1 : 0;
            while (other(f2) && f2 != 0) f2 = fl(++pos);
            for (uint32_t c2 = piece(pos); c2 == '\r' || c2 == '\n';) c2 = piece(++pos);
            emit(pos);
            continue;
        }
        size_t ws = 0, last_nl = 0;
        while (fl(pos + ws) & unicode::kWhitespace) {
            const uint32_t c2 = piece(pos + ws);
            if (c2 == '\r' || c2 == '\n') last_nl = pos + ws + 1;
            ++ws;
        }
        if (last_nl > 0) {  // \s*[\r\n]+
            emit(pos = last_nl);
            continue;
        }
        if (ws > 1 && piece(pos + ws) != kOut) {
            emit(pos += ws - 1);
            continue;
        }
        if (ws > 0) {
            emit(pos += ws);
            continue;
        }
        emit(++pos);
    }
}

}  // namespace

void PreTokenizer::Step::run(const std::vector<uint32_t>& cpts, const std::vector<uint8_t>& flags,
                             const std::vector<uint32_t>& units, const std::vector<uint32_t>& in,
                             std::vector<uint32_t>& out) const {
    size_t start = 0;
    if (kind == Kind::Gpt2 || kind == Kind::Llama3) {
        for (const uint32_t len : in) {
            const size_t ini = start, end = start + len;
            start = end;
            size_t prev = ini;
            auto piece = [&](size_t p) { return p >= ini && p < end ? cpts[p] : kOut; };
            auto fl = [&](size_t p) -> uint8_t { return p >= ini && p < end ? flags[p] : 0; };
            auto emit = [&](size_t e) {
                if (e > prev) out.push_back((uint32_t)(e - prev));
                prev = e;
            };
            if (kind == Kind::Gpt2)
                scan_gpt2(ini, end, piece, fl, emit);
            else
                scan_llama3(ini, end, piece, fl, emit);
        }
        return;
    }
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    for (const uint32_t len : in) {
        const PCRE2_SPTR subject = reinterpret_cast<PCRE2_SPTR>(units.data() + start);
        size_t pos = 0, prev = 0;
        while (pos < len) {
            const int rc = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
            if (rc < 0) break;  // no more matches (or a match limit: the rest stays one piece)
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            const size_t b = ov[0], e = ov[1];
            if (b > prev) out.push_back((uint32_t)(b - prev));
            if (e > b) out.push_back((uint32_t)(e - b));
            prev = e;
            pos = e > b ? e : e + 1;  // an empty match splits but consumes nothing
        }
        if (prev < len) out.push_back((uint32_t)(len - prev));
        start += len;
    }
    pcre2_match_data_free(md);
}

PreTokenizer PreTokenizer::from_name(const std::string& name, const std::string& path) {
    const std::string key = name.empty() ? "default" : name;
    for (const PreDef& d : definitions()) {
        if (std::find(d.names.begin(), d.names.end(), key) == d.names.end()) continue;
        PreTokenizer p;
        p.name_ = key;
        p.ignore_merges_ = d.ignore_merges;
        p.add_bos_ = d.add_bos;
        for (const std::string& re : d.regexes) p.steps_.push_back(make_step(re));
        return p;
    }
    std::string list;
    for (const std::string& n : known_names()) list += (list.empty() ? "" : ", ") + n;
    fail(fmt::format("{}: tokenizer.ggml.pre = '{}' is not a known pre-tokenizer (known: {})", path, name, list));
}

std::vector<std::string> PreTokenizer::known_names() {
    std::vector<std::string> out;
    for (const PreDef& d : definitions()) out.insert(out.end(), d.names.begin(), d.names.end());
    return out;
}

void PreTokenizer::split(const std::vector<uint32_t>& cpts, std::vector<uint32_t>& lens) const {
    std::vector<uint32_t> cur{(uint32_t)cpts.size()}, next;
    if (cpts.empty()) return;
    std::vector<uint8_t> flags(cpts.size());
    for (size_t i = 0; i < cpts.size(); ++i) flags[i] = unicode::flags(cpts[i]);
    std::vector<uint32_t> collapsed, wide;
    for (const auto& step : steps_) {
        const std::vector<uint32_t>* units = &cpts;
        if (step->kind == Step::Kind::Collapsed) {
            if (collapsed.empty()) {
                collapsed.resize(cpts.size());
                for (size_t i = 0; i < cpts.size(); ++i)
                    collapsed[i] = cpts[i] < 0x80 ? cpts[i] : marker(flags[i]);
            }
            units = &collapsed;
        } else if (step->kind == Step::Kind::Wide) {
            if (wide.empty()) {
                wide = cpts;
                for (size_t i = 0; i < wide.size(); ++i)
                    if (wide[i] >= 0x80 && (flags[i] & unicode::kWhitespace)) wide[i] = 0x0B;
            }
            units = &wide;
        }
        next.clear();
        step->run(cpts, flags, *units, cur, next);
        cur.swap(next);
    }
    lens.insert(lens.end(), cur.begin(), cur.end());
}

}  // namespace hsd
