#!/usr/bin/env bash
# Builds the tokenizer fuzz targets with clang-14 (libFuzzer + ASan + UBSan) into build-fuzz/
# and runs each for a fixed number of inputs. Longer runs by hand, e.g.:
#   build-fuzz/fuzz_tokenizer_bpe -max_total_time=600 -max_len=4096
set -euo pipefail
cd "$(dirname "$0")/.."
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER="$CXX_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-fuzz -j "${JOBS:-$(nproc)}"
ctest --test-dir build-fuzz --output-on-failure
