#!/usr/bin/env bash
# Horizontal bar chart of the speedup of each configuration from bench_speculative --tsv-out
# (header "config<TAB>speedup<TAB>tokens_per_second", autoregressive first), with a dashed
# line at 1.0 (= autoregressive decoding).
#
#   bench/plot_speculative.sh IN.tsv OUT.png ["title"]
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 IN.tsv OUT.png [\"title\"]" >&2
    exit 2
fi
in=$1
out=$2
title=${3:-"speculative decoding: speedup over autoregressive decoding"}

command -v gnuplot >/dev/null || { echo "error: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -r $in ]] || { echo "error: cannot read '$in'" >&2; exit 1; }
if [[ "$(head -n 1 "$in")" != $'config\tspeedup\ttokens_per_second'* ]]; then
    echo "error: '$in' does not start with the bench_speculative header 'config<TAB>speedup<TAB>tokens_per_second'" >&2
    exit 1
fi
n=$(($(wc -l <"$in") - 1))
((n >= 1)) || { echo "error: '$in' has no data rows" >&2; exit 1; }

# pngcairo (anti-aliased) when this gnuplot has it, else the libgd png terminal.
if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then
    term="pngcairo noenhanced font 'Sans,10'"
else
    term="png noenhanced font 'Sans,10'"
fi
height=$((120 + 24 * n))

# gnuplot string literals in single quotes: double any single quote.
q() { printf "%s" "${1//\'/\'\'}"; }

gnuplot <<EOF
set terminal $term size 900,$height
set output '$(q "$out")'
set datafile separator '\t'
set title '$(q "$title")'
set xlabel 'speedup over autoregressive decoding (generation tokens/s ratio)'
set style fill solid 0.8 border -1
set grid xtics
set key off
set xrange [0:*]
set offsets 0, graph 0.12, 0, 0
set yrange [$n - 0.4:-0.6]
set ytics nomirror
set tics scale 0.5
set style textbox opaque noborder margins 1,1
set arrow from 1, graph 0 to 1, graph 1 nohead front dt 2 lw 1.5 lc rgb '#cc0000'
plot '$(q "$in")' skip 1 using (0.5*\$2):0:(0.5*\$2):(0.38):ytic(1) with boxxyerror lc rgb '#4a7ab5', \
     '' skip 1 using 2:0:(sprintf('%.2fx', \$2)) with labels left offset char 0.7,0 boxed font 'Sans,9'
EOF
echo "wrote $out"
