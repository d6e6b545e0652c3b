#!/usr/bin/env python3
"""Checks that src/ keeps the layering docs/ARCHITECTURE.md states.

The folder table of ARCHITECTURE.md (rows starting with | `src/NAME/` |) lists the folders
in dependency order: a file in src/F may include "F/..." and "G/..." for any G listed above
F, nothing below. Reading the order from the document keeps the statement and the check the
same thing. Every folder of src/ must be in the table, and every table folder must exist.

  check_layers.py [REPO]      check REPO (default: this script's repository); exit 1 on any
                              include that goes against the order, naming file, line, edge
  check_layers.py --self-test show that the check fails on a bad edge and passes a good one
"""
import pathlib
import re
import sys
import tempfile

ROW = re.compile(r"^\|\s*`src/([a-z_0-9]+)/`\s*\|")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def documented_order(repo: pathlib.Path) -> list[str]:
    doc = repo / "docs" / "ARCHITECTURE.md"
    order = [m.group(1) for line in doc.read_text().splitlines() if (m := ROW.match(line))]
    if not order:
        raise SystemExit(f"{doc}: no folder table (rows like | `src/common/` |) found")
    return order


def violations(repo: pathlib.Path) -> list[str]:
    order = documented_order(repo)
    rank = {name: i for i, name in enumerate(order)}
    src = repo / "src"
    problems = []
    folders = sorted(p.name for p in src.iterdir() if p.is_dir())
    for name in folders:
        if name not in rank:
            problems.append(f"src/{name}/: folder missing from the table in docs/ARCHITECTURE.md")
    for name in order:
        if name not in folders:
            problems.append(f"docs/ARCHITECTURE.md: table names src/{name}/, which does not exist")
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".hpp", ".cpp", ".cc", ".inc") or not path.is_file():
            continue
        rel = path.relative_to(src)
        if len(rel.parts) < 2 or rel.parts[0] not in rank:
            continue
        here = rel.parts[0]
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            if "/" not in target:
                continue  # a file beside this one: same folder
            there = target.split("/")[0]
            if there == here:
                continue
            if there not in rank:
                problems.append(f"src/{rel}:{lineno}: includes \"{target}\": src/{there}/ is not a documented folder")
            elif rank[there] > rank[here]:
                problems.append(f"src/{rel}:{lineno}: includes \"{target}\": {here}/ may not use {there}/ "
                                f"({there} comes after {here} in docs/ARCHITECTURE.md)")
    return problems


def self_test() -> int:
    doc = "| folder | what |\n|---|---|\n| `src/low/` | a |\n| `src/high/` | b |\n"
    with tempfile.TemporaryDirectory() as tmp:
        failures = 0
        for label, (low_text, high_text, want) in {
            "allowed edge": ('#include "low/b.h"\n', '#include "low/a.h"\n#include "high/c.h"\n', 0),
            "edge against the order": ('#include "high/c.h"\n', '#include "low/a.h"\n', 1),
        }.items():
            repo = pathlib.Path(tmp) / label.replace(" ", "_")
            (repo / "docs").mkdir(parents=True)
            (repo / "docs" / "ARCHITECTURE.md").write_text(doc)
            (repo / "src" / "low").mkdir(parents=True)
            (repo / "src" / "high").mkdir(parents=True)
            (repo / "src" / "low" / "a.h").write_text(low_text)
            (repo / "src" / "high" / "c.h").write_text(high_text)
            got = len(violations(repo))
            ok = got == want
            failures += not ok
            print(f"self-test {label}: {got} violation(s), expected {want}: {'ok' if ok else 'FAILED'}")
        # An undocumented folder is reported too.
        repo = pathlib.Path(tmp) / "undocumented"
        (repo / "docs").mkdir(parents=True)
        (repo / "docs" / "ARCHITECTURE.md").write_text(doc)
        for name in ("low", "high", "extra"):
            (repo / "src" / name).mkdir(parents=True)
        got = len(violations(repo))
        failures += got != 1
        print(f"self-test undocumented folder: {got} violation(s), expected 1: {'ok' if got == 1 else 'FAILED'}")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    repo = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent
    problems = violations(repo)
    for p in problems:
        print(p)
    order = " < ".join(documented_order(repo))
    if problems:
        print(f"{len(problems)} include(s) against the documented layering: {order}")
        return 1
    print(f"layering ok: {order}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
