// SentencePiece-BPE encoder/decoder over a GGUF vocabulary. The encoder reproduces the
// SentencePiece library (normalizer with identity rules + bpe::Model::Encode + byte fallback)
// id for id:
//   1. normalize: optional "▁" prefix (add_space_prefix, only for non-empty text), every ' '
//      becomes "▁", every byte that does not start a valid UTF-8 character (overlong forms,
//      surrogates and code points above U+10FFFF count as invalid) becomes U+FFFD;
//   2. split into characters (user-defined pieces are matched longest-first and frozen);
//   3. repeatedly merge the adjacent pair whose concatenation is a Normal/UserDefined/Unused
//      piece of highest score, leftmost first on ties (priority queue, stale entries skipped);
//   4. Unused pieces are split back into the two halves they were merged from;
//   5. each symbol maps to its id; unknown symbols become one <0xXX> piece per byte (byte
//      fallback) or, without byte pieces, one unk per run of unknown symbols.
// For speed, step 3 runs separately on segments of the text split where two adjacent characters
// never occur together inside any mergeable piece: no merge can cross such a point, and merge
// order within a segment is unchanged, so the result is identical while heaps stay small.
#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <unordered_map>
#include <utility>

#include "common/error.h"
#include "common/utf8.h"
#include "gguf/gguf_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"

namespace hsd {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";        // U+2581 LOWER ONE EIGHTH BLOCK
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";   // SentencePiece's default unk surface

// One character length by the first byte only (SentencePiece's OneCharLen); the input is
// already normalized to valid UTF-8 when this is used.
inline size_t one_char_len(unsigned char c) {
    return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4];
}

