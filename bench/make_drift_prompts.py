#!/usr/bin/env python3
"""Builds the "drift" prompt set for bench/bench_auto.py: prompts whose greedy continuation by
hsd-target changes character within one generation of 256 tokens, so that the best speculative
hierarchy at the start of the generation is not the best one at its end.

Kinds (all from HumanEval, since the hsd models know only Python source code):

  copy_then_new   a HumanEval problem (prompt + canonical solution + a doctest main block), a
                  comment, then the same function's `def` line again. The model first copies the
                  docstring, the solution and the main block (the prompt-lookup n-gram drafter
                  accepts nearly everything there), then ends the file (EOS; the bench runs with
                  --ignore-eos) and starts a new one: licence header, module docstring, imports,
                  new code, none of which is in the context (a small model drafter is better).
  new_then_copy   a plain HumanEval prompt whose greedy continuation is new code for ~70-100
                  tokens and then falls into a loop that repeats its own output (the reverse drift:
                  model drafter first, n-gram drafter later).

The task ids were chosen by --scan (the copyable fraction of the greedy continuation per 32-token
window, see below) and confirmed by --check (acceptance and tokens per target step of ngram3:4 and
of hsd-m1 --draft-max 4 on the first and the second half of the generation). Output is
deterministic: bench/prompts/drift.jsonl, one {"id", "kind", "source", "prompt"} object a line.

  python3 bench/make_drift_prompts.py                 # write bench/prompts/drift.jsonl
  python3 bench/make_drift_prompts.py --check         # + evidence of the drift (~1 min)
  python3 bench/make_drift_prompts.py --scan KIND     # score every HumanEval task (~3.5 min)
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

# HumanEval task numbers per kind (found by --scan, kept by --check).
CHOSEN = {
    "copy_then_new": [7, 8, 13, 21, 42, 58, 79, 131],
    "new_then_copy": [3, 24],
}

MAIN_BLOCK = '\n\nif __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n'


def load_humaneval(shared):
    with gzip.open(os.path.join(shared, "prompts", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def def_line(problem):
    """The last top-level `def` line of the problem's prompt (the function to implement)."""
    lines = problem["prompt"].split("\n")
    k = max(i for i, l in enumerate(lines) if l.startswith("def "))
    return lines[k] + "\n"


def build(kind, problem):
    if kind == "copy_then_new":
        return (problem["prompt"] + problem["canonical_solution"] + MAIN_BLOCK +
                "\n\n# A second implementation of the same function.\n" + def_line(problem))
    if kind == "new_then_copy":
        return problem["prompt"]
    raise ValueError(kind)


def drift_set(shared):
    he = load_humaneval(shared)
    out = []
    for kind, ids in CHOSEN.items():
        for i in ids:
            p = he[i]
            out.append({"id": "%s/HumanEval_%d" % (kind, i), "kind": kind, "source": p["task_id"],
                        "prompt": build(kind, p)})
    return out


# ---- evidence -------------------------------------------------------------------------------

