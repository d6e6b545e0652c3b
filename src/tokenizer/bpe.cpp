// Merging: for short words (almost all) a linear scan for the lowest-ranked adjacent pair,
// for long ones a priority queue with stale entries skipped; both pick the same pair each
// step (lowest rank, then leftmost), so the result is llama.cpp's.
#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <queue>

#include "common/error.h"
#include "tokenizer/byte_level.h"

namespace hsd {

struct BpeSymbol {
    int32_t sym;        // -1: a character that is no symbol (never merges)
    uint32_t off, len;  // bytes of the word's byte-level text
};

namespace {

inline uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return x;
}

constexpr size_t kSmallWord = 48;  // symbols; above this the queue wins

}  // namespace

BpeModel::BpeModel(const std::vector<std::string>& pieces, const std::vector<std::string>& merges,
                   const std::string& path) {
    n_vocab_ = (int32_t)pieces.size();
    sym_of_.reserve(pieces.size() * 2);
    sym_text_ = pieces;
    for (size_t i = 0; i < pieces.size(); ++i) sym_of_[pieces[i]] = (int32_t)i;  // last occurrence wins
    size_t cap = 16;
    while (cap < merges.size() * 2) cap <<= 1;
    merges_.assign(cap, Merge{});
    merge_mask_ = cap - 1;
    for (size_t r = 0; r < merges.size(); ++r) {
        const std::string& m = merges[r];
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos)
            fail(fmt::format("{}: tokenizer.ggml.merges[{}] = '{}' is not of the form 'left right'", path, r, m));
        const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
        const int32_t a = intern(left), b = intern(right), res = intern(left + right);
        const uint64_t k = key(a, b);
        uint64_t i = mix(k) & merge_mask_;
        while (merges_[i].key != kNone && merges_[i].key != k) i = (i + 1) & merge_mask_;
        if (merges_[i].key == kNone) merges_[i] = Merge{k, (int32_t)r, res};  // first occurrence wins
    }
    for (int b = 0; b < 256; ++b) {
        const auto it = sym_of_.find(byte_level::encode_byte((uint8_t)b));
        byte_sym_[b] = it == sym_of_.end() ? -1 : it->second;
    }
}

int32_t BpeModel::intern(const std::string& s) {
    const auto [it, added] = sym_of_.try_emplace(s, (int32_t)sym_text_.size());
    if (added) sym_text_.push_back(s);
    return it->second;
}

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
    if (a < 0 || b < 0) return nullptr;
    const uint64_t k = key(a, b);
    for (uint64_t i = mix(k) & merge_mask_;; i = (i + 1) & merge_mask_) {
        const Merge& m = merges_[i];
        if (m.key == k) return &m;
        if (m.key == kNone) return nullptr;
    }
}

TokenId BpeModel::find(std::string_view s) const {
    const auto it = sym_of_.find(s);
    return it == sym_of_.end() || it->second >= n_vocab_ ? -1 : it->second;
}

void BpeModel::merge_small(std::vector<BpeSymbol>& syms) const {
    constexpr int32_t kNoRank = INT32_MAX;
    int32_t rank[kSmallWord];  // rank of the pair (i, i+1)
    auto pair_rank = [&](size_t i) {
        const Merge* m = find_merge(syms[i].sym, syms[i + 1].sym);
        return m ? m->rank : kNoRank;
    };
    size_t n = syms.size();
    for (size_t i = 0; i + 1 < n; ++i) rank[i] = pair_rank(i);
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; ++i)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == kNoRank) break;
        syms[best].sym = find_merge(syms[best].sym, syms[best + 1].sym)->result;
        syms[best].len += syms[best + 1].len;
        for (size_t i = best + 1; i + 1 < n; ++i) {
            syms[i] = syms[i + 1];
            rank[i] = rank[i + 1];
        }
        --n;
        syms.resize(n);
        if (best + 1 < n) rank[best] = pair_rank(best);
        if (best > 0) rank[best - 1] = pair_rank(best - 1);
    }
}

void BpeModel::merge_large(std::vector<BpeSymbol>& syms) const {
    struct Node {
        int32_t prev, next;
    };
    std::vector<Node> link(syms.size());
    for (size_t i = 0; i < syms.size(); ++i) link[i] = {(int32_t)i - 1, i + 1 < syms.size() ? (int32_t)i + 1 : -1};
    struct Cand {
        int32_t rank, left, right, lsym, rsym;
    };
    struct Later {  // min-heap on (rank, left)
        bool operator()(const Cand& a, const Cand& b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };
    std::priority_queue<Cand, std::vector<Cand>, Later> queue;
    auto add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const Merge* m = find_merge(syms[(size_t)l].sym, syms[(size_t)r].sym);
        if (m) queue.push({m->rank, l, r, syms[(size_t)l].sym, syms[(size_t)r].sym});
    };
    for (size_t i = 1; i < syms.size(); ++i) add((int32_t)i - 1, (int32_t)i);
    while (!queue.empty()) {
        const Cand c = queue.top();
        queue.pop();
        BpeSymbol& l = syms[(size_t)c.left];
        BpeSymbol& r = syms[(size_t)c.right];
        if (l.len == 0 || r.len == 0 || l.sym != c.lsym || r.sym != c.rsym) continue;  // stale
        l.sym = find_merge(c.lsym, c.rsym)->result;
        l.len += r.len;
        r.len = 0;
        const int32_t next = link[(size_t)c.right].next;
        link[(size_t)c.left].next = next;
        if (next >= 0) link[(size_t)next].prev = c.left;
        add(link[(size_t)c.left].prev, c.left);
        add(c.left, next);
    }
    size_t w = 0;
    for (size_t i = 0; i < syms.size(); ++i)
        if (syms[i].len > 0) syms[w++] = syms[i];
    syms.resize(w);
}

void BpeModel::encode_word(std::string_view raw, bool ignore_merges, std::vector<TokenId>& out) const {
    if (raw.empty()) return;
    thread_local std::string text;  // the word's byte-level form
    thread_local std::vector<BpeSymbol> syms;
    text.clear();
    byte_level::encode(raw, text);
    if (ignore_merges) {
        const TokenId id = find(text);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    syms.clear();
    for (size_t i = 0, off = 0; i < raw.size(); ++i) {
        const uint32_t len = (uint32_t)byte_level::encode_byte((uint8_t)raw[i]).size();
        syms.push_back({byte_sym_[(uint8_t)raw[i]], (uint32_t)off, len});
        off += len;
    }
    if (syms.size() <= kSmallWord)
        merge_small(syms);
    else
        merge_large(syms);
    for (const BpeSymbol& s : syms) {
        if (s.sym >= 0 && s.sym < n_vocab_) {
            out.push_back(s.sym);
            continue;
        }
        // Not a token: each single byte of its text that is a token (as llama.cpp does).
        for (size_t k = 0; k < s.len; ++k) {
            const TokenId id = find(std::string_view(text).substr(s.off + k, 1));
            if (id >= 0) out.push_back(id);
        }
    }
}

}  // namespace hsd
