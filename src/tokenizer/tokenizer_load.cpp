// Building a Tokenizer from a GGUF vocabulary: the tokens, scores and types (checked against
// each other), byte pieces, merges and the pre-tokenizer for BPE, the special ids and the
// end-of-generation set, and the piece indexes the SentencePiece encoder probes.
#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_chars.h"

namespace hsd {

namespace {

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
            const size_t len = std::min(spm::one_char_len((unsigned char)p[i]), p.size() - i);
            const uint64_t c = spm::pack_char(p.data() + i, len);
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

}  // namespace hsd
