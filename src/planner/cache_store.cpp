#include "planner/cache_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>

#include "common/error.h"
#include "common/paths.h"

#ifndef HSD_BUILD_TYPE
#define HSD_BUILD_TYPE "unknown"
#endif

namespace hsd::planner {

namespace {

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

// Size, mtime (ns) of a file; false if it cannot be stat'ed.
bool stat_file(const std::string& path, uint64_t& size, int64_t& mtime_ns) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return false;
    size = (uint64_t)st.st_size;
    mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + (int64_t)st.st_mtim.tv_nsec;
    return true;
}

}  // namespace

std::string cache_directory() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && x[0] == '/') return std::string(x) + "/hsd";
    if (const char* h = std::getenv("HOME"); h && h[0]) return std::string(h) + "/.cache/hsd";
    return "";
}

nlohmann::json file_identity(const std::string& path) {
    uint64_t size = 0;
    int64_t mtime = 0;
    if (!stat_file(path, size, mtime)) fail(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(fmt::format("cannot open '{}'", path));
    constexpr size_t kChunk = 64 * 1024;
    std::string buf(kChunk, '\0');
    f.read(buf.data(), (std::streamsize)kChunk);
    uint64_t h = fnv1a(buf.data(), (size_t)f.gcount());
    if (size > kChunk) {
        f.clear();
        f.seekg((std::streamoff)(size - std::min<uint64_t>(size - kChunk, kChunk)));
        f.read(buf.data(), (std::streamsize)kChunk);
        h = fnv1a(buf.data(), (size_t)f.gcount(), h);
    }
    return {{"path", canonical_path(path)}, {"size", size}, {"mtime_ns", mtime}, {"fingerprint", hex64(h)}};
}

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0)
            if (const size_t colon = line.find(':'); colon != std::string::npos) {
                size_t b = colon + 1;
                while (b < line.size() && line[b] == ' ') ++b;
                return line.substr(b);
            }
    return "unknown";
}

nlohmann::json build_identity() {
    nlohmann::json j;
#if defined(__clang__)
    j["compiler"] = fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
    j["compiler"] = fmt::format("gcc {}", __VERSION__);
#else
    j["compiler"] = "unknown";
#endif
    j["build_type"] = HSD_BUILD_TYPE;
    uint64_t size = 0;
    int64_t mtime = 0;
    std::error_code ec;
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (!ec && stat_file(exe, size, mtime)) {
        j["executable"] = exe;
        j["executable_size"] = size;
        j["executable_mtime_ns"] = mtime;
    }
    return j;
}

void write_file_atomic(const std::string& path, const std::string& text) {
    std::random_device rd;
    const std::string tmp = fmt::format("{}.tmp.{}.{:08x}", path, (long)::getpid(), rd());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail(fmt::format("cannot create '{}': {}", tmp, std::strerror(errno)));
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            fail(fmt::format("cannot write '{}': {}", tmp, std::strerror(e)));
        }
        done += (size_t)w;
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        fail(fmt::format("cannot write '{}': {}", tmp, std::strerror(e)));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        fail(fmt::format("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(e)));
    }
}

CacheStore::CacheStore(std::string dir, std::function<void(const std::string&)> warn)
    : dir_(std::move(dir)), warn_(std::move(warn)) {}

void CacheStore::warn(const std::string& msg) const {
    if (warn_)
        warn_(msg);
    else
        std::fprintf(stderr, "hsd: warning: %s\n", msg.c_str());
}

std::string CacheStore::entry_path(const std::string& kind, const nlohmann::json& key) const {
    const std::string k = key.dump();
    return fmt::format("{}/{}-{}.json", dir_, kind, hex64(fnv1a(k.data(), k.size())));
}

std::optional<nlohmann::json> CacheStore::load(const std::string& kind, const nlohmann::json& key) const {
    if (!enabled()) return std::nullopt;
    const std::string path = entry_path(kind, key);
    std::ifstream f(path, std::ios::binary);
    if (!f) return std::nullopt;  // absent: a plain miss
    std::stringstream ss;
    ss << f.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    const char* why = nullptr;
    if (j.is_discarded() || !j.is_object())
        why = "not valid JSON";
    else if (!j.contains("key") || !j.contains("value"))
        why = "no \"key\" / \"value\"";
    else if (j["key"] != key)
        why = "stale: measured under another key (file, CPU, threads or build changed)";
    if (why) {
        ignore(kind, key, why);
        return std::nullopt;
    }
    return j["value"];
}

void CacheStore::ignore(const std::string& kind, const nlohmann::json& key, const std::string& why) const {
    warn(fmt::format("ignoring planner cache entry '{}' ({}); it will be measured again and rewritten",
                     entry_path(kind, key), why));
}

void CacheStore::store(const std::string& kind, const nlohmann::json& key, const nlohmann::json& value) const {
    if (!enabled()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
        warn(fmt::format("cannot create the planner cache directory '{}': {}; running without a cache", dir_,
                         ec.message()));
        return;
    }
    try {
        write_file_atomic(entry_path(kind, key), nlohmann::json{{"key", key}, {"value", value}}.dump(1) + "\n");
    } catch (const Error& e) {
        warn(fmt::format("planner cache not updated: {}", e.what()));
    }
}

}  // namespace hsd::planner
