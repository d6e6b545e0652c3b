#!/usr/bin/env bash
# Runs every benchmark whose figures docs/BENCHMARKS.md quotes and writes the results to
# bench/results/ (JSON, TSV) and the plots to docs/img/. Needs ../shared and
# `bash scripts/install-deps.sh --bench`; builds build/ in Release with the benchmarks first.
# About 100 minutes on 2 cores.
#
#   bash scripts/bench_all.sh [forward|quant|tokenizer|hsd|hispec|planner|auto ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHSD_BUILD_BENCH=ON >/dev/null
cmake --build build -j "$(nproc)"
B=build/bench
R=bench/results
IMG=docs/img
S=../shared
mkdir -p "$R" "$IMG"
what=${*:-forward quant tokenizer hsd hispec planner auto}
HE=$S/prompts/HumanEval.jsonl.gz
SB=$S/prompts/spec_bench_question.jsonl

for w in $what; do
case $w in
forward)
    $B/bench_forward --json-out $R/forward.json | tee $R/forward.txt
    ;;
quant)
    # The quantizers' own speed (hsd quantize), one thread.
    $B/bench_quantize --json-out $R/quantize.json | tee $R/quantize.txt
    # Issue 11: a random-weight model of a 1B shape (d 2048, 22 layers, 32/4 heads, FFN 5632,
    # the shared tokenizer) in F16, quantized by `hsd quantize` into each type (made once,
    # ~6.5 GB under $HSD_BENCH_DIR), decoded with int8 and with F32 activations.
    Q=${HSD_BENCH_DIR:-/tmp/hsd-bench}
    mkdir -p "$Q"
    [[ -f $Q/bench-1b-F16.gguf ]] || $B/make_bench_model --tokenizer-from $S/models/hsd-m1.gguf --out $Q/bench-1b-F16.gguf
    M=$Q/bench-1b-F16.gguf
    for t in Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 IQ4_XS; do
        [[ -f $Q/bench-1b-$t.gguf ]] || build/hsd quantize $Q/bench-1b-F16.gguf $Q/bench-1b-$t.gguf $t 2>&1 | tail -2
        M+=",$Q/bench-1b-$t.gguf"
    done
    for a in int8 f32; do
        $B/bench_forward --models $M --context 128 --decode 32 --reps 7 --activations $a \
            --json-out $R/quant_$a.json | tee $R/quant_$a.txt
    done
    ;;
tokenizer)
    # Issue 12: encoding speed (MB/s) of every vocabulary of ../shared/tokenizers.
    $B/bench_tokenizer | tee $R/tokenizer.txt
    ;;
hsd)
    # Issue 4: single drafters, the n-gram drafter, 2- and 3-level hierarchies (bench default).
    for t in 0 1; do
        $B/bench_speculative --target target --prompts $HE --n-prompts 20 --n-predict 128 --temp $t \
            --label "HSD HumanEval T=$t" --json-out $R/hsd_humaneval_t$t.json --tsv-out $R/hsd_humaneval_t$t.tsv \
            | tee $R/hsd_humaneval_t$t.txt
        bench/plot_speculative.sh $R/hsd_humaneval_t$t.tsv $IMG/hsd_humaneval_t$t.png \
            "hsd-target, HumanEval (20 prompts x 128 tokens), T=$t: speedup over autoregressive"
        $B/bench_speculative --target target --prompts $SB --n-prompts 16 --stride 30 --n-predict 128 --temp $t \
            --label "HSD Spec-Bench T=$t" --json-out $R/hsd_specbench_t$t.json --tsv-out $R/hsd_specbench_t$t.tsv \
            | tee $R/hsd_specbench_t$t.txt
        bench/plot_speculative.sh $R/hsd_specbench_t$t.tsv $IMG/hsd_specbench_t$t.png \
            "hsd-target, Spec-Bench (16 prompts, all categories, x 128 tokens), T=$t: speedup over autoregressive"
    done
    ;;
hispec)
    # Issue 6: self-speculation at each exit, a HiSpec grid (exit-draft, exit-verify, N_d, N_i),
    # and mixed hierarchies, on hsd-target and hsd-ee-small.
    T_CFG="@2:4;@4:4;@8:4;@12:4;@4:2"
    for dv in "2 4" "2 8" "4 8" "4 12" "8 12"; do set -- $dv
        for nn in "2 4" "4 8"; do set -- $dv $nn; T_CFG+=";@$1:$3,@$2:$4"; done; done
    T_CFG+=";ngram3:3,@4:4,@12:8;m0:3,@8:6;ngram3:3,m1:4,@12:8"
    E_CFG="@1:4;@2:4;@4:4;@6:4;@4:2"
    for dv in "1 2" "1 4" "2 4" "2 6" "4 6"; do set -- $dv
        for nn in "2 4" "4 8"; do set -- $dv $nn; E_CFG+=";@$1:$3,@$2:$4"; done; done
    E_CFG+=";ngram3:3,@2:3,@6:6;ngram3:3,@4:4"
    for t in 0 1; do
        for set_name in humaneval specbench; do
            if [[ $set_name == humaneval ]]; then P="--prompts $HE --n-prompts 12"; else P="--prompts $SB --n-prompts 12 --stride 40"; fi
            $B/bench_speculative --target target $P --n-predict 128 --temp $t --configs "$T_CFG" \
                --label "HiSpec hsd-target $set_name T=$t" --json-out $R/hispec_target_${set_name}_t$t.json \
                --tsv-out $R/hispec_target_${set_name}_t$t.tsv | tee $R/hispec_target_${set_name}_t$t.txt
            bench/plot_speculative.sh $R/hispec_target_${set_name}_t$t.tsv $IMG/hispec_target_${set_name}_t$t.png \
                "hsd-target early exits, $set_name, T=$t: speedup over autoregressive"
            $B/bench_speculative --target ee-small $P --n-predict 128 --temp $t --configs "$E_CFG" \
                --label "HiSpec hsd-ee-small $set_name T=$t" --json-out $R/hispec_eesmall_${set_name}_t$t.json \
                --tsv-out $R/hispec_eesmall_${set_name}_t$t.tsv | tee $R/hispec_eesmall_${set_name}_t$t.txt
            bench/plot_speculative.sh $R/hispec_eesmall_${set_name}_t$t.tsv $IMG/hispec_eesmall_${set_name}_t$t.png \
                "hsd-ee-small early exits, $set_name, T=$t: speedup over autoregressive"
        done
    done
    ;;
