#pragma once
// Comparing file paths: two spellings of one file ("m.gguf", "./m.gguf", a symlink) must be
// recognised as the same model everywhere (the model cache, plan files, profiles).
#include <string>

namespace hsd {

// The weakly canonical form of `path` (absolute, "." / ".." and symlinks resolved as far as
// the file system allows), or `path` itself when the file system cannot resolve it.
std::string canonical_path(const std::string& path);

}  // namespace hsd
