#!/usr/bin/env bash
# Installs hsd's build and test dependencies from Debian 12's packages.
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config git
  libgtest-dev libgmock-dev       # GoogleTest (tests)
  libfmt-dev                      # formatting
  nlohmann-json3-dev              # JSON (CLI --json, reference outputs, bench results)
  libcli11-dev                    # command-line parsing
  libopenblas-dev                 # sgemm for large prefill batches
  zlib1g-dev                      # reading gzip prompt sets (HumanEval.jsonl.gz)
  gnuplot-nox                     # benchmark plots (PNG)
  libsentencepiece-dev            # reference tokenizer the tests compare against
  libpcre2-dev                    # byte-level BPE pre-tokenizer regexes
  clang-14 libfuzzer-14-dev       # tokenizer fuzz targets (scripts/fuzz.sh)
)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
