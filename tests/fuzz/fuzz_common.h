#pragma once
// Shared by the tokenizer fuzz targets: loading the shared vocabularies once, and the checks
// every input goes through (encode with and without parse_special, decode of arbitrary ids).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_stream.h"

namespace hsd::fuzz {

struct Vocab {
    std::unique_ptr<gguf::File> file;
    Tokenizer tok;
};

inline std::vector<Vocab> load_vocabs(const std::vector<const char*>& names) {
    const char* env = std::getenv("HSD_SHARED_DIR");
    const std::string dir = std::string(env ? env : HSD_SHARED_DIR) + "/tokenizers/";
    std::vector<Vocab> out;
    for (const char* n : names) {
        auto f = gguf::File::open(dir + n);
        Tokenizer t = Tokenizer::from_gguf(*f);
        out.push_back({std::move(f), std::move(t)});
    }
    return out;
}

inline bool valid_utf8(const std::string& s) {
    Utf8Stream st;
    return st.push(s) + st.flush() == s;
}

// Encodes `text` both ways and decodes the ids; decodes the raw bytes read as ids too. A
// round trip must be exact when `exact_round_trip` says the vocabulary can represent the text.
inline void check(const Tokenizer& tok, const uint8_t* data, size_t size, bool exact_round_trip) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    for (bool special : {false, true}) {
        const std::vector<TokenId> ids = tok.encode(text, special, special);
        for (TokenId id : ids)
            if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
        const std::string back = tok.decode(ids);
        if (!special && exact_round_trip && back != text) {
            std::fprintf(stderr, "round trip differs for %zu bytes\n", size);
            __builtin_trap();
        }
    }
    std::vector<TokenId> ids;
    for (size_t i = 0; i + 2 <= size; i += 2) ids.push_back((TokenId)(data[i] | data[i + 1] << 8) % (tok.n_vocab() + 8));
    try {
        Utf8Stream st;
        for (TokenId id : ids) (void)st.push(tok.token_bytes(id));
        (void)st.flush();
        (void)tok.decode(ids);
    } catch (const Error&) {
        // ids past the vocabulary are refused with hsd::Error: expected
    }
}

}  // namespace hsd::fuzz
