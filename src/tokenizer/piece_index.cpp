// The tokenizer's open-addressing hash indexes: pieces by their text (PieceIndex) and the
// character pairs that occur inside mergeable pieces (PairSet), both built at load time and
// probed on every SentencePiece merge.
#include "tokenizer/tokenizer.h"

namespace hsd {

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
}  // namespace hsd
