#pragma once
// Byte-level BPE pre-tokenizers, named by tokenizer.ggml.pre, applied exactly as llama.cpp
// applies them: a list of regular expressions, each splitting every piece the previous one
// produced (text a regex does not match stays a piece of its own).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hsd {

class PreTokenizer {
public:
    // "" (absent) and "default" select the default rules; an unknown name throws hsd::Error
    // naming it (and `path`) and listing the known names.
    static PreTokenizer from_name(const std::string& name, const std::string& path);
    static std::vector<std::string> known_names();

    // Splits code points into words; appends each word's length in code points to `lens`.
    void split(const std::vector<uint32_t>& cpts, std::vector<uint32_t>& lens) const;

    const std::string& name() const { return name_; }
    // "ignore merges": a word that is itself a token is that one token (llama-bpe, tekken).
    bool ignore_merges() const { return ignore_merges_; }
    bool add_bos_default() const { return add_bos_; }

    struct Step;  // one regular expression (or a hand-written equivalent)

private:
    std::string name_;
    std::vector<std::shared_ptr<const Step>> steps_;
    bool ignore_merges_ = false, add_bos_ = false;
};

}  // namespace hsd
