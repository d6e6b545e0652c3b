#!/usr/bin/env python3
"""bench_auto: whole-process tokens/s of `hsd generate --hierarchy auto` against a grid of static
hierarchies (and autoregressive decoding), per prompt of a prompt set.

Every measurement is one process of

    build/hsd generate -m TARGET -p PROMPT -n 256 --temp 0 --ignore-eos --json [CONFIG]

timed with time.perf_counter() around subprocess.run, so it includes loading the models, the
planning of --hierarchy auto and the generation: tokens/s = generated tokens (len of the JSON's
"tokens") / process wall seconds. The in-process generation time (JSON timings.predicted_ms) is
recorded too ("gen tok/s"). Configurations:

  static     every hierarchy of --configs (the CLI's --hierarchy syntax; m0/m1/m2 name
             <shared>/models/hsd-m{0,1,2}.gguf; "ar" = autoregressive, no speculation)
  auto_cold  --hierarchy auto --drafts M0,M1,M2 with XDG_CACHE_HOME a fresh empty directory for
             that one process (nothing remembered: profiles the costs itself)
  auto_warm  the same with one XDG_CACHE_HOME for the whole set, primed before the set by one auto
             run on a prompt that is not in the set; later prompts also see what earlier ones
             left in the cache (the cache remembers costs and acceptance of earlier runs)

Per prompt all configurations run back to back (x --repeat, interleaved), so that machine drift
hits them alike; with --repeat R the run with the median wall time is kept. Static runs get an
empty XDG_CACHE_HOME of their own too (never the user's ~/.cache).

Sets (--set, comma-separated for several): humaneval (HumanEval --prompts range, default 8-17),
specbench (Spec-Bench, --per-category first-turn questions of each category, default 2), drift
(bench/prompts/drift.jsonl, made by bench/make_drift_prompts.py). Prompts longer than the context
minus -n are cut at the head (at a line or word boundary) to fit, as bench_speculative does.

Output per set: JSON (--json-out, default bench/results/auto_<set>_<targetstem>.json) and the
text table and summary (--txt-out, default the same name .txt; also printed). For the drift set the
full JSON printed by the auto_warm run of each prompt is saved under
bench/results/auto_drift_runs/<targetstem>/ (input of bench/plot_plan_history.sh).

  python3 bench/bench_auto.py --set drift --quick               # smoke run, ~1 minute
  python3 bench/bench_auto.py --set humaneval,specbench,drift   # hsd-target, see scripts/bench_all.sh
  python3 bench/bench_auto.py --set drift --target xl           # builds hsd-target-xl.gguf if missing

Exit status: 0; 1 if a process of the binary fails (its stderr is printed) or a file is missing;
2 for usage errors.
"""
import argparse
import gzip
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

# ~15 static configurations: autoregressive, each drafter alone, early exits of the target, and
# the 2- and 3-level hierarchies that won in bench_speculative / the planner validation.
DEFAULT_CONFIGS = ("ar;m0:3;m1:4;m2:3;ngram3:4;@4:3;@8:4;"
                   "ngram3:3,m1:4;ngram3:3,m0:4;m0:3,m1:6;m1:3,m2:6;ngram3:2,m0:3,m1:6;"
                   "m0:3,@8:6;ngram3:3,@4:4,@12:8;m0:3,m1:6,m2:12")
QUICK_CONFIGS = "ar;ngram3:4;m1:4;ngram3:3,m1:4"
AUTO_COLD, AUTO_WARM = "auto_cold", "auto_warm"


class BenchError(Exception):
    pass


# ---- prompt sets --------------------------------------------------------------------------------

def parse_range(text):
    """"8-19" / "8,9,12" / "3" / "0-3,10" -> sorted list of ints."""
    out = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise BenchError("--prompts: '%s' is not N or N-M" % part)
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise BenchError("--prompts: empty range '%s'" % part)
        out.update(range(a, b + 1))
    return sorted(out)


