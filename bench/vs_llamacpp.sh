#!/usr/bin/env bash
# hsd against llama.cpp on the same GGUF files, in one run, runs alternating (best of R each):
#   decode tokens/s   hsd generate -n 32 (greedy, --ignore-eos)  vs  llama-bench -n 32 (tg32)
#   prefill tokens/s  bench_forward's n=256 is the hsd figure      vs  llama-bench -p 256 (pp256)
#   load + 1 token    /usr/bin/time of `hsd generate -n 1`         vs  `llama-bench -p 1 -n 0 -r 1`
#                     (wall seconds, peak resident MB; llama-bench also runs one warm-up pass)
# Usage: bench/vs_llamacpp.sh LLAMA_BENCH HSD OUT.tsv [R=2] model.gguf...
# llama.cpp: built CPU-only outside this repository (cmake -DGGML_NATIVE=ON, Release).
set -euo pipefail
LB=$1 HSD=$2 OUT=$3 R=${4:-2}
shift 4
THREADS=${THREADS:-$(nproc)}
PROMPT="def fibonacci(n):"
printf 'model\thsd_tg32\tllama_tg32\tratio\tllama_pp256\thsd_load1_s\thsd_load1_rss_mb\tllama_load1_s\tllama_load1_rss_mb\tfile_mb\n' > "$OUT"
for m in "$@"; do
    best_h=0 best_l=0 pp=0
    for ((r = 0; r < R; ++r)); do
        h=$("$HSD" generate -m "$m" -p "$PROMPT" -n 32 --temp 0 --ignore-eos --json -t "$THREADS" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["predicted_per_second"])')
        l=$("$LB" -m "$m" -t "$THREADS" -p 0 -n 32 -r 1 -o json 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])')
        best_h=$(python3 -c "print(max($best_h, $h))")
        best_l=$(python3 -c "print(max($best_l, $l))")
    done
    pp=$("$LB" -m "$m" -t "$THREADS" -p 256 -n 0 -r 2 -o json 2>/dev/null |
         python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])')
    # Load + 1 token, page cache warm for both (the file was just read by the runs above).
    t=$(mktemp)
    /usr/bin/time -o "$t" -f '%e %M' "$HSD" generate -m "$m" -p "$PROMPT" -n 1 --temp 0 -t "$THREADS" >/dev/null 2>&1
    hl=$(tail -1 "$t")
    /usr/bin/time -o "$t" -f '%e %M' "$LB" -m "$m" -t "$THREADS" -p 1 -n 0 -r 1 >/dev/null 2>&1
    ll=$(tail -1 "$t")
    rm -f "$t"
    mb=$(python3 -c "import os; print(round(os.path.getsize('$m') / 1e6))")
    read -r hs hk <<< "$hl"
    read -r ls lk <<< "$ll"
    printf '%s\t%.1f\t%.1f\t%.2f\t%.1f\t%s\t%d\t%s\t%d\t%s\n' "$(basename "$m" .gguf)" "$best_h" "$best_l" \
        "$(python3 -c "print($best_h / $best_l)")" "$pp" "$hs" $((hk / 1024)) "$ls" $((lk / 1024)) "$mb" | tee -a "$OUT"
done
