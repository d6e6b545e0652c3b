// `hsd tokenize -m MODEL.gguf "text"`: token ids and pieces; `--ids` decodes ids back to text.
#include <fmt/format.h>

#include <sstream>
#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "model/model.h"

namespace hsd::cli {

namespace {

struct TokenizeOptions {
    std::string model, text;
    bool ids = false, no_bos = false, only_ids = false;
};

void run_tokenize(const TokenizeOptions& o) {
    auto model = Model::load(o.model);
    const Tokenizer& tok = model->tokenizer();
    if (o.ids) {
        std::vector<TokenId> ids;
        std::istringstream in(o.text);
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
    const std::vector<TokenId> ids = tok.encode(o.text, tok.add_bos_default() && !o.no_bos);
    if (o.only_ids) {
        std::string s;
        for (TokenId id : ids) s += fmt::format("{}{}", s.empty() ? "" : " ", id);
        fmt::print("{}\n", s);
        return;
    }
    for (TokenId id : ids) fmt::print("{:>6} -> '{}'\n", id, tok.piece(id));
    fmt::print("{} tokens\n", ids.size());
}

}  // namespace

void register_tokenize(CLI::App& app) {
    static TokenizeOptions o;
    auto* cmd = app.add_subcommand("tokenize", "Text to token ids and pieces (or ids back to text with --ids)");
    cmd->add_option("-m,--model", o.model, "GGUF model whose vocabulary to use")->required();
    cmd->add_option("text", o.text, "Text to tokenize, or ids to decode with --ids")->required();
    cmd->add_flag("--ids", o.ids, "Decode a list of token ids (space or comma separated) back to text");
    cmd->add_flag("--no-bos", o.no_bos, "Do not prepend the BOS token");
    cmd->add_flag("--only-ids", o.only_ids, "Print the ids on one line, without pieces");
    cmd->callback([] { run_tokenize(o); });
}

}  // namespace hsd::cli
