#pragma once
// Files by path: comparing paths, reading a whole file.
// Comparing file paths: two spellings of one file ("m.gguf", "./m.gguf", a symlink) must be
// recognised as the same model everywhere (the model cache, plan files, profiles).
#include <string>

namespace hsd {

// The weakly canonical form of `path` (absolute, "." / ".." and symlinks resolved as far as
// the file system allows), or `path` itself when the file system cannot resolve it.
std::string canonical_path(const std::string& path);

// The bytes of the file at `path`; fails (hsd::Error) naming `what` and the path when it
// cannot be opened or read, e.g. read_file_or_fail(p, "-f") -> "-f: cannot read 'p'".
std::string read_file_or_fail(const std::string& path, const std::string& what);

}  // namespace hsd
