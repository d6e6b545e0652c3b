#pragma once
// Evaluation prompt sets (JSON Lines, optionally gzip-compressed): HumanEval, Spec-Bench,
// MT-Bench, GSM8K, or any file with a "prompt" or "text" field per line. Used by the
// benchmarks and by `hsd profile` to measure costs and acceptance on the user's own prompts.
#include <cstddef>
#include <string>
#include <vector>

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

}  // namespace hsd
