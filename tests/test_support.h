#pragma once
// Paths to the shared models/prompts and a guard that makes a missing ../shared loud:
// tests that need it are reported as SKIPPED with the path they looked for, never passed.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace hsd::test {

inline std::string shared_dir() {
    if (const char* env = std::getenv("HSD_SHARED_DIR")) return env;
    return HSD_SHARED_DIR;
}

inline std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }

// Natural-log softmax in double, for comparing logits with the log-prob references.
inline std::vector<double> log_softmax(const float* logits, int n) {
    double mx = logits[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, (double)logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp((double)logits[i] - mx);
    const double lse = mx + std::log(sum);
    std::vector<double> out((size_t)n);
    for (int i = 0; i < n; ++i) out[(size_t)i] = (double)logits[i] - lse;
    return out;
}

// Runs `cli args` through the shell; status -1 if it did not exit normally.
struct CliRun {
    int status = -1;
    std::string out;  // stdout and stderr
};
inline CliRun run_cli(const std::string& cli, const std::string& args) {
    const std::string cmd = cli + " " + args + " 2>&1";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf{};
    size_t got;
    while ((got = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), got);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

}  // namespace hsd::test

#define HSD_REQUIRE_SHARED(rel)                                                                    \
    do {                                                                                           \
        if (!std::filesystem::exists(::hsd::test::shared_path(rel)))                               \
            GTEST_SKIP() << "MISSING SHARED DATA: " << ::hsd::test::shared_path(rel)                \
                         << " not found (set HSD_SHARED_DIR to the folder holding models/ and prompts/)"; \
    } while (0)