inline uint64_t hash_bytes(const char* p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a final mix
    for (size_t i = 0; i < n; ++i) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

// Parses "<0xXX>" (upper- or lower-case hex); -1 if `s` has another form.
int parse_byte_piece(const std::string& s) {
    if (s.size() != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    auto hex = [](char ch) -> int {
        if (ch >= '0' && ch <= '9') return ch - '0';
        if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
        if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
        return -1;
    };
    const int hi = hex(s[3]), lo = hex(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PieceIndex

void Tokenizer::PieceIndex::build(const std::vector<std::string>& pieces, const std::vector<TokenId>& ids) {
    size_t cap = 16;
    while (cap < ids.size() * 2) cap <<= 1;
    slots.assign(cap, -1);
    hashes.assign(cap, 0);
    mask = cap - 1;
    max_len = 0;
    for (TokenId id : ids) {
        const std::string& s = pieces[(size_t)id];
        if (find(s, pieces) >= 0) continue;  // first occurrence wins, like SentencePiece
        const uint64_t h = hash_bytes(s.data(), s.size());
        uint64_t i = h & mask;
        while (slots[i] >= 0) i = (i + 1) & mask;
        slots[i] = id;
        hashes[i] = (uint32_t)(h >> 32);
        if (s.size() > max_len) max_len = s.size();
    }
}

TokenId Tokenizer::PieceIndex::find(std::string_view s, const std::vector<std::string>& pieces) const {
    if (slots.empty() || s.size() > max_len) return -1;
    const uint64_t h = hash_bytes(s.data(), s.size());
    const uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        const int32_t id = slots[i];
        if (id < 0) return -1;
        if (hashes[i] == tag && pieces[(size_t)id] == s) return id;
    }
}

// ---------------------------------------------------------------------------------------------
// PairSet

namespace {

inline uint32_t pack_char(const char* p, size_t len) {  // unique: the length follows from p[0]
    uint32_t v = 0;
    for (size_t i = 0; i < len; ++i) v = (v << 8) | (unsigned char)p[i];
    return v;
}

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

}  // namespace

void Tokenizer::PairSet::build(const std::vector<uint64_t>& keys) {
    size_t cap = 16;
    while (cap < keys.size() * 2) cap <<= 1;
    slots.assign(cap, kEmpty);
    mask = cap - 1;
    for (uint64_t k : keys) {
        if (k == kEmpty) continue;  // cannot occur in normalized (valid UTF-8) text anyway
        uint64_t i = mix64(k) & mask;
        while (slots[i] != kEmpty && slots[i] != k) i = (i + 1) & mask;
        slots[i] = k;
    }
}

bool Tokenizer::PairSet::contains(uint64_t key) const {
    if (slots.empty()) return false;
    for (uint64_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (slots[i] == key) return true;
        if (slots[i] == kEmpty) return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Loading

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
    const std::string model = file.get_string("tokenizer.ggml.model");
    Tokenizer t;
    if (model == "llama")
        t = load_spm(file);
    else if (model == "gpt2")
        t = load_bpe(file);
    else
        fail(fmt::format("{}: tokenizer.ggml.model is '{}'; known tokenizer models: llama (SentencePiece BPE), gpt2 "
                         "(byte-level BPE)",
                         file.path(), model));
    t.load_special(file);
    return t;
}

Tokenizer Tokenizer::load_bpe(const gguf::File& file) {
    const std::string& path = file.path();
    Tokenizer t;
    t.kind_ = Kind::Bpe;
    t.pieces_ = file.get_string_array("tokenizer.ggml.tokens");
    const size_t n = t.pieces_.size();
    if (n == 0) fail(fmt::format("{}: tokenizer.ggml.tokens is empty", path));
    if (n > (size_t)INT32_MAX) fail(fmt::format("{}: tokenizer.ggml.tokens has too many entries ({})", path, n));
    if (!file.find("tokenizer.ggml.merges"))
        fail(fmt::format("{}: tokenizer.ggml.model is 'gpt2' but tokenizer.ggml.merges is missing", path));
    const std::vector<std::string> merges = file.get_string_array("tokenizer.ggml.merges");
    const std::string pre = file.find("tokenizer.ggml.pre") ? file.get_string("tokenizer.ggml.pre") : "";
    t.pre_ = std::make_shared<const PreTokenizer>(PreTokenizer::from_name(pre, path));
    t.pre_name_ = t.pre_->name();
    t.bpe_ = std::make_shared<const BpeModel>(t.pieces_, merges, path);

    // Scores and types are optional for BPE; a type outside 1..6 counts as normal.
    t.scores_.assign(n, 0.0f);
    t.types_.assign(n, PieceType::Normal);
    t.byte_value_.assign(n, -1);
    const std::vector<int64_t> types = file.get_int_array("tokenizer.ggml.token_type", {});
    if (!types.empty() && types.size() != n)
        fail(fmt::format("{}: tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}", path,
                         types.size(), n));
    for (size_t i = 0; i < types.size(); ++i)
        if (types[i] >= (int64_t)PieceType::Normal && types[i] <= (int64_t)PieceType::Byte)
            t.types_[i] = static_cast<PieceType>(types[i]);

    // llama.cpp's defaults for gpt2 vocabularies: BOS = EOS = 11, no unknown token.
    auto special = [&](const char* key, int64_t fallback) -> TokenId {
        if (!file.find(key)) return fallback < (int64_t)n ? (TokenId)fallback : -1;
        const uint64_t id = file.get_uint(key);
        if (id >= n) fail(fmt::format("{}: {} = {} is out of range (the vocabulary has {} tokens)", path, key, id, n));
        return (TokenId)id;
    };
    t.bos_id_ = special("tokenizer.ggml.bos_token_id", 11);
    t.eos_id_ = special("tokenizer.ggml.eos_token_id", 11);
    t.unk_id_ = special("tokenizer.ggml.unknown_token_id", -1);
    t.add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token", t.pre_->add_bos_default());
    t.add_eos_ = file.get_bool("tokenizer.ggml.add_eos_token", false);
    t.add_space_prefix_ = false;
    return t;
}

void Tokenizer::load_special(const gguf::File& file) {
    const size_t n = pieces_.size();
    auto key_id = [&](const char* key) -> TokenId {
        if (!file.find(key)) return -1;
        const uint64_t id = file.get_uint(key);
        if (id >= n)
            fail(fmt::format("{}: {} = {} is out of range (the vocabulary has {} tokens)", file.path(), key, id, n));
        return (TokenId)id;
    };
    eot_id_ = key_id("tokenizer.ggml.eot_token_id");
    TokenId eom = key_id("tokenizer.ggml.eom_token_id");
    const bool eot_given = eot_id_ >= 0, eom_given = eom >= 0;
    std::vector<TokenId> eog;
    // llama.cpp makes these control tokens whatever the file says (for BPE vocabularies only
    // here: SentencePiece keeps the library's behaviour, and its vocabularies mark them anyway).
    auto make_control = [&](size_t i) {
        if (kind_ == Kind::Bpe) types_[i] = PieceType::Control;
    };
    for (size_t i = 0; i < n; ++i) {
        const std::string& s = pieces_[i];
        if (s.size() < 3 || s.size() > 40) continue;  // every recognized text has 5..30 bytes
        if (!eot_given && eot_id_ < 0 && is_eot_text(s)) {
            eot_id_ = (TokenId)i;
            make_control(i);
        }
        if (!eom_given && eom < 0 && is_eom_text(s)) {
            eom = (TokenId)i;
            make_control(i);
        }
        if (is_fim_text(s)) make_control(i);
        if (is_fim_eog_text(s) || is_eog_text(s)) {
            eog.push_back((TokenId)i);
            make_control(i);
        }
    }
    for (TokenId id : {eos_id_, eot_id_, eom})
        if (id >= 0) eog.push_back(id);
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    eog_ = std::move(eog);

    for (size_t i = 0; i < n; ++i) {
        const PieceType ty = types_[i];
        if ((ty == PieceType::Control || ty == PieceType::UserDefined || ty == PieceType::Unknown) &&
            !pieces_[i].empty())
            specials_.push_back((TokenId)i);
    }
    std::stable_sort(specials_.begin(), specials_.end(),
                     [&](TokenId a, TokenId b) { return pieces_[(size_t)a].size() > pieces_[(size_t)b].size(); });
}

bool Tokenizer::is_eog(TokenId id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

Tokenizer Tokenizer::load_spm(const gguf::File& file) {
    const std::string& path = file.path();
    Tokenizer t;
    t.pieces_ = file.get_string_array("tokenizer.ggml.tokens");
    const size_t n = t.pieces_.size();
    if (n == 0) fail(fmt::format("{}: tokenizer.ggml.tokens is empty", path));
    if (n > (size_t)INT32_MAX) fail(fmt::format("{}: tokenizer.ggml.tokens has too many entries ({})", path, n));

    t.scores_ = file.get_float_array("tokenizer.ggml.scores");
    if (t.scores_.size() != n)
        fail(fmt::format("{}: tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {}", path,
                         t.scores_.size(), n));
    const std::vector<int64_t> types = file.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n)
        fail(fmt::format("{}: tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}", path,
                         types.size(), n));

    t.types_.resize(n);
    t.byte_value_.assign(n, -1);
    std::vector<TokenId> mergeable, reserved, user_defined;
    TokenId first_unknown = -1;
    for (size_t i = 0; i < n; ++i) {
        const int64_t ty = types[i];
        if (ty < (int64_t)PieceType::Normal || ty > (int64_t)PieceType::Byte)
            fail(fmt::format("{}: tokenizer.ggml.token_type[{}] = {} is not a SentencePiece piece type (1..6)", path, i,
                             ty));
        if (std::isnan(t.scores_[i])) fail(fmt::format("{}: tokenizer.ggml.scores[{}] is NaN", path, i));
        if (t.pieces_[i].empty())
            fail(fmt::format("{}: tokenizer.ggml.tokens[{}] is an empty string", path, i));
        const auto pt = static_cast<PieceType>(ty);
        t.types_[i] = pt;
        switch (pt) {
            case PieceType::Normal:
            case PieceType::Unused:
                mergeable.push_back((TokenId)i);
                if (pt == PieceType::Unused) t.has_unused_ = true;
                break;
            case PieceType::UserDefined:
                mergeable.push_back((TokenId)i);
                user_defined.push_back((TokenId)i);
                break;
            case PieceType::Unknown:
                if (first_unknown < 0) first_unknown = (TokenId)i;
                reserved.push_back((TokenId)i);
                break;
            case PieceType::Control:
                reserved.push_back((TokenId)i);
                break;
            case PieceType::Byte: {
                const int b = parse_byte_piece(t.pieces_[i]);
                if (b < 0)
                    fail(fmt::format("{}: tokenizer.ggml.tokens[{}] = '{}' has token_type byte but is not of the form <0xXX>",
                                     path, i, t.pieces_[i]));
                t.byte_value_[i] = (int16_t)b;
                t.byte_fallback_ = true;
                reserved.push_back((TokenId)i);
                break;
            }
        }
    }
    t.mergeable_.build(t.pieces_, mergeable);
    std::vector<uint64_t> pairs;
    for (TokenId id : mergeable) {
        const std::string& p = t.pieces_[(size_t)id];
        uint64_t prev = 0;
        for (size_t i = 0; i < p.size();) {
            const size_t len = std::min(one_char_len((unsigned char)p[i]), p.size() - i);
            const uint64_t c = pack_char(p.data() + i, len);
            if (i > 0) pairs.push_back(prev << 32 | c);
            prev = c;
            i += len;
        }
    }
    t.spannable_.build(pairs);
    t.reserved_.build(t.pieces_, reserved);
    if (!user_defined.empty()) t.user_defined_.build(t.pieces_, user_defined);

    auto special = [&](const char* key, uint64_t fallback) -> TokenId {
        const uint64_t id = file.get_uint(key, fallback);
        if (id >= n) fail(fmt::format("{}: {} = {} is out of range (the vocabulary has {} tokens)", path, key, id, n));
        return (TokenId)id;
    };
    t.bos_id_ = special("tokenizer.ggml.bos_token_id", 1);
    t.eos_id_ = special("tokenizer.ggml.eos_token_id", 2);
    t.unk_id_ = special("tokenizer.ggml.unknown_token_id", first_unknown >= 0 ? (uint64_t)first_unknown : 0);
    t.add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token", true);
    t.add_eos_ = file.get_bool("tokenizer.ggml.add_eos_token", false);
    // Absent in early llama GGUFs, whose SentencePiece models all used add_dummy_prefix=true
    // (llama.cpp defaults to true as well).
    t.add_space_prefix_ = file.get_bool("tokenizer.ggml.add_space_prefix", true);

    // Byte fallback pieces, looked up like SentencePiece does (PieceToId("<0xXX>"), unk if absent).
    for (int b = 0; b < 256; ++b) {
        const TokenId id = t.piece_to_id(fmt::format("<0x{:02X}>", b));
        t.byte_to_id_[b] = id >= 0 ? id : t.unk_id_;
    }
    return t;
}

// ---------------------------------------------------------------------------------------------
// Encoding

TokenId Tokenizer::piece_to_id(std::string_view s) const {
    const TokenId r = reserved_.find(s, pieces_);
    return r >= 0 ? r : mergeable_.find(s, pieces_);
}

std::string Tokenizer::normalize(std::string_view text) const {
    std::string out;
    out.reserve(text.size() + text.size() / 4 + 8);
    if (text.empty()) return out;
    if (add_space_prefix_) out += kSpaceSymbol;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c == ' ') {
            out += kSpaceSymbol;
            ++i;
        } else if (c < 0x80) {
            out += (char)c;
            ++i;
        } else {
            const size_t len = utf8_valid_char_len(p + i, n - i);
            if (len == 0) {
                out += kUtf8Replacement;  // one U+FFFD per malformed byte
                ++i;
            } else {
                out.append(text.data() + i, len);
                i += len;
            }
        }
    }
    return out;
}

size_t Tokenizer::prefix_user_defined(std::string_view s) const {
    for (size_t len = std::min(s.size(), user_defined_.max_len); len > 0; --len)
        if (user_defined_.find(s.substr(0, len), pieces_) >= 0) return len;
    return 0;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
    if (text.empty() || pieces_.empty()) return out;
    if (text.size() > (size_t)INT32_MAX / 4)
        fail(fmt::format("cannot tokenize {} bytes of text in one piece (limit {})", text.size(), INT32_MAX / 4));
    if (kind_ == Kind::SentencePiece && !parse_special) {
        encode_spm(text, out);
        return out;
    }
    // Split on special-token text first; only user-defined tokens without parse_special (BPE).
    std::vector<TokenId> user_defined_only;
    if (!parse_special)
        for (TokenId id : specials_)
            if (types_[(size_t)id] == PieceType::UserDefined) user_defined_only.push_back(id);
    for (const Fragment& f : partition_special(text, parse_special ? specials_ : user_defined_only, pieces_)) {
        if (f.token >= 0)
            out.push_back(f.token);
        else if (kind_ == Kind::Bpe)
            encode_bpe(text.substr(f.off, f.len), out);
        else
            encode_spm(text.substr(f.off, f.len), out);  // each fragment gets the space prefix
    }
    return out;
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<TokenId>& out) const {
    std::vector<uint32_t> cpts, lens;
    cpts.reserve(text.size());
    // Strict decoding: llama.cpp's decoder accepts overlong forms and surrogates, which PCRE2
    // could not match; here each of their bytes is U+FFFD.
    decode_utf8(text, cpts);
    pre_->split(cpts, lens);
    std::string word;
    size_t at = 0;
    for (const uint32_t len : lens) {
        word.clear();
        for (size_t i = at; i < at + len; ++i) append_utf8(word, cpts[i]);
        at += len;
        bpe_->encode_word(word, pre_->ignore_merges(), out);
    }
}

void Tokenizer::encode_spm(std::string_view text, std::vector<TokenId>& out) const {
    if (text.empty()) return;

    const std::string norm = normalize(text);
    const char* base = norm.data();

    struct Symbol {
        int32_t prev, next;
        uint32_t off, len;  // bytes of `norm`; len == 0 once merged into its left neighbour
        bool freeze;        // user-defined piece: never merged
    };
    std::vector<Symbol> sym;
    sym.reserve(norm.size());
    // Segments: runs of symbols that merges may join; a new one starts where the two adjacent
    // characters never occur together inside a mergeable piece (or at a frozen symbol). With
    // Unused pieces the whole text stays one segment: SentencePiece's resegmentation table is
    // shared by the whole text and depends on the global order of candidate pairs.
    std::vector<int32_t> seg_start;
    const bool has_user_defined = !user_defined_.slots.empty();
    uint64_t prev_char = 0;
    for (size_t i = 0; i < norm.size();) {
        size_t len = has_user_defined ? prefix_user_defined(std::string_view(norm).substr(i)) : 0;
        const bool freeze = len > 0;
        if (!freeze) len = std::min(one_char_len((unsigned char)norm[i]), norm.size() - i);
        const uint64_t this_char = pack_char(base + i, std::min<size_t>(len, 4));
        const int32_t idx = (int32_t)sym.size();
        const bool boundary = idx == 0 || (!has_unused_ && (freeze || sym.back().freeze ||
                                                            !spannable_.contains(prev_char << 32 | this_char)));
        if (boundary) {
            seg_start.push_back(idx);
            if (idx > 0) sym.back().next = -1;
        }
        sym.push_back({boundary ? -1 : idx - 1, idx + 1, (uint32_t)i, (uint32_t)len, freeze});
        prev_char = this_char;
        i += len;
    }
    sym.back().next = -1;

    struct Candidate {
        float score;
        int32_t left, right;
        uint32_t size;
    };
    struct Lower {  // max-heap: higher score first, then smaller left index
        bool operator()(const Candidate& a, const Candidate& b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };
    std::vector<Candidate> storage;
    storage.reserve(std::min<size_t>(sym.size(), 1024));
    std::priority_queue<Candidate, std::vector<Candidate>, Lower> agenda(Lower{}, std::move(storage));

    // For Unused pieces: the two halves the piece was (last) formed from, to split it back.
    using Halves = std::pair<std::string_view, std::string_view>;
    std::unordered_map<std::string_view, Halves> rev_merge;

    auto add_candidate = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const Symbol& a = sym[(size_t)l];
        const Symbol& b = sym[(size_t)r];
        if (a.freeze || b.freeze) return;
        const uint32_t size = a.len + b.len;
        if (size > mergeable_.max_len) return;
        const std::string_view s(base + a.off, size);
        const TokenId id = mergeable_.find(s, pieces_);
        if (id < 0) return;
        agenda.push({scores_[(size_t)id], l, r, size});
        if (has_unused_ && types_[(size_t)id] == PieceType::Unused)
            rev_merge[s] = Halves(std::string_view(base + a.off, a.len), std::string_view(base + b.off, b.len));
    };

    // BPE over one segment (its symbols are linked among themselves only).
    auto merge_segment = [&](int32_t first) {
        for (int32_t i = first; sym[(size_t)i].next >= 0; ++i) add_candidate(i, i + 1);
        while (!agenda.empty()) {
            const Candidate top = agenda.top();
            agenda.pop();
            Symbol& a = sym[(size_t)top.left];
            Symbol& b = sym[(size_t)top.right];
            if (a.len == 0 || b.len == 0 || a.len + b.len != top.size) continue;  // stale
            a.len += b.len;
            a.next = b.next;
            if (b.next >= 0) sym[(size_t)b.next].prev = top.left;
            b.len = 0;
            add_candidate(a.prev, top.left);
            add_candidate(top.left, a.next);
        }
    };

    bool prev_unknown = false;
    auto emit = [&](std::string_view s, TokenId id) {
        const bool unknown = id < 0 || types_[(size_t)id] == PieceType::Unknown;
        if (!unknown) {
            out.push_back(id);
        } else if (byte_fallback_) {
            for (unsigned char c : s) out.push_back(byte_to_id_[c]);
        } else if (!prev_unknown) {
            out.push_back(id >= 0 ? id : unk_id_);  // a run of unknown symbols is one unk
        }
        prev_unknown = unknown;
    };
    auto resegment = [&](auto&& self, std::string_view s) -> void {
        const TokenId id = piece_to_id(s);
        if (id >= 0 && types_[(size_t)id] == PieceType::Unused) {
            const auto it = rev_merge.find(s);
            if (it != rev_merge.end()) {
                const Halves h = it->second;
                self(self, h.first);
                self(self, h.second);
                return;
            }
        }
        emit(s, id);
    };
    for (const int32_t first : seg_start) {
        merge_segment(first);
        for (int32_t i = first; i != -1; i = sym[(size_t)i].next) {
            const std::string_view s(base + sym[(size_t)i].off, sym[(size_t)i].len);
            if (has_unused_)
                resegment(resegment, s);
            else
                emit(s, piece_to_id(s));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const std::string& Tokenizer::piece(TokenId id) const {
    if (id < 0 || (size_t)id >= pieces_.size())
        fail(fmt::format("token id {} is out of range (the vocabulary has {} tokens)", id, pieces_.size()));
    return pieces_[(size_t)id];
}

bool Tokenizer::is_control(TokenId id) const {
    return id >= 0 && (size_t)id < types_.size() && types_[(size_t)id] == PieceType::Control;
}

std::string Tokenizer::token_bytes(TokenId id) const {
    const std::string& p = piece(id);
    if (kind_ == Kind::Bpe) {
        // Control and unknown tokens produce nothing, user-defined ones their text as stored,
        // the others the raw bytes their byte-level text stands for.
        switch (types_[(size_t)id]) {
            case PieceType::Control:
            case PieceType::Unknown: return {};
            case PieceType::UserDefined: return p;
            default: break;
        }
        std::string out;
        byte_level::decode(p, out);
        return out;
    }
    switch (types_[(size_t)id]) {
        case PieceType::Control: return {};
        case PieceType::Unknown: return std::string(kUnknownSurface);
        case PieceType::Byte: return std::string(1, (char)byte_value_[(size_t)id]);
        default: break;
    }
    std::string out;
    out.reserve(p.size());
    for (size_t i = 0; i < p.size();) {
        if (p.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
            out += ' ';
            i += kSpaceSymbol.size();
        } else {
            out += p[i++];
        }
    }
    return out;
}

// Mirrors SentencePieceProcessor::Decode: control pieces vanish, unk becomes " ⁇ ", runs of byte
// pieces are joined and every byte not forming a valid UTF-8 character becomes U+FFFD, "▁" is a
// space; with add_space_prefix the space of the first piece (the dummy prefix) is dropped.
std::string Tokenizer::decode(const std::vector<TokenId>& ids) const {
    std::string out, bytes;
    if (kind_ == Kind::Bpe) {
        for (TokenId id : ids) out += token_bytes(id);
        return out;
    }
    bool is_bos_ws = true, bos_ws_seen = false;
    for (TokenId id : ids) {
        piece(id);  // range check
        const PieceType t = types_[(size_t)id];
        if (t == PieceType::Byte) {
            bytes += (char)byte_value_[(size_t)id];
            continue;
        }
        if (!bytes.empty()) {
            append_utf8_repaired(out, bytes);
            bytes.clear();
        }
        if (bos_ws_seen || !out.empty()) is_bos_ws = false;
        bos_ws_seen = false;
        if (t == PieceType::Control) continue;
        if (t == PieceType::Unknown) {
            out += kUnknownSurface;
            continue;
        }
        std::string s = token_bytes(id);
        if (is_bos_ws && add_space_prefix_ && pieces_[(size_t)id].starts_with(kSpaceSymbol)) {
            s.erase(0, 1);
            bos_ws_seen = true;
        }
        out += s;
    }
    if (!bytes.empty()) append_utf8_repaired(out, bytes);
    return out;
}

}  // namespace hsd
