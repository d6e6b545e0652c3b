#!/usr/bin/env bash
# Builds and runs the whole test suite twice: an optimized build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build. Needs ../shared (models, prompts).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSD_SANITIZE=ON -DHSD_BUILD_BENCH=OFF
cmake --build build-asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  HSD_SANITIZER_BUILD=1 ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE server
# (The curl / Node.js server suites run in the optimized build only, to keep CI within its time;
# the server itself runs under the sanitizers in test_server and test_batching.)

# Tokenizer fuzz targets (libFuzzer needs clang), a fixed number of inputs each.
if command -v "${CXX_FUZZ:-clang++-14}" >/dev/null; then scripts/fuzz.sh; fi