planner)
    # Issue 5: profile on HumanEval prompts 0-7, predict and measure 16 hierarchies + the plan
    # on prompts 8-19 (held out), greedy and T=1.
    M=$S/models
    V_CFG="m0:3;m1:4;m2:3;ngram3:4;@4:3;m0:3,m1:6;m0:2,m1:4;m1:3,m2:6;m0:3,m2:6;ngram3:3,m1:4;ngram3:2,m0:3,m1:6;m0:3,m1:6,m2:12;@2:2,@4:4;@4:3,@8:6;m0:3,@8:6;ngram3:3,@4:4,@12:8"
    for t in 0 1; do
        build/hsd profile -m $M/hsd-target.gguf --drafts $M/hsd-m0.gguf,$M/hsd-m1.gguf,$M/hsd-m2.gguf --draft-ngram \
            --prompts $HE --n-prompts 8 --tokens 128 --temp $t --top-k 0 --top-p 1 --min-p 0 \
            -o $R/profile_humaneval_t$t.json | tee $R/profile_humaneval_t$t.txt
        build/hsd plan $R/profile_humaneval_t$t.json -o $R/plan_humaneval_t$t.json | tee $R/plan_humaneval_t$t.txt
        $B/bench_speculative --target target --prompts $HE --skip-prompts 8 --n-prompts 12 --n-predict 128 --temp $t \
            --configs "$V_CFG" --profile $R/profile_humaneval_t$t.json --add-plan \
            --label "planner validation T=$t" --json-out $R/planner_t$t.json \
            --tsv-out $R/planner_t$t.tsv | tee $R/planner_t$t.txt
    done
    bench/plot_planner.sh $IMG/planner_predicted_vs_measured.png \
        "hsd plan: predicted vs measured tokens/s, HumanEval 8-19 (profiled on 0-7)" \
        $R/planner_t0.tsv "greedy" $R/planner_t1.tsv "temperature 1"
    ;;
auto)
    # --hierarchy auto (planned inside the process, with the cost/acceptance cache) against a
    # static grid, whole-process tokens/s (load + planning + generation), 256 greedy tokens per
    # process, auto with a cold and with a warm cache (bench/bench_auto.py; drift prompts made by
    # bench/make_drift_prompts.py). hsd-target: 15 static configs + auto cold + auto warm per
    # prompt, ~17 s per prompt (~28 s for the 750-token Spec-Bench summarization/rag prompts):
    # HumanEval 8-17 (10 prompts) ~3 min, Spec-Bench 2 per category (26) ~7.5 min, drift (10)
    # ~3 min: ~14 minutes on 2 cores.
    python3 bench/make_drift_prompts.py
    python3 bench/bench_auto.py --set humaneval,specbench,drift --target $S/models/hsd-target.gguf --results $R
    # hsd-target-xl (FFN 12288, ~6-8x slower; built under $HSD_BENCH_DIR, default /tmp/hsd-bench,
    # if missing): 9 static configs, ~50 s per prompt: HumanEval 8-10, Spec-Bench coding,
    # math_reasoning, translation x 1, 4 drift prompts (2 of each kind): ~9 minutes.
    XL_CFG="ar;m1:4;m2:3;ngram3:4;@8:4;ngram3:3,m1:4;m0:3,m1:6;m1:3,m2:6;m0:3,m1:6,m2:12"
    python3 bench/bench_auto.py --set humaneval --target xl --configs "$XL_CFG" --prompts 8-10 --results $R
    python3 bench/bench_auto.py --set specbench --target xl --configs "$XL_CFG" --per-category 1 \
        --categories coding,math_reasoning,translation --results $R
    python3 bench/bench_auto.py --set drift --target xl --configs "$XL_CFG" --pick 0,1,8,9 --results $R
    D=$R/auto_drift_runs/hsd-target
    bench/plot_plan_history.sh $IMG/planner_plan_over_time.png \
        "hsd-target --hierarchy auto (warm cache), drift prompts: the plan over one generation" \
        $D/copy_then_new_HumanEval_8.json $D/new_then_copy_HumanEval_3.json
    ;;
*) echo "unknown benchmark '$w' (forward, quant, tokenizer, hsd, hispec, planner, auto)" >&2; exit 2 ;;
esac
done
