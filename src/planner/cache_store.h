#pragma once
// The planner's on-disk cache ($XDG_CACHE_HOME/hsd/, else ~/.cache/hsd/): small JSON entries,
// each stored with the key it was measured under (file identities, CPU, threads, build). An
// entry whose key differs is stale, one that does not parse is corrupt: both are ignored with
// one warning and rewritten by the caller. Writes go to a temporary file in the same
// directory and are renamed into place, so a crash or a concurrent process never leaves a
// half-written entry (rename is atomic on POSIX; the last writer wins).
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hsd::planner {

// $XDG_CACHE_HOME/hsd if XDG_CACHE_HOME is set and absolute, else $HOME/.cache/hsd; "" when
// neither can be formed (no HOME): the caller then runs without a cache.
std::string cache_directory();

// What makes a measurement of a file stale when it changes: canonical path, size,
// modification time and a hash of its first and last 64 KiB. Throws hsd::Error naming the file.
nlohmann::json file_identity(const std::string& path);
// The CPU's model name (/proc/cpuinfo), "unknown" when it cannot be read.
std::string cpu_model_name();
// The build that measures: compiler, version, build type and the running executable's size
// and modification time (a rebuilt binary may have other kernels).
nlohmann::json build_identity();

// Writes `text` to `path` atomically (temporary file + fsync + rename). Throws hsd::Error
// naming the file on failure; the temporary file is removed.
void write_file_atomic(const std::string& path, const std::string& text);

class CacheStore {
public:
    // dir: the cache directory ("" = no cache: every lookup misses, every store is skipped).
    // warn: where the one-line warnings go (default: stderr, prefixed "hsd: warning: ").
    explicit CacheStore(std::string dir, std::function<void(const std::string&)> warn = {});

    bool enabled() const { return !dir_.empty(); }
    const std::string& directory() const { return dir_; }
    // The file an entry of this kind and key lives in: DIR/KIND-HASH.json (HASH of the key).
    std::string entry_path(const std::string& kind, const nlohmann::json& key) const;

    // The value stored under (kind, key), or nullopt when absent, stale or corrupt (the last
    // two with one warning naming the file and the reason).
    std::optional<nlohmann::json> load(const std::string& kind, const nlohmann::json& key) const;
    // Stores the value under (kind, key), creating the directory. A failure (read-only
    // directory, full disk) is a warning, not an error: the run goes on uncached.
    void store(const std::string& kind, const nlohmann::json& key, const nlohmann::json& value) const;

    // The caller found a loaded value unusable (wrong shape): the same one warning as load().
    void ignore(const std::string& kind, const nlohmann::json& key, const std::string& why) const;

private:
    void warn(const std::string& msg) const;
    std::string dir_;
    std::function<void(const std::string&)> warn_;
};

}  // namespace hsd::planner
