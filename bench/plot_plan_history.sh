#!/usr/bin/env bash
# The plan of `hsd generate --hierarchy auto` over one generation: x = generated token, one step
# line per candidate drafter with the planner's current estimate of its acceptance by the target,
# the predicted tokens/s of the plan in force (right axis), and the active hierarchy as labelled
# dashed vertical lines at the switch points. Input: the JSON printed by
# `hsd generate ... --hierarchy auto --json`, saved to a file (bench/bench_auto.py --set drift keeps
# them under bench/results/auto_drift_runs/<target>/); one panel per file. A plan without
# "history" (the older --hierarchy auto) gives its final hierarchy and no acceptance lines.
#
#   bench/plot_plan_history.sh OUT.png "title" RUN.json [RUN2.json ...]
set -euo pipefail
if [[ $# -lt 3 ]]; then
    echo "usage: $0 OUT.png \"title\" RUN.json [RUN2.json ...]" >&2
    exit 2
fi
out=$1
title=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
command -v gnuplot >/dev/null || { echo "error: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
term="png noenhanced font 'Sans,10'"
gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term="pngcairo noenhanced font 'Sans,10'"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# gnuplot single-quoted string: ' doubled
q() { printf "%s" "$1" | sed "s/'/''/g"; }

n=$#
gp=$tmp/plot.gp
{
    echo "set terminal $term size 1000,$((120 + 330 * n))"
    echo "set output '$(q "$out")'"
    echo "set datafile separator '\t'"
    echo "set datafile missing ''"
    echo "set multiplot layout $n,1 title '$(q "$title")'"
    echo "set key outside bottom center horizontal samplen 2"
    echo "set grid"
    echo "set ylabel 'estimated acceptance'"
    echo "set y2label 'predicted tokens/s'"
    echo "set ytics nomirror"
    echo "set y2tics"
    echo "set yrange [0:1.05]"
    echo "set xlabel 'generated token'"
} > "$gp"
i=0
for f in "$@"; do
    [[ -r $f ]] || { echo "error: cannot read '$f'" >&2; exit 1; }
    p=$tmp/run$i
    info=$(python3 "$here/plan_history_tsv.py" "$f" "$p")
    IFS=$'\t' read -r ntok nseg names <<< "$info"
    ncand=$(awk -F, '{ print ($0 == "" ? 0 : NF) }' <<< "$names")
    y2max=$(awk -F'\t' 'NR > 1 && $3 != "" && $3 > m { m = $3 } END { print (m > 0 ? int(m * 1.15 / 100 + 1) * 100 : 100) }' "$p.accept.tsv")
    {
        echo "unset arrow"
        echo "unset label"
        echo "set title '$(q "$(basename "$f" .json)") ($nseg plan segment(s))'"
        echo "set xrange [0:$ntok]"
        echo "set y2range [0:$y2max]"
        # switch points: dashed line + the hierarchy that starts there, hanging from the top
        awk -F'\t' -v q="'" 'NR > 1 {
            if ($1 > 0) printf "set arrow from %s, graph 0 to %s, graph 1 nohead lc rgb %s#777777%s dt 2 lw 1.2\n", $1, $1, q, q
            gsub(q, q q, $3)
            printf "set label %s%s%s at %s, graph 0.98 rotate by 90 right offset 0.9,0 font %s,8%s tc rgb %s#333333%s\n", q, $3, q, $1, q, q, q, q
        }' "$p.plan.tsv"
        plot="'$p.accept.tsv' using 1:3 axes x1y2 with steps lc rgb '#000000' dt 3 lw 1.5 title 'predicted tokens/s (right)'"
        if [[ $ncand -gt 0 ]]; then
            plot="'$p.accept.tsv' using 1:4 with steps lw 2 title columnheader(4)"
            for ((c = 5; c < 4 + ncand; c++)); do plot+=", '' using 1:$c with steps lw 2 title columnheader($c)"; done
            plot+=", '$p.accept.tsv' using 1:3 axes x1y2 with steps lc rgb '#000000' dt 3 lw 1.5 title 'predicted tokens/s (right)'"
        fi
        echo "plot $plot"
    } >> "$gp"
    i=$((i + 1))
done
echo "unset multiplot" >> "$gp"
gnuplot "$gp"
echo "wrote $out"
