// Streaming UTF-8 repair with the same rules as Tokenizer::decode (and SentencePiece's decoder):
// a byte that cannot start a valid character (overlong forms, surrogates, > U+10FFFF, stray
// continuation bytes, truncated sequences) becomes one U+FFFD; so the concatenation of push()
// outputs and flush() equals the decoded text whenever the pushed bytes are the tokens' bytes.
#include "tokenizer/utf8_stream.h"

#include "common/utf8.h"

namespace hsd {

std::string Utf8Stream::push(const std::string& bytes) {
    pending_ += bytes;
    // A valid character cut short by the end of the input waits for more bytes; everything
    // before it is final.
    const size_t cut = utf8_safe_cut(pending_, pending_.size());
    std::string out;
    out.reserve(cut + 8);
    append_utf8_repaired(out, std::string_view(pending_).substr(0, cut));
    pending_.erase(0, cut);
    return out;
}

std::string Utf8Stream::flush() {
    // The held tail can no longer complete: one U+FFFD per byte, as decode does.
    std::string out;
    append_utf8_repaired(out, pending_);
    pending_.clear();
    return out;
}

}  // namespace hsd
