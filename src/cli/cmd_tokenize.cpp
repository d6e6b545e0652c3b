// `hsd tokenize -m M.gguf [--special] [--no-bos] [--only-ids] ("text" | -f FILE)`: token ids and
// pieces; `--ids` decodes ids back to text. Reads only the vocabulary, so vocabulary-only GGUF
// files (no tensors) work as well as whole models.
#include <fmt/format.h>

#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "common/paths.h"
#include "common/utf8.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace hsd::cli {

namespace {

struct TokenizeOptions {
    std::string model, text, file;
    bool ids = false, no_bos = false, only_ids = false, special = false;
};

// Printable form of a token's text: control characters and bytes that are not valid UTF-8
// (common/utf8: overlong forms and surrogates included) as \xNN.
std::string escaped(const std::string& s) {
    std::string out;
    const auto* b = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = b[i];
        const size_t len = utf8_valid_char_len(b + i, s.size() - i);
        if (len == 0 || (len == 1 && (c < 0x20 || c == 0x7F))) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.append(s, i, len);
            i += len - 1;
        }
    }
    return out;
}

void run_tokenize(const TokenizeOptions& o) {
    if (o.text.empty() == o.file.empty() && !(o.file.empty() && o.ids))
        fail("tokenize: give either the text or -f FILE (not both)");
    const std::string input = o.file.empty() ? o.text : read_file_or_fail(o.file, "-f");
    const auto gguf = gguf::File::open(o.model);
    const Tokenizer tok = Tokenizer::from_gguf(*gguf);
    if (o.ids) {
        std::vector<TokenId> ids;
        std::istringstream in(input);
        std::string word;
        while (in >> word) {
            for (char& ch : word)
                if (ch == ',' || ch == '[' || ch == ']') ch = ' ';
            std::istringstream w(word);
            long long v;
            while (w >> v) ids.push_back((TokenId)v);
            if (!w.eof()) fail(fmt::format("--ids: '{}' is not a token id", word));
        }
        fmt::print("{}\n", tok.decode(ids));
        return;
    }
    std::vector<TokenId> ids = tok.encode(input, tok.add_bos_default() && !o.no_bos, o.special);
    if (tok.add_eos_default() && !o.no_bos && tok.eos_id() >= 0) ids.push_back(tok.eos_id());
    if (o.only_ids) {
        std::string s;
        for (TokenId id : ids) s += fmt::format("{}{}", s.empty() ? "" : " ", id);
        fmt::print("{}\n", s);
        return;
    }
    for (TokenId id : ids) {
        // SentencePiece pieces are shown as stored ("▁the"); byte-level BPE pieces as the
        // bytes they stand for (control tokens by their name).
        const std::string shown = tok.kind() == Tokenizer::Kind::Bpe && !tok.is_control(id)
                                      ? escaped(tok.token_bytes(id))
                                      : tok.piece(id);
        fmt::print("{:>6} -> '{}'\n", id, shown);
    }
    fmt::print("{} tokens\n", ids.size());
}

}  // namespace

void register_tokenize(CLI::App& app) {
    static TokenizeOptions o;
    auto* cmd = app.add_subcommand("tokenize", "Text to token ids and pieces (or ids back to text with --ids)");
    cmd->add_option("-m,--model", o.model, "GGUF model or vocabulary-only GGUF file")->required();
    cmd->add_option("text", o.text, "Text to tokenize, or ids to decode with --ids");
    cmd->add_option("-f,--file", o.file, "Tokenize this file's exact bytes instead of the text argument");
    cmd->add_flag("--ids", o.ids, "Decode a list of token ids (space or comma separated) back to text");
    cmd->add_flag("--special", o.special, "Parse special-token text (e.g. <|im_end|>) as the special tokens");
    cmd->add_flag("--no-bos", o.no_bos, "Do not add the BOS (or EOS) token the vocabulary asks for");
    cmd->add_flag("--only-ids", o.only_ids, "Print the ids on one line, without pieces");
    cmd->callback([] { run_tokenize(o); });
}

}  // namespace hsd::cli