def read_jsonl(path):
    opener = gzip.open if path.endswith(".gz") else open
    if not os.path.exists(path):
        raise BenchError("missing prompt file %s" % path)
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_set(name, a):
    """-> (prompts [{"id", "text", ...}], primer prompt not in the set)."""
    prompts_dir = os.path.join(a.shared, "prompts")
    if name == "humaneval":
        he = read_jsonl(os.path.join(prompts_dir, "HumanEval.jsonl.gz"))
        idx = parse_range(a.prompts)
        if idx and idx[-1] >= len(he):
            raise BenchError("--prompts: HumanEval has %d problems (0-%d)" % (len(he), len(he) - 1))
        ps = [{"id": he[i]["task_id"], "text": he[i]["prompt"]} for i in idx]
        spare = next(i for i in range(len(he)) if i not in idx)
        return ps, {"id": he[spare]["task_id"], "text": he[spare]["prompt"]}
    if name == "specbench":
        rows = read_jsonl(os.path.join(prompts_dir, "spec_bench_question.jsonl"))
        cats = []
        for r in rows:
            if r["category"] not in cats:
                cats.append(r["category"])
        if a.categories:
            want = [c.strip() for c in a.categories.split(",") if c.strip()]
            bad = [c for c in want if c not in cats]
            if bad:
                raise BenchError("--categories: unknown %s (Spec-Bench has %s)" % (bad, ", ".join(cats)))
            cats = want
        ps, primer = [], None
        for c in cats:
            of_c = [r for r in rows if r["category"] == c]
            for r in of_c[:a.per_category]:
                ps.append({"id": "%s/%d" % (c, r["question_id"]), "text": r["turns"][0]})
            if primer is None and len(of_c) > a.per_category:
                r = of_c[a.per_category]
                primer = {"id": "%s/%d" % (c, r["question_id"]), "text": r["turns"][0]}
        return ps, primer
    if name == "drift":
        path = a.drift_file
        if not os.path.exists(path):
            raise BenchError("missing %s: run python3 bench/make_drift_prompts.py" % path)
        rows = read_jsonl(path)
        ps = [{"id": r["id"], "kind": r.get("kind", ""), "text": r["prompt"]} for r in rows]
        if a.quick:  # one prompt of each kind
            seen, q = set(), []
            for p in ps:
                if p["kind"] not in seen:
                    seen.add(p["kind"])
                    q.append(p)
            ps = q
        # primer: a HumanEval problem none of the drift prompts is built from
        he = read_jsonl(os.path.join(prompts_dir, "HumanEval.jsonl.gz"))
        used = {r.get("source") for r in rows}
        spare = next(p for p in he if p["task_id"] not in used)
        return ps, {"id": spare["task_id"], "text": spare["prompt"]}
    raise BenchError("--set: unknown set '%s' (humaneval, specbench, drift)" % name)


# ---- the binary ---------------------------------------------------------------------------------

def run_process(cmd, env, retries=3):
    """Runs cmd; -> (wall seconds, parsed JSON). Raises BenchError with the stderr on failure."""
    for attempt in range(retries + 1):
        try:
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            break
        except OSError as e:  # e.g. the binary is being relinked (ETXTBSY / missing for a moment)
            if attempt == retries:
                raise BenchError("cannot run %s: %s" % (cmd[0], e))
            print("warning: cannot run %s (%s); retrying in 30 s" % (cmd[0], e), file=sys.stderr)
            time.sleep(30)
    if r.returncode != 0:
        raise BenchError("the binary failed (exit %d): %s\n--- its stderr ---\n%s" %
                         (r.returncode, shell_join(cmd), r.stderr.strip()))
    try:
        return wall, json.loads(r.stdout)
    except ValueError as e:
        raise BenchError("the binary printed no JSON (%s): %s\n--- stdout ---\n%s\n--- stderr ---\n%s" %
                         (e, shell_join(cmd), r.stdout[:2000], r.stderr.strip()))


def shell_join(cmd, limit=160):
    out = []
    for c in cmd:
        q = shlex.quote(c)
        out.append(q if len(q) <= limit else shlex.quote(c[:limit - 20] + "...") + "[%d chars]" % len(c))
    return " ".join(out)


