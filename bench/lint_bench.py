#!/usr/bin/env python3
"""loki-audit lint vs. a parse-only baseline, side by side in one run.

For 1k/10k/100k generated objects (seeded), measures wall time and peak RSS of
`loki-audit lint` (parse + every check + JSON report) and of the baseline:
PyYAML's C loader doing nothing but `yaml.load_all(..., Loader=CSafeLoader)` on
the same file. Each measurement is the median of --repeat runs in a fresh
process (peak RSS from wait4). Writes a Markdown table to stdout and
bench/out/lint_bench.md.

Targets (issue #3): lint time <= 0.5x the baseline's parse time; linear
growth; peak RSS < 5x the input size.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gen_corpus import generate  # noqa: E402

BASELINE = "import sys, yaml\nn = sum(1 for d in yaml.load_all(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader) if d)\nprint(n)\n"


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024, code, out


def median_run(cmd, repeat):
    runs = [run(cmd) for _ in range(repeat)]
    runs.sort(key=lambda r: r[0])
    return runs[len(runs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "loki-audit"))
    ap.add_argument("--python", default="/usr/bin/python3", help="a Python with PyYAML's C loader")
    a = ap.parse_args()
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        path = os.path.join(out_dir, f"corpus-{n}.yaml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(generate(n))
        size = os.path.getsize(path)
        bw, bc, brss, bcode, bout = median_run([a.python, "-c", BASELINE, path], a.repeat)
        if bcode != 0:
            sys.exit(f"baseline failed on {path}")
        lw, lc, lrss, lcode, lout = median_run([a.bin, "lint", "-f", "json", "--fail-on", "none", path], a.repeat)
        if lcode != 0:
            sys.exit(f"loki-audit failed on {path} (exit {lcode})")
        import json as _json
        summary = _json.loads(lout)["summary"]
        rows.append((n, size, bw, brss, lw, lc, lrss, summary["objects"], summary["total"]))
        print(f"n={n}: baseline {bw:.3f}s, loki-audit {lw:.3f}s (cpu {lc:.3f}s), ratio {lw / bw:.3f}", file=sys.stderr)
    lines = [
        "| objects | input | baseline parse (PyYAML C) | loki-audit lint | lint/baseline time | lint objects/s | lint peak RSS | RSS / input | findings |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, size, bw, brss, lw, lc, lrss, objs, findings in rows:
        lines.append(
            f"| {n:,} | {size / 1e6:.1f} MB | {bw:.3f} s ({brss / 1e6:.0f} MB) | {lw:.3f} s (cpu {lc:.3f} s) | "
            f"{lw / bw:.2f}x | {objs / lw:,.0f} | {lrss / 1e6:.0f} MB | {lrss / size:.2f}x | {findings:,} |")
    if len(rows) > 1:
        (n0, *_r0), (n1, *_r1) = rows[0], rows[-1]
        growth = (rows[-1][4] / rows[0][4]) / (n1 / n0)
        lines.append("")
        lines.append(f"Growth: time x{rows[-1][4] / rows[0][4]:.1f} for objects x{n1 / n0:.0f} "
                     f"(1.0 = perfectly linear per object: {growth:.2f}).")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(out_dir, "lint_bench.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
