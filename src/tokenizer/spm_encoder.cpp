// The SentencePiece-BPE encoder over a GGUF vocabulary. It reproduces the
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
// The hash indexes the merges probe (PieceIndex, PairSet; built at load time) are defined here
// too, so their lookups inline into the merge loop.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <utility>

#include "common/utf8.h"
#include "tokenizer/spm_chars.h"

namespace hsd {

using spm::kSpaceSymbol;
using spm::one_char_len;
using spm::pack_char;

namespace {

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

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
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
// The encoder

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
}  // namespace hsd
