// Token ids back to text: the vocabulary's pieces, one token's bytes (byte-level symbols mapped
// back, "▁" as a space, byte pieces as their byte) and whole-sequence decoding as the
// SentencePiece library and llama.cpp do it.
#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/utf8.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/spm_chars.h"

namespace hsd {

namespace {

constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // SentencePiece's default unk surface

}  // namespace

using spm::kSpaceSymbol;

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
