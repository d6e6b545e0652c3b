#!/usr/bin/env python3
"""Turns the "plan" of one `hsd generate --hierarchy auto --json` run (saved to a file) into
gnuplot-friendly TSV, for bench/plot_plan_history.sh.

  python3 bench/plan_history_tsv.py RUN.json PREFIX

writes
  PREFIX.accept.tsv  token, step, predicted_tokens_per_second, then one column per candidate
                     (its estimated acceptance by the target; empty where the entry has none):
                     one row per plan-history entry, plus a last row at the number of generated
                     tokens repeating the last entry (so step lines reach the end of the run)
  PREFIX.plan.tsv    start_token, end_token, hierarchy, predicted_tokens_per_second: one row per
                     segment of the generation during which one hierarchy was in force

and prints "N_TOKENS<TAB>N_SEGMENTS<TAB>CANDIDATES" (comma-separated, in column order). A plan without "history" (the older
--hierarchy auto) gives one segment, the final hierarchy from token 0 on, and no acceptance rows.
The plan object: {"hierarchy", "tokens_per_second" | "predicted_tokens_per_second", ..., "history":
[{"token", "step", "hierarchy", "predicted_tokens_per_second", "accept": {name: estimate}}, ...]}.
"""
import json
import sys


def candidate_order(names):
    """ngram first, then draft models by name, then early exits by layer."""
    def key(n):
        if n.startswith("ngram"):
            return (0, n)
        if n.startswith("@"):
            try:
                return (2, "%06d" % int(n[1:]))
            except ValueError:
                return (2, n)
        return (1, n)
    return sorted(names, key=key)


def tsv(x):
    return "" if x is None else ("%.6g" % x if isinstance(x, float) else str(x))


def convert(run, prefix):
    plan = run.get("plan")
    if not isinstance(plan, dict):
        raise ValueError("no \"plan\" object: not the JSON of an --hierarchy auto run")
    n_tokens = len(run.get("tokens") or []) or int((run.get("timings") or {}).get("predicted_n", 0))
    final_tps = plan.get("predicted_tokens_per_second", plan.get("tokens_per_second"))
    history = [h for h in (plan.get("history") or []) if isinstance(h, dict)]
    history.sort(key=lambda h: (int(h.get("token", 0)), int(h.get("step", 0))))
    if not history:
        history = [{"token": 0, "step": 0, "hierarchy": plan.get("hierarchy", "?"),
                    "predicted_tokens_per_second": final_tps, "accept": {}}]
    n_tokens = max(n_tokens, int(history[-1].get("token", 0)) + 1)
    names = set()
    for h in history:
        names.update((h.get("accept") or {}).keys())
    names = candidate_order(names)
    with open(prefix + ".accept.tsv", "w") as f:
        f.write("\t".join(["token", "step", "predicted_tokens_per_second"] + names) + "\n")
        rows = history + [dict(history[-1], token=n_tokens)]
        for h in rows:
            acc = h.get("accept") or {}
            f.write("\t".join([tsv(int(h.get("token", 0))), tsv(int(h.get("step", 0))),
                               tsv(h.get("predicted_tokens_per_second"))] +
                              [tsv(acc.get(n)) for n in names]) + "\n")
    # merge consecutive entries with the same hierarchy into one segment
    segs = []
    for h in history:
        t, hier = int(h.get("token", 0)), str(h.get("hierarchy", "?"))
        if segs and segs[-1][2] == hier:
            continue
        if segs:
            segs[-1][1] = t
        segs.append([t, n_tokens, hier, h.get("predicted_tokens_per_second")])
    with open(prefix + ".plan.tsv", "w") as f:
        f.write("start_token\tend_token\thierarchy\tpredicted_tokens_per_second\n")
        for s in segs:
            f.write("\t".join(tsv(x) for x in s) + "\n")
    return names, n_tokens, len(segs)


def main():
    if len(sys.argv) != 3:
        print("usage: %s RUN.json PREFIX" % sys.argv[0], file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            run = json.load(f)
        names, n, k = convert(run, sys.argv[2])
    except (OSError, ValueError) as e:
        print("error: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    print("%d\t%d\t%s" % (n, k, ",".join(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
