#!/usr/bin/env bash
# Builds and runs the whole test suite twice: an optimized build (tests and benchmarks), then
# an AddressSanitizer + UndefinedBehaviorSanitizer build, then the tokenizer fuzz targets.
# Needs ../shared (models, prompts) and `bash scripts/install-deps.sh --test`.
# Prints the wall time of each phase at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
# ctest runs JOBS tests at once, so each test's shared thread pool gets one thread
# (tests/spec_support.h: faster than oversubscribed 2-thread pools; thread counts are tested
# by tests with pools of their own).
export HSD_TEST_THREADS=${HSD_TEST_THREADS:-1}
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
phases=()
phase() {  # phase NAME COMMAND...: runs it, remembers how long it took
  local name=$1 t0=$SECONDS
  shift
  "$@"
  phases+=("$(printf '%-28s %5d s' "$name" $((SECONDS - t0)))")
}

phase "release: configure+build" bash -c "cmake -S . -B build ${GEN[*]} -DCMAKE_BUILD_TYPE=Release -DHSD_BUILD_TESTS=ON \
  -DHSD_BUILD_BENCH=ON && cmake --build build -j $JOBS"
phase "release: ctest" ctest --test-dir build --output-on-failure -j "$JOBS"

# Sanitizers at -O2 with line tables only (-g1): stack traces name file and line, and the
# build is spared full debug information. The sanitizer half is built with clang when the
# machine has it (install-deps.sh --test installs clang-14 for the fuzz targets): on the 2-core
# machine it builds it in ~300 s where GCC 12 takes 793 s, and its tests run in ~400 s against
# 520 s (docs/BENCHMARKS.md). The optimized half keeps the default compiler, the one README command 1 uses, so CI
# compiles every file with both. ASAN_CXX=g++ (or any compiler) overrides.
ASAN_CXX=${ASAN_CXX:-$(command -v clang++-14 || true)}
ASAN_COMPILER=()
if [ -n "$ASAN_CXX" ]; then ASAN_COMPILER=(-DCMAKE_CXX_COMPILER="$ASAN_CXX"); fi
phase "asan: configure+build" bash -c "cmake -S . -B build-asan ${GEN[*]} ${ASAN_COMPILER[*]} -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG' -DHSD_SANITIZE=ON -DHSD_BUILD_TESTS=ON -DHSD_BUILD_BENCH=OFF \
  && cmake --build build-asan -j $JOBS"
# (The curl / Node.js server suites run in the optimized build only; the server itself runs
# under the sanitizers in test_server and test_batching.)
phase "asan: ctest" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  HSD_SANITIZER_BUILD=1 ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE server

# Tokenizer fuzz targets (libFuzzer needs clang), a fixed number of inputs each.
if command -v "${CXX_FUZZ:-clang++-14}" >/dev/null; then phase "fuzz: build+run" scripts/fuzz.sh; fi

echo "test.sh phases:"
printf '  %s\n' "${phases[@]}"
