#!/usr/bin/env bash
# Installs hsd's dependencies from Debian 12's packages.
#   install-deps.sh           what building the library and the hsd program needs
#   install-deps.sh --test    also what the test suite needs (GoogleTest, SentencePiece, clang's
#                             libFuzzer, python3-jinja2, curl, Node.js and the pinned OpenAI client)
#   install-deps.sh --bench   also what the benchmark scripts need (gnuplot for the plots)
set -euo pipefail
test=0 bench=0
for a in "$@"; do
  case $a in
    --test) test=1 ;;
    --bench) bench=1 ;;
    *) echo "install-deps.sh: unknown option '$a' (use --test and/or --bench)" >&2; exit 2 ;;
  esac
done
PACKAGES=(
  build-essential cmake pkg-config
  libfmt-dev                      # formatting
  nlohmann-json3-dev              # JSON (CLI --json, the server, plan and cache files)
  libcli11-dev                    # command-line parsing
  libopenblas-dev                 # sgemm for large prefill batches
  zlib1g-dev                      # reading gzip prompt sets (HumanEval.jsonl.gz)
  libpcre2-dev                    # byte-level BPE pre-tokenizer regexes
  libcpp-httplib-dev              # hsd serve (HTTP server; its client in tests and bench_serve)
)
if [ $test = 1 ]; then
  PACKAGES+=(
    git python3 ninja-build
    libgtest-dev libgmock-dev     # GoogleTest (tests)
    libsentencepiece-dev          # reference tokenizer the tests compare against
    clang-14 libfuzzer-14-dev     # tokenizer fuzz targets (scripts/fuzz.sh)
    python3-jinja2                # reference rendering of real chat templates
    curl                          # the server driven by curl
  )
  # Node.js drives the server through the official OpenAI client in the tests; use the
  # machine's node when it has one, else Debian's.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi
fi
if [ $bench = 1 ]; then PACKAGES+=(gnuplot-nox); fi  # benchmark plots (PNG)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

if [ $test = 1 ]; then
  # The OpenAI client for the server tests, at the version pinned in tests/server/package-lock.json.
  cd "$(dirname "$0")/.."
  npm ci --prefix tests/server --no-audit --no-fund --loglevel=error
fi
