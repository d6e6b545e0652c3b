// Tokenizer::encode: special-token text is split out first, then each piece of raw text goes
// to the encoder of the vocabulary's kind (SentencePiece: spm_encoder.cpp; byte-level BPE: the
// pre-tokenizer and BpeModel, glued here). Loading is in tokenizer_load.cpp, decoding in
// tokenizer_decode.cpp.
#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/utf8.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"

namespace hsd {

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

bool Tokenizer::is_eog(TokenId id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

}  // namespace hsd
