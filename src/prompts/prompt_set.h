#pragma once
// Evaluation prompt sets (JSON Lines, optionally gzip-compressed): HumanEval, Spec-Bench,
// MT-Bench, GSM8K, or any file with a "prompt" or "text" field per line. Used by the
// benchmarks and by `hsd profile` to measure costs and acceptance on the user's own prompts.
#include <cstddef>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hsd {

struct Prompt {
    std::string id;    // task_id / question_id / line number
    std::string text;  // the text to continue
};

// Reads up to `limit` prompts (0 = all). The text of a line is the first present of
// "prompt" (HumanEval), "turns"[0] (Spec-Bench, MT-Bench), "question" (GSM8K) or "text".
// Throws hsd::Error naming the file and line for unreadable files, bad JSON or a line
// without any of those fields.
std::vector<Prompt> load_prompts(const std::string& path, size_t limit = 0);

// A tokenized prompt cut to at most max_tokens (>= 1) so that it fits a context: a leading BOS
// stays, then the last tokens (the end is what a generation continues).
std::vector<TokenId> keep_prompt_tail(std::vector<TokenId> tokens, size_t max_tokens, const Tokenizer& tok);

}  // namespace hsd
