#pragma once
// Tokenizer built from a GGUF vocabulary, of one of two kinds:
// - tokenizer.ggml.model = "llama": SentencePiece BPE, score-ordered pair merges over UTF-8
//   characters, byte fallback (<0xXX>), optional space prefix. Produces exactly the ids of the
//   SentencePiece library.
// - tokenizer.ggml.model = "gpt2": byte-level BPE with merge ranks after a pre-tokenizer named
//   by tokenizer.ggml.pre (see bpe.h, pretokenizer.h). Produces exactly llama.cpp's ids.
// Both split special-token text out first when asked to (parse_special), as llama.cpp does.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/token_id.h"

namespace hsd {

namespace gguf { class File; }

class BpeModel;
class PreTokenizer;

class Tokenizer {
public:
    // SentencePiece piece types as stored in tokenizer.ggml.token_type.
    enum class PieceType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

    // Throws hsd::Error naming the file and key if the vocabulary is missing or inconsistent.
    static Tokenizer from_gguf(const gguf::File& file);

    enum class Kind { SentencePiece, Bpe };

    // Text -> ids. BOS is prepended when add_bos is true (callers pass add_bos_default()).
    // With parse_special, the text of control, user-defined and unknown tokens becomes those
    // tokens; without it only user-defined tokens are (for BPE, as llama.cpp), and for
    // SentencePiece the text is encoded exactly as the SentencePiece library does.
    std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special = false) const;
    // Ids -> text (control tokens such as BOS/EOS produce nothing). Throws on an id out of range.
    std::string decode(const std::vector<TokenId>& ids) const;
    // The raw bytes one token contributes to the text ("" for control tokens); may be a
    // partial UTF-8 sequence for byte tokens, see Utf8Stream.
    std::string token_bytes(TokenId id) const;
    // The piece string as stored in the vocabulary (e.g. "▁the", "<0x0A>").
    const std::string& piece(TokenId id) const;

    // End of generation: EOS, EOT, EOM and the tokens llama.cpp recognizes by their text
    // (<|eot_id|>, <|im_end|>, <|endoftext|>, <end_of_turn>, FIM pad/repo/file-separator, ...).
    bool is_eog(TokenId id) const;
    const std::vector<TokenId>& eog_ids() const { return eog_; }  // sorted

    Kind kind() const { return kind_; }
    const char* kind_name() const { return kind_ == Kind::Bpe ? "byte-level BPE" : "SentencePiece BPE"; }
    const std::string& pre_tokenizer() const { return pre_name_; }  // BPE only ("" otherwise)
    int32_t n_vocab() const { return (int32_t)pieces_.size(); }
    TokenId bos_id() const { return bos_id_; }
    TokenId eos_id() const { return eos_id_; }  // -1 where the vocabulary has none
    TokenId eot_id() const { return eot_id_; }  // -1 where the vocabulary has none
    TokenId unk_id() const { return unk_id_; }
    bool add_bos_default() const { return add_bos_; }
    bool add_eos_default() const { return add_eos_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    PieceType type(TokenId id) const { return types_.at((size_t)id); }
    bool is_control(TokenId id) const;

private:
    // Open-addressing hash set of token ids keyed by their piece text. Stores ids only (the
    // text lives in pieces_), so a Tokenizer stays safely copyable and movable.
    struct PieceIndex {
        std::vector<int32_t> slots;  // -1 = empty
        std::vector<uint32_t> hashes;
        uint64_t mask = 0;
        size_t max_len = 0;  // longest piece held, in bytes
        void build(const std::vector<std::string>& pieces, const std::vector<TokenId>& ids);
        TokenId find(std::string_view s, const std::vector<std::string>& pieces) const;  // -1 if absent
    };

    // Set of adjacent-character pairs (each character packed big-endian into 32 bits) that occur
    // inside some mergeable piece. No merge can ever join two characters whose pair is absent,
    // so the text splits there into segments that are merged independently (same result, and
    // small heaps instead of one heap over the whole text).
    struct PairSet {
        std::vector<uint64_t> slots;  // kEmpty = empty
        uint64_t mask = 0;
        static constexpr uint64_t kEmpty = ~0ULL;
        void build(const std::vector<uint64_t>& keys);
        bool contains(uint64_t key) const;
    };

    static Tokenizer load_spm(const gguf::File& file);
    static Tokenizer load_bpe(const gguf::File& file);
    void load_special(const gguf::File& file);  // EOG set and special-token list, both kinds
    void encode_spm(std::string_view text, std::vector<TokenId>& out) const;
    void encode_bpe(std::string_view text, std::vector<TokenId>& out) const;

    // SentencePiece's PieceToId: control/unknown/byte pieces first, then mergeable ones, else unk.
    TokenId piece_to_id(std::string_view s) const;
    // Identity normalization as the SentencePiece normalizer does it: optional "▁" prefix,
    // ' ' -> "▁", each byte that does not start a valid UTF-8 character -> U+FFFD.
    std::string normalize(std::string_view text) const;
    size_t prefix_user_defined(std::string_view s) const;  // longest user-defined match, 0 if none

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::vector<PieceType> types_;
    std::vector<int16_t> byte_value_;  // byte a Byte piece stands for, -1 for other pieces
    PieceIndex mergeable_;             // Normal / UserDefined / Unused pieces (first occurrence wins)
    PieceIndex reserved_;              // Control / Unknown / Byte pieces
    PieceIndex user_defined_;          // UserDefined pieces: never split, never merged
    PairSet spannable_;                // character pairs that some merge may join
    TokenId byte_to_id_[256] = {};
    TokenId bos_id_ = 1, eos_id_ = 2, unk_id_ = 0;
    bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = false;
    bool byte_fallback_ = false;  // the vocabulary has Byte pieces
    bool has_unused_ = false;

    Kind kind_ = Kind::SentencePiece;
    std::shared_ptr<const BpeModel> bpe_;     // immutable, shared by copies
    std::shared_ptr<const PreTokenizer> pre_;
    std::string pre_name_;
    std::vector<TokenId> specials_;           // control/user-defined/unknown, longest text first
    std::vector<TokenId> eog_;
    TokenId eot_id_ = -1;
};

}  // namespace hsd
