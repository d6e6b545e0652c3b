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
  libcpp-httplib-dev              # hsd serve (HTTP server; its client in tests and bench_serve)
  python3-jinja2                  # tests: reference rendering of real chat templates
  curl                            # tests: the server driven by curl
)
# Node.js drives the server through the official OpenAI client in the tests; use the
# machine's node when it has one, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

# The OpenAI client for the server tests, at the version pinned in tests/server/package-lock.json.
cd "$(dirname "$0")/.."
npm ci --prefix tests/server --no-audit --no-fund --loglevel=error