def count_tokens(hsd, target, text, scratch):
    path = os.path.join(scratch, "prompt.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([hsd, "tokenize", "-m", target, "--only-ids", "-f", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("hsd tokenize failed (exit %d):\n%s" % (r.returncode, r.stderr.strip()))
    return len(r.stdout.split())


def fit_prompt(hsd, target, text, max_tokens, scratch):
    """Cuts the head of text (at a line or word boundary) until it has <= max_tokens tokens."""
    n = count_tokens(hsd, target, text, scratch)
    if n <= max_tokens:
        return text, n, False
    lo, hi = 0, len(text)  # keep text[start:]; find the smallest start that fits
    while hi - lo > 16:
        mid = (lo + hi) // 2
        if count_tokens(hsd, target, text[mid:], scratch) <= max_tokens:
            hi = mid
        else:
            lo = mid
    start = hi
    nl = text.find("\n", start)
    sp = text.find(" ", start)
    for b in (nl, sp):
        if 0 <= b < start + 200:
            start = b + 1
            break
    cut = text[start:]
    return cut, count_tokens(hsd, target, cut, scratch), True


def resolve_levels(config, shared):
    """CLI --hierarchy text with m0/m1/m2 (any name without '/' not ending in .gguf) expanded."""
    items = []
    for item in config.split(","):
        item = item.strip()
        name, sep, thr = item.rpartition(":")
        if not sep or not name:
            raise BenchError("--configs: '%s' of '%s' is not LEVEL:THRESHOLD" % (item, config))
        if not (name.startswith("@") or (name.startswith("ngram") and "." not in name)
                or "/" in name or name.endswith(".gguf")):
            name = os.path.join(shared, "models", "hsd-%s.gguf" % name)
            if not os.path.exists(name):
                raise BenchError("--configs: model %s (of '%s') not found" % (name, config))
        items.append("%s:%s" % (name, thr))
    return ",".join(items)


def is_single_drafter(config):
    return config != "ar" and "," not in config


# ---- measurement --------------------------------------------------------------------------------

def record(wall, j, keep_plan):
    toks = len(j.get("tokens", []))
    t = j.get("timings", {})
    gen_ms = float(t.get("predicted_ms", 0.0))
    rec = {
        "wall_seconds": wall,
        "tokens": toks,
        "tokens_per_second": toks / wall if wall > 0 else 0.0,
        "generation_seconds": gen_ms / 1000.0,
        "generation_tokens_per_second": 1000.0 * toks / gen_ms if gen_ms > 0 else 0.0,
        "prompt_ms": float(t.get("prompt_ms", 0.0)),
        "hierarchy": (j.get("speculative") or {}).get("hierarchy", ""),
        "stop_reason": j.get("stop_reason", ""),
    }
    if keep_plan:
        rec["plan"] = j.get("plan")
    return rec


def median_index(runs):
    """Index of the run with the median wall time (the lower median for an even count)."""
    order = sorted(range(len(runs)), key=lambda i: runs[i]["wall_seconds"])
    return order[(len(order) - 1) // 2]


def sanitize(s):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)


def bench_set(set_name, a, target, stem, hsd, configs):
    prompts, primer = load_set(set_name, a)
    if a.pick:
        idx = parse_range(a.pick)
        if idx and idx[-1] >= len(prompts):
            raise BenchError("--pick: set %s has %d prompts (0-%d)" % (set_name, len(prompts), len(prompts) - 1))
        prompts = [prompts[i] for i in idx]
    if a.limit:
        prompts = prompts[:a.limit]
    if not prompts:
        raise BenchError("set %s: no prompts" % set_name)
    models = [os.path.join(a.shared, "models", "hsd-m%d.gguf" % i) for i in range(3)]
    for m in [target] + models:
        if not os.path.exists(m):
            raise BenchError("missing model %s" % m)
    drafts = ",".join(models)
    base = [hsd, "generate", "-m", target, "-n", str(a.n), "--temp", "0", "--ignore-eos", "--json"]
    if a.threads:
        base += ["-t", str(a.threads)]
    statics = [(c, [] if c == "ar" else ["--hierarchy", resolve_levels(c, a.shared)]) for c in configs]
    auto_args = ["--hierarchy", "auto", "--drafts", drafts]
    scratch = tempfile.mkdtemp(prefix="hsd-bench-auto-")
    runs_dir = None
    if set_name == "drift":
        runs_dir = os.path.join(a.runs_dir, stem)
        os.makedirs(runs_dir, exist_ok=True)
    try:
        static_cache = os.path.join(scratch, "static-cache")
        warm_cache = os.path.join(scratch, "warm-cache")
        os.makedirs(static_cache)
        os.makedirs(warm_cache)
        env_of = lambda cache: dict(os.environ, XDG_CACHE_HOME=cache)
        max_prompt = a.ctx - a.n - a.margin

        def prompt_args(text):
            return ["--prompt=" + text] if text.startswith("-") else ["-p", text]

        # primer of the warm cache
        primer_rec = None
        if primer is not None:
            ptext, _, _ = fit_prompt(hsd, target, primer["text"], max_prompt, scratch)
            wall, j = run_process(base + prompt_args(ptext) + auto_args, env_of(warm_cache))
            primer_rec = dict(record(wall, j, True), id=primer["id"])
            print("[%s] primed the warm cache on %s: %.2f s, plan %s" %
                  (set_name, primer["id"], wall, (j.get("plan") or {}).get("hierarchy", "?")), flush=True)
        else:
            print("[%s] warning: no spare prompt to prime the warm cache with" % set_name, file=sys.stderr)

        names = [c for c, _ in statics] + [AUTO_COLD, AUTO_WARM]
        per_prompt = []
        t_set = time.perf_counter()
        for pi, p in enumerate(prompts):
            text, ntok, was_cut = fit_prompt(hsd, target, p["text"], max_prompt, scratch)
            runs = {n: [] for n in names}
            warm_json = []
            for rep in range(a.repeat):
                for name, args in statics:
                    wall, j = run_process(base + prompt_args(text) + args, env_of(static_cache))
                    runs[name].append(record(wall, j, False))
                    runs[name][-1]["_tokens"] = j.get("tokens", [])
                cold = tempfile.mkdtemp(prefix="cold-", dir=scratch)
                wall, j = run_process(base + prompt_args(text) + auto_args, env_of(cold))
                shutil.rmtree(cold, ignore_errors=True)
                runs[AUTO_COLD].append(record(wall, j, True))
                runs[AUTO_COLD][-1]["_tokens"] = j.get("tokens", [])
                wall, j = run_process(base + prompt_args(text) + auto_args, env_of(warm_cache))
                runs[AUTO_WARM].append(record(wall, j, True))
                runs[AUTO_WARM][-1]["_tokens"] = j.get("tokens", [])
                warm_json.append(j)
            results = {}
            ref = runs[names[0]][0]["_tokens"]
            mismatches = []
            warm_pick = 0
            for n in names:
                k = median_index(runs[n])
                m = dict(runs[n][k])
                if n == AUTO_WARM:
                    warm_pick = k
                if a.repeat > 1:
                    m["wall_seconds_all"] = [r["wall_seconds"] for r in runs[n]]
                if m.pop("_tokens") != ref:
                    mismatches.append(n)
                results[n] = m
            if runs_dir is not None:
                j = warm_json[warm_pick]
                with open(os.path.join(runs_dir, sanitize(p["id"]) + ".json"), "w") as f:
                    json.dump(j, f)
                    f.write("\n")
            entry = {"id": p["id"], "prompt_tokens": ntok, "prompt_cut": was_cut, "results": results}
            if p.get("kind"):
                entry["kind"] = p["kind"]
            if mismatches:
                entry["output_differs_from"] = names[0]
                entry["differing_configs"] = mismatches
            per_prompt.append(entry)
            best = max((c for c, _ in statics), key=lambda c: results[c]["tokens_per_second"])
            print("[%s] %d/%d %-32s best static %-22s %6.1f tok/s | auto_cold %6.1f | auto_warm %6.1f  (%.0f s)" %
                  (set_name, pi + 1, len(prompts), p["id"], best, results[best]["tokens_per_second"],
                   results[AUTO_COLD]["tokens_per_second"], results[AUTO_WARM]["tokens_per_second"],
                   time.perf_counter() - t_set), flush=True)
        cache_files = []
        for dp, _, fs in os.walk(warm_cache):
            for f in fs:
                path = os.path.join(dp, f)
                cache_files.append({"path": os.path.relpath(path, warm_cache), "bytes": os.path.getsize(path)})
    finally:
        if not a.keep_cache:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print("kept the caches under %s" % scratch)
    return {
        "set": set_name,
        "target": target,
        "n_predict": a.n,
        "repeat": a.repeat,
        "configs": [c for c, _ in statics],
        "config_hierarchies": {c: (" ".join(args[1:]) if args else "") for c, args in statics},
        "auto_args": " ".join(auto_args),
        "primer": primer_rec,
        "prompts": per_prompt,
        "warm_cache_files": sorted(cache_files, key=lambda x: x["path"]),
        "seconds": time.perf_counter() - t_set,
        "summary": summarize(per_prompt, [c for c, _ in statics], set_name),
    }


# ---- summary ------------------------------------------------------------------------------------

def summarize(per_prompt, statics, set_name):
    names = statics + [AUTO_COLD, AUTO_WARM]
    tot = {}
    for n in names:
        toks = sum(p["results"][n]["tokens"] for p in per_prompt)
        wall = sum(p["results"][n]["wall_seconds"] for p in per_prompt)
        gen = sum(p["results"][n]["generation_seconds"] for p in per_prompt)
        wins = sum(1 for p in per_prompt
                   if max(statics, key=lambda c: p["results"][c]["tokens_per_second"]) == n)
        tot[n] = {"tokens": toks, "wall_seconds": wall, "generation_seconds": gen,
                  "tokens_per_second": toks / wall if wall > 0 else 0.0,
                  "generation_tokens_per_second": toks / gen if gen > 0 else 0.0,
                  "best_static_on_prompts": wins}
    tps = lambda n: tot[n]["tokens_per_second"]
    gtps = lambda n: tot[n]["generation_tokens_per_second"]
    best_static = max(statics, key=tps)
    singles = [c for c in statics if is_single_drafter(c)] or statics
    best_single = max(singles, key=tps)
    best_static_gen = max(statics, key=gtps)
    # per-prompt oracle: the best static configuration of each prompt (whole process)
    o_toks = sum(p["results"][statics[0]]["tokens"] for p in per_prompt)
    o_wall = sum(min(p["results"][c]["wall_seconds"] for c in statics) for p in per_prompt)
    o_gen = sum(min(p["results"][c]["generation_seconds"] for c in statics) for p in per_prompt)
    oracle = o_toks / o_wall if o_wall > 0 else 0.0
    oracle_gen = o_toks / o_gen if o_gen > 0 else 0.0
    s = {
        "totals": tot,
        "best_static": best_static,
        "best_static_tokens_per_second": tps(best_static),
        "best_single_drafter": best_single,
        "best_single_drafter_tokens_per_second": tps(best_single),
        "oracle_tokens_per_second": oracle,
        "auto_warm_over_best_static": tps(AUTO_WARM) / tps(best_static),
        "auto_cold_over_best_static": tps(AUTO_COLD) / tps(best_static),
        "auto_cold_over_best_single_drafter": tps(AUTO_COLD) / tps(best_single),
        "auto_warm_over_oracle": tps(AUTO_WARM) / oracle if oracle else 0.0,
        "auto_cold_over_oracle": tps(AUTO_COLD) / oracle if oracle else 0.0,
        "generation": {
            "best_static": best_static_gen,
            "best_static_tokens_per_second": gtps(best_static_gen),
            "oracle_tokens_per_second": oracle_gen,
            "auto_warm_over_best_static": gtps(AUTO_WARM) / gtps(best_static_gen),
            "auto_cold_over_best_static": gtps(AUTO_COLD) / gtps(best_static_gen),
        },
        "auto_beats_every_static": {
            AUTO_WARM: all(tps(AUTO_WARM) > tps(c) for c in statics),
            AUTO_COLD: all(tps(AUTO_COLD) > tps(c) for c in statics),
        },
        "prompts_where_auto_beats_every_static": {
            n: sum(1 for p in per_prompt
                   if all(p["results"][n]["tokens_per_second"] > p["results"][c]["tokens_per_second"]
                          for c in statics))
            for n in (AUTO_COLD, AUTO_WARM)
        },
    }
    for n in (AUTO_COLD, AUTO_WARM):
        plans = [p["results"][n].get("plan") or {} for p in per_prompt]
        s[n] = {
            "mean_profile_seconds": statistics.mean([float(pl.get("profile_seconds", 0.0)) for pl in plans]),
            "cost_cache": {k: sum(1 for pl in plans if pl.get("cost_cache") == k)
                           for k in sorted({str(pl.get("cost_cache")) for pl in plans if "cost_cache" in pl})},
            "mean_plan_switches": statistics.mean([max(0, len(pl.get("history") or []) - 1) for pl in plans]),
            "has_history": sum(1 for pl in plans if pl.get("history")),
        }
    s["greedy_output_mismatch_prompts"] = sum(1 for p in per_prompt if p.get("differing_configs"))
    return s


def text_report(res, target_stem, threads):
    s = res["summary"]
    tot = s["totals"]
    statics = res["configs"]
    names = statics + [AUTO_COLD, AUTO_WARM]
    ar = tot["ar"]["tokens_per_second"] if "ar" in tot else 0.0
    lines = []
    P = lines.append
    P("bench_auto: set %s, target %s, %d prompts x %d tokens, greedy, repeat %d, %s threads" %
      (res["set"], target_stem, len(res["prompts"]), res["n_predict"], res["repeat"], threads or "all"))
    P("tokens/s = total tokens / total process wall seconds (load + planning + generation); "
      "gen tok/s = in-process generation only")
    P("")
    P("%-28s %11s %9s %7s %9s %7s %7s" % ("config", "tok/s proc", "gen tok/s", "vs ar", "wall s", "tokens", "best on"))
    for n in names:
        t = tot[n]
        tag = ""
        if n == s["best_static"]:
            tag = "  <- best static"
        elif n == s["best_single_drafter"]:
            tag = "  <- best single drafter"
        P("%-28s %11.1f %9.1f %7.2f %9.2f %7d %7s%s" %
          (n, t["tokens_per_second"], t["generation_tokens_per_second"],
           t["tokens_per_second"] / ar if ar else 0.0, t["wall_seconds"], t["tokens"],
           t["best_static_on_prompts"] if n in statics else "-", tag))
    P("")
    P("per prompt (tok/s, whole process):")
    P("%-32s %6s  %-24s %7s  %7s %7s  %s" % ("prompt", "ptoks", "best static", "tok/s", "cold", "warm",
                                               "auto_warm plan (final; switches)"))
    for p in res["prompts"]:
        r = p["results"]
        best = max(statics, key=lambda c: r[c]["tokens_per_second"])
        plan = r[AUTO_WARM].get("plan") or {}
        hist = plan.get("history") or []
        P("%-32s %6d%s %-24s %7.1f  %7.1f %7.1f  %s; %s" %
          (p["id"][:32], p["prompt_tokens"], "*" if p["prompt_cut"] else " ", best,
           r[best]["tokens_per_second"], r[AUTO_COLD]["tokens_per_second"], r[AUTO_WARM]["tokens_per_second"],
           plan.get("hierarchy", "?"), ("%d" % (len(hist) - 1)) if hist else "no history"))
    if any(p["prompt_cut"] for p in res["prompts"]):
        P("(* prompt cut at the head to fit the context)")
    P("")
    if res["set"] == "specbench":
        # Per category: totals over its prompts; the best static config of the category in hindsight.
        cats = {}
        for p in res["prompts"]:
            cats.setdefault(p["id"].split("/")[0], []).append(p["results"])
        def rate(rs, c, key="tokens_per_second"):
            tok = sum(r[c]["tokens"] for r in rs)
            sec = sum(r[c]["wall_seconds" if key == "tokens_per_second" else "generation_seconds"] for r in rs)
            return tok / sec if sec > 0 else 0.0
        P("per category (tok/s, whole process; best static of the category in hindsight):")
        P("%-16s %-24s %7s %7s %7s %10s %10s %10s" % ("category", "best static", "tok/s", "warm", "cold",
                                                       "warm/best", "cold/best", "gen warm/best"))
        for cat, rs in cats.items():
            best = max(statics, key=lambda c: rate(rs, c))
            gbest = max(statics, key=lambda c: rate(rs, c, "gen"))
            b, w, c = rate(rs, best), rate(rs, AUTO_WARM), rate(rs, AUTO_COLD)
            P("%-16s %-24s %7.1f %7.1f %7.1f %10.3f %10.3f %10.3f" %
              (cat, best, b, w, c, w / b if b else 0, c / b if b else 0,
               rate(rs, AUTO_WARM, "gen") / rate(rs, gbest, "gen") if rate(rs, gbest, "gen") else 0))
        P("")
    P("summary (%s):" % res["set"])
    P("  best static in hindsight:        %-24s %7.1f tok/s" % (s["best_static"], s["best_static_tokens_per_second"]))
    P("  best single drafter:             %-24s %7.1f tok/s" %
      (s["best_single_drafter"], s["best_single_drafter_tokens_per_second"]))
    P("  per-prompt oracle (best static per prompt):   %7.1f tok/s" % s["oracle_tokens_per_second"])
    P("  auto_warm:                                    %7.1f tok/s" % tot[AUTO_WARM]["tokens_per_second"])
    P("  auto_cold:                                    %7.1f tok/s" % tot[AUTO_COLD]["tokens_per_second"])
    P("  auto_warm / best_static          = %.3f" % s["auto_warm_over_best_static"])
    P("  auto_cold / best_static          = %.3f" % s["auto_cold_over_best_static"])
    P("  auto_cold / best_single_drafter  = %.3f" % s["auto_cold_over_best_single_drafter"])
    P("  auto_warm / oracle = %.3f, auto_cold / oracle = %.3f" % (s["auto_warm_over_oracle"], s["auto_cold_over_oracle"]))
    g = s["generation"]
    P("  generation only: best static %s %.1f tok/s; auto_warm / best = %.3f, auto_cold / best = %.3f" %
      (g["best_static"], g["best_static_tokens_per_second"], g["auto_warm_over_best_static"],
       g["auto_cold_over_best_static"]))
    for n in (AUTO_COLD, AUTO_WARM):
        a = s[n]
        cc = ", ".join("%s %d" % kv for kv in a["cost_cache"].items()) or "not reported"
        P("  %s: mean planning %.2f s, cost cache: %s, plan history on %d/%d prompts, mean switches %.1f" %
          (n, a["mean_profile_seconds"], cc, a["has_history"], len(res["prompts"]), a["mean_plan_switches"]))
    if res["set"] == "drift":
        for n in (AUTO_WARM, AUTO_COLD):
            beats = s["auto_beats_every_static"][n]
            best_other = s["best_static"]
            P("  drift: %s beats every static config: %s (%.1f vs best static %s %.1f tok/s); "
              "beats every static on %d/%d prompts" %
              (n, "YES" if beats else "no", tot[n]["tokens_per_second"], best_other,
               s["best_static_tokens_per_second"], s["prompts_where_auto_beats_every_static"][n],
               len(res["prompts"])))
    if s["greedy_output_mismatch_prompts"]:
        P("  note: on %d prompts some configuration's greedy output differs from %s's (see the JSON)" %
          (s["greedy_output_mismatch_prompts"], statics[0]))
    P("  set wall time %.0f s" % res["seconds"])
    return "\n".join(lines) + "\n"


# ---- targets ------------------------------------------------------------------------------------

def resolve_target(t, a):
    if t in ("target", "hsd-target"):
        return os.path.join(a.shared, "models", "hsd-target.gguf")
    if t in ("xl", "target-xl", "hsd-target-xl"):
        path = os.path.join(a.bench_dir, "hsd-target-xl.gguf")
        if not os.path.exists(path):
            tool = next((p for p in (os.path.join(ROOT, "build", "bench", "make_bench_model"),
                                     os.path.join(ROOT, "build", "make_bench_model")) if os.path.exists(p)), None)
            if tool is None:
                raise BenchError("%s is missing and build/bench/make_bench_model is not built" % path)
            os.makedirs(a.bench_dir, exist_ok=True)
            src = os.path.join(a.shared, "models", "hsd-target.gguf")
            cmd = [tool, "--widen-ffn-of", src, "--ffn", "12288", "--out", path + ".tmp"]
            print("building %s: %s" % (path, shell_join(cmd)), flush=True)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError("make_bench_model failed (exit %d):\n%s" % (r.returncode, r.stderr.strip()))
            os.replace(path + ".tmp", path)
        return path
    if not os.path.exists(t):
        raise BenchError("--target: %s not found (a path, 'target' or 'xl')" % t)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__[__doc__.index("\n\n") + 2:],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="humaneval", help="humaneval, specbench, drift (comma-separated)")
    ap.add_argument("--target", default=None, help="GGUF path, 'target' (default) or 'xl' (hsd-target-xl)")
    ap.add_argument("--configs", default=None, help="';'-separated static hierarchies (default: %s)" % DEFAULT_CONFIGS)
    ap.add_argument("--prompts", default=None, help="humaneval: problem numbers, e.g. 8-17 (default) or 8,9,12")
    ap.add_argument("--per-category", type=int, default=None, help="specbench: questions per category (default 2)")
    ap.add_argument("--categories", default=None, help="specbench: only these categories (comma-separated)")
    ap.add_argument("--pick", default=None, help="only these prompts of each set, by 0-based position, e.g. 0,1,8-9")
    ap.add_argument("--limit", type=int, default=0, help="at most this many prompts per set (0 = all)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: configs %s, humaneval 8-9, specbench 1 per category of coding,translation, "
                         "drift 1 prompt per kind" % QUICK_CONFIGS)
    ap.add_argument("--repeat", type=int, default=1, help="processes per configuration and prompt (median kept)")
    ap.add_argument("-n", type=int, default=256, help="tokens generated per process (default 256)")
    ap.add_argument("--threads", type=int, default=0, help="-t for hsd (0 = its default, all cores)")
    ap.add_argument("--ctx", type=int, default=1024, help="context of the target (prompts are cut to ctx - n - margin)")
    ap.add_argument("--margin", type=int, default=16, help="tokens kept free at the end of the context")
    ap.add_argument("--hsd", default=os.path.join(ROOT, "build", "hsd"))
    ap.add_argument("--shared", default=SHARED)
    ap.add_argument("--drift-file", default=os.path.join(ROOT, "bench", "prompts", "drift.jsonl"))
    ap.add_argument("--bench-dir", default=os.environ.get("HSD_BENCH_DIR", "/tmp/hsd-bench"),
                    help="where --target xl is built (default $HSD_BENCH_DIR or /tmp/hsd-bench)")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--runs-dir", default=None, help="drift: auto_warm JSONs (default RESULTS/auto_drift_runs)")
    ap.add_argument("--json-out", default=None, help="default RESULTS/auto_<set>_<targetstem>.json")
    ap.add_argument("--txt-out", default=None, help="default RESULTS/auto_<set>_<targetstem>.txt")
    ap.add_argument("--keep-cache", action="store_true", help="keep the XDG_CACHE_HOME directories")
    a = ap.parse_args()
    try:
        if a.repeat < 1 or a.n < 1 or a.limit < 0:
            ap.error("--repeat and -n must be >= 1, --limit >= 0")
        sets = [s.strip() for s in a.set.split(",") if s.strip()]
        if len(sets) > 1 and (a.json_out or a.txt_out):
            ap.error("--json-out / --txt-out need a single --set")
        a.configs = a.configs or (QUICK_CONFIGS if a.quick else DEFAULT_CONFIGS)
        a.prompts = a.prompts or ("8-9" if a.quick else "8-17")
        a.per_category = a.per_category if a.per_category is not None else (1 if a.quick else 2)
        if a.quick and a.categories is None:
            a.categories = "coding,translation"
        a.runs_dir = a.runs_dir or os.path.join(a.results, "auto_drift_runs")
        if not os.access(a.hsd, os.X_OK):
            raise BenchError("%s is not an executable (build it: cmake --build build)" % a.hsd)
        target = resolve_target(a.target or "target", a)
        stem = os.path.basename(target)
        stem = stem[:-5] if stem.endswith(".gguf") else stem
        configs = [c.strip() for c in a.configs.split(";") if c.strip()]
        if not configs:
            ap.error("--configs: empty")
        if "ar" in configs:  # autoregressive first: the reference output of the greedy check
            configs.remove("ar")
            configs.insert(0, "ar")
        for c in configs:
            if c != "ar":
                resolve_levels(c, a.shared)
        os.makedirs(a.results, exist_ok=True)
        for set_name in sets:
            res = bench_set(set_name, a, target, stem, a.hsd, configs)
            res["command_line"] = shell_join([sys.executable] + sys.argv)
            res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
            txt = text_report(res, stem, a.threads)
            jpath = a.json_out or os.path.join(a.results, "auto_%s_%s.json" % (set_name, stem))
            tpath = a.txt_out or os.path.join(a.results, "auto_%s_%s.txt" % (set_name, stem))
            with open(jpath, "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
            with open(tpath, "w") as f:
                f.write(txt)
            print()
            print(txt, end="")
            print("wrote %s, %s" % (jpath, tpath), flush=True)
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