def generate(hsd, target, prompt, n, extra):
    cmd = [hsd, "generate", "-m", target, "-p", prompt, "-n", str(n), "--temp", "0", "--ignore-eos",
           "--json"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("error: %s failed (exit %d):\n%s" % (" ".join(cmd[:2]), r.returncode, r.stderr))
    return json.loads(r.stdout)


def copyable(prompt_tokens, tokens, n=3):
    """Per generated token: 1 if the (n+1)-gram ending at it occurs earlier in the context (prompt +
    output so far), i.e. prompt lookup with an n-token suffix could have proposed it."""
    ctx, out = list(prompt_tokens), []
    for t in tokens:
        ok = 0
        if len(ctx) >= n:
            suffix = ctx[-n:] + [t]
            for i in range(len(ctx) - n):
                if ctx[i:i + n + 1] == suffix:
                    ok = 1
                    break
        out.append(ok)
        ctx.append(t)
    return out


def level_stats(j):
    """(drafted, accepted, target forwards, tokens, generation ms) of a one-drafter run."""
    levels = j["speculative"]["levels"]
    d = levels[0]
    t = j["timings"]
    return d["draft_n"], d["draft_n_accepted"], levels[-1]["n_forward"], t["predicted_n"], t["predicted_ms"]


def halves(hsd, target, prompt, split, n, extra):
    a = level_stats(generate(hsd, target, prompt, split, extra))
    b = level_stats(generate(hsd, target, prompt, n, extra))
    second = tuple(y - x for x, y in zip(a, b))

    def fmt(s):
        drafted, acc, fwd, toks, ms = s
        return "acc %.2f tok/step %.2f %4.0f tok/s" % (acc / drafted if drafted else 0.0, toks / fwd if fwd else 0.0,
                                                       1000.0 * toks / ms if ms > 0 else 0.0)
    return fmt(a), fmt(second), a, second


def check(prompts, hsd, target, m1, split, n):
    print("per prompt: copyable fraction (4-gram seen earlier in the context) of tokens 0-%d | %d-%d;"
          % (split - 1, split, n - 1))
    print("ngram3:4 and hsd-m1 (--draft-max 4): acceptance, tokens per target step and generation tokens/s\n"
          "(from runs with -n %d and -n %d; second half = the difference), first | second half\n" % (split, n))
    for p in prompts:
        j = generate(hsd, target, p["prompt"], n, [])
        c = copyable(j["prompt_tokens"], j["tokens"])
        win = " ".join("%.2f" % (sum(c[i:i + 32]) / len(c[i:i + 32])) for i in range(0, len(c), 32))
        ng1, ng2, _, _ = halves(hsd, target, p["prompt"], split, n, ["--hierarchy", "ngram3:4"])
        m11, m12, _, _ = halves(hsd, target, p["prompt"], split, n, ["--draft", m1, "--draft-max", "4"])
        print("%-30s copyable %.2f | %.2f  (per 32: %s)" % (p["id"], sum(c[:split]) / split,
                                                           sum(c[split:]) / max(1, len(c) - split), win))
        print("%-30s ngram3:4 %s | %s" % ("", ng1, ng2))
        print("%-30s hsd-m1:4 %s | %s" % ("", m11, m12))
        sys.stdout.flush()


def scan(kind, shared, hsd, target, n):
    he = load_humaneval(shared)
    for i, p in enumerate(he):
        j = generate(hsd, target, build(kind, p), n, [])
        c = copyable(j["prompt_tokens"], j["tokens"])
        win = [sum(c[k:k + 32]) / len(c[k:k + 32]) for k in range(0, len(c), 32)]
        print("%3d %s" % (i, " ".join("%.2f" % w for w in win)))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=SHARED, help="the shared folder (default: ../shared of the repo)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "prompts", "drift.jsonl"))
    ap.add_argument("--hsd", default=os.path.join(ROOT, "build", "hsd"))
    ap.add_argument("--target", default=None, help="default: <shared>/models/hsd-target.gguf")
    ap.add_argument("--check", action="store_true", help="also run hsd and print the evidence of the drift")
    ap.add_argument("--scan", metavar="KIND", help="score KIND built from every HumanEval task, write nothing")
    ap.add_argument("--split", type=int, default=128, help="--check: first half = tokens before this")
    ap.add_argument("-n", type=int, default=256, help="tokens generated by --check/--scan")
    a = ap.parse_args()
    target = a.target or os.path.join(a.shared, "models", "hsd-target.gguf")
    if a.scan:
        scan(a.scan, a.shared, a.hsd, target, a.n)
        return
    prompts = drift_set(a.shared)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for p in prompts:
            f.write(json.dumps(p, ensure_ascii=False, sort_keys=False) + "\n")
    print("wrote %s (%d prompts)" % (a.out, len(prompts)))
    if a.check:
        check(prompts, a.hsd, target, os.path.join(a.shared, "models", "hsd-m1.gguf"), a.split, a.n)


if __name__ == "__main__":
    main()
