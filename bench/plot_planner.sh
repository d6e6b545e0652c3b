#!/usr/bin/env bash
# Predicted vs measured tokens/s of each configuration (bench_speculative --profile ...
# --tsv-out: columns config, speedup, tokens_per_second, predicted_tokens_per_second), one
# TSV per series, with the y = x line and +-15% bands.
#
#   bench/plot_planner.sh OUT.png "title" A.tsv "label A" [B.tsv "label B" ...]
set -euo pipefail
if [[ $# -lt 4 || $(( ($# - 2) % 2 )) -ne 0 ]]; then
    echo "usage: $0 OUT.png \"title\" A.tsv \"label A\" [B.tsv \"label B\" ...]" >&2
    exit 2
fi
out=$1
title=$2
shift 2
command -v gnuplot >/dev/null || { echo "error: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
term="png noenhanced font 'Sans,10'"
gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term="pngcairo noenhanced font 'Sans,10'"
plots="x title 'predicted = measured' lc rgb '#444444' dt 2, 1.15*x notitle lc rgb '#bbbbbb' dt 3, 0.85*x title '+-15%' lc rgb '#bbbbbb' dt 3"
max=0
pts=("7" "5" "9" "11")
i=0
while [[ $# -gt 0 ]]; do
    f=$1
    label=$2
    shift 2
    [[ -r $f ]] || { echo "error: cannot read '$f'" >&2; exit 1; }
    m=$(awk -F'\t' 'NR > 1 && $4 > 0 { if ($3 > m) m = $3; if ($4 > m) m = $4 } END { print m + 0 }' "$f")
    max=$(awk -v a="$max" -v b="$m" 'BEGIN { print (a > b ? a : b) }')
    plots+=", '$f' using 3:(\$4 > 0 ? \$4 : 1/0) every ::1 with points pt ${pts[$((i % 4))]} ps 1.3 title '$label'"
    i=$((i + 1))
done
lim=$(awk -v m="$max" 'BEGIN { print int(m * 1.1 / 100 + 1) * 100 }')
gnuplot <<GP
set terminal $term size 700,600
set output '$out'
set title '$title'
set xlabel 'measured tokens/s'
set ylabel 'predicted tokens/s'
set xrange [0:$lim]
set yrange [0:$lim]
set key top left
set grid
set datafile separator '\t'
plot $plots
GP
echo "wrote $out"
