#pragma once
// Paths to the shared models/prompts and a guard that makes a missing ../shared loud:
// tests that need it are reported as SKIPPED with the path they looked for, never passed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace hsd::test {

inline std::string shared_dir() {
    if (const char* env = std::getenv("HSD_SHARED_DIR")) return env;
    return HSD_SHARED_DIR;
}

inline std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }

}  // namespace hsd::test

#define HSD_REQUIRE_SHARED(rel)                                                                    \
    do {                                                                                           \
        if (!std::filesystem::exists(::hsd::test::shared_path(rel)))                               \
            GTEST_SKIP() << "MISSING SHARED DATA: " << ::hsd::test::shared_path(rel)                \
                         << " not found (set HSD_SHARED_DIR to the folder holding models/ and prompts/)"; \
    } while (0)
