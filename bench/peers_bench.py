#!/usr/bin/env python3
"""loki-audit lint against the tools users would pick instead, in one run.

For each corpus (generated: 1k/10k/100k objects, seeded; real: the Kubernetes
repository's own manifests from the k8s.io/kubernetes Go module, and ten
projects' install manifests at pinned versions, once and ten times over,
bench/real_corpus.py) and each tool
(bench/peers/build.sh builds them), runs the tool once per --repeat in a fresh
process and records wall time, CPU time and peak RSS (wait4), objects per
second and the ratio to loki-audit in the same run. A tool that exceeds
--timeout on a size is not run on larger ones. Writes:

  bench/out/peers_bench.jsonl   one JSON line per measurement
  bench/out/peers_bench.md      the table (docs/benchmarks.md quotes it)
  docs/bench-lint-peers.png     time against corpus size, log-log (gnuplot)

  bench/peers_bench.py [--sizes 1000,10000,100000] [--tools loki-audit,conftest,...]

What "comparable checks" means per tool: conftest/OPA and Kyverno run
bench/peers/rego and bench/peers/kyverno, which implement loki-audit's pod
rules (bench/peers/README.md); kube-score runs its defaults (a broader,
different rule set); kubeconform only validates schemas (the floor).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gen_corpus import generate  # noqa: E402

CACHE = os.environ.get("LOKI_TOOLS_CACHE", os.path.expanduser("~/.cache/loki-guard"))
PEERS = os.path.join(CACHE, "peers", "bin")
K8S_VERSION = "v1.36.3"


def tool_commands(loki):
    schemas = os.path.join(CACHE, "peers", "kubeconform-schemas", K8S_VERSION)
    return {
        # name: (argv builder, exit codes that mean "ran fine", comparable pod checks?)
        "loki-audit": (lambda f: [loki, "lint", "--all-pods", "-f", "json", "--fail-on", "none", f], {0}, "all rules"),
        "conftest": (lambda f: [os.path.join(PEERS, "conftest"), "test", "--no-color", "--namespace", "loki",
                                "--policy", os.path.join(HERE, "peers", "rego"), "-o", "json", f], {0, 1},
                     "loki pod rules (Rego)"),
        "kyverno": (lambda f: [os.path.join(PEERS, "kubectl-kyverno"), "apply",
                               os.path.join(HERE, "peers", "kyverno", "policies.yaml"), "--resource", f,
                               "--policy-report", "--output-format", "json"], {0, 1}, "loki pod rules (Kyverno)"),
        "kube-score": (lambda f: [os.path.join(PEERS, "kube-score"), "score", "-o", "json", f], {0, 1},
                       "its defaults"),
        "kubeconform": (lambda f: [os.path.join(PEERS, "kubeconform"), "-strict", "-ignore-missing-schemas",
                                   "-output", "json", "-summary=false", "-kubernetes-version", K8S_VERSION[1:],
                                   "-schema-location", os.path.join(schemas, "standalone{{ .StrictSuffix }}",
                                                                    "{{ .ResourceKind }}{{ .KindSuffix }}.json"), f], {0, 1}, "schema only (floor)"),
    }


def measure(cmd, timeout):
    """Wall, CPU and peak RSS of one fresh process, taken by GNU time: a small
    parent, since Linux carries a process's peak RSS across fork and exec and
    this Python's own peak would otherwise be the floor of every figure."""
    stats = os.path.join(HERE, "out", ".time")
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-o", stats, "-f", "%e %U %S %M %x"] + cmd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        subprocess.run(["pkill", "-KILL", "-f", cmd[0]], check=False)
        p.communicate()
        return None
    wall_py = time.perf_counter() - t0
    parts = open(stats).read().split()[-5:]
    wall, user, sys_, maxrss_kb, code = float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3]), int(parts[4])
    return {"wall": max(wall, 0.0) if wall >= 0.01 else wall_py, "cpu": user + sys_, "rss": maxrss_kb * 1024,
            "exit": code, "out": out, "err": err}


def real_corpus(path):
    """The Kubernetes repository's own manifests (from the Go module cache:
    tests/cluster/build-tools.sh downloads k8s.io/kubernetes), one file, only
    documents every tool can parse: YAML with apiVersion and kind, no
    template placeholders."""
    import yaml
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    src = os.path.join(gomodcache, f"k8s.io/kubernetes@{K8S_VERSION}")
    if not os.path.isdir(src):
        return None
    docs, seen = [], set()
    for sub in ("cluster", "test", "hack", "staging"):
        for dirpath, _, files in os.walk(os.path.join(src, sub)):
            if "/vendor/" in dirpath or "/testdata" in dirpath:
                continue
            for name in sorted(files):
                if not name.endswith((".yaml", ".yml")):
                    continue
                text = open(os.path.join(dirpath, name), encoding="utf-8", errors="replace").read()
                if "{{" in text or "{%" in text or "__PILLAR" in text:
                    continue
                try:
                    parts = list(yaml.safe_load_all(text))
                except yaml.YAMLError:
                    continue
                for d in parts:
                    if isinstance(d, dict) and "apiVersion" in d and "kind" in d and "metadata" in d \
                            and isinstance(d.get("metadata"), dict) and d["metadata"].get("name") \
                            and not d["kind"].endswith("List"):
                        # Several files define the same object; one copy each
                        # (the Kyverno CLI panics on duplicates: "already exists").
                        key = (d["apiVersion"], d["kind"], d["metadata"].get("namespace") or "default", d["metadata"]["name"])
                        if key not in seen:
                            seen.add(key)
                            docs.append(d)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    return len(docs)


def plot(rows, png):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("gnuplot not installed (scripts/setup-bench-tools.sh): no plot", file=sys.stderr)
        return False
    data = os.path.join(HERE, "out", "peers_bench.dat")
    tools = sorted({r["tool"] for r in rows if r["corpus"].startswith("generated") and r.get("wall")},
                   key=lambda t: (t != "loki-audit", t))
    if not tools:
        print("no generated corpus measured (--sizes ''): no plot", file=sys.stderr)
        return False
    with open(data, "w") as f:
        for t in tools:
            f.write(f"# {t}\n")
            for r in sorted((r for r in rows if r["tool"] == t and r["corpus"].startswith("generated") and r.get("wall")),
                            key=lambda r: r["objects"]):
                f.write(f"{r['objects']} {r['wall']:.4f}\n")
            f.write("\n\n")
    plots = ", ".join(f"'{data}' index {i} with linespoints lw 2 pt 7 title '{t}'" for i, t in enumerate(tools))
    script = f"""set terminal pngcairo size 900,560 font ',11'
set output '{png}'
set title 'Linting generated corpora (same files, same machine, one run): wall time'
set logscale xy
set xlabel 'objects in the corpus'
set ylabel 'wall time (s)'
set grid
set key top left
plot {plots}
"""
    r = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--tools", default="loki-audit,conftest,kyverno,kube-score,kubeconform")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run before the tool is dropped")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "loki-audit"))
    ap.add_argument("--no-real", action="store_true", help="skip the real-manifest corpora")
    ap.add_argument("--png", default=os.path.join(ROOT, "docs", "bench-lint-peers.png"))
    a = ap.parse_args()
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    cmds = tool_commands(a.bin)
    tools = [t for t in a.tools.split(",") if t]
    for t in tools:
        exe = cmds[t][0]("x")[0]
        if not os.access(exe, os.X_OK):
            sys.exit(f"{t}: {exe} missing (run bench/peers/build.sh)")

    corpora = []
    for n in [int(s) for s in a.sizes.split(",") if s]:
        path = os.path.join(out_dir, f"corpus-{n}.yaml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(generate(n))
        corpora.append((f"generated {n:,}", path, n))
    if not a.no_real:
        path = os.path.join(out_dir, "corpus-kubernetes-repo.yaml")
        n = real_corpus(path)
        if n:
            corpora.append((f"kubernetes repo manifests", path, n))
        import real_corpus as ten_projects
        one = os.path.join(out_dir, "corpus-ten-projects-x1.yaml")
        n, _ = ten_projects.build(one)
        ten = os.path.join(out_dir, "corpus-ten-projects-x10.yaml")
        with open(ten, "w") as f:
            f.write("---\n".join([open(one).read()] * 10))
        corpora += [("ten projects' manifests", one, n), ("ten projects' manifests x10", ten, 10 * n)]

    rows, dropped = [], set()
    jl = open(os.path.join(out_dir, "peers_bench.jsonl"), "w")
    load = open("/proc/loadavg").read().split()[:3]
    for label, path, n in corpora:
        size = os.path.getsize(path)
        for t in tools:
            build, ok_codes, checks = cmds[t]
            row = {"corpus": label, "objects": n, "bytes": size, "tool": t, "checks": checks}
            if t in dropped and label.startswith("generated"):
                row["skipped"] = "timed out on a smaller corpus"
                rows.append(row)
                continue
            runs = []
            for _ in range(a.repeat):
                m = measure(build(path), a.timeout)
                if m is None:
                    break
                runs.append(m)
            if len(runs) < a.repeat:
                row["timeout"] = a.timeout
                dropped.add(t)
            else:
                m = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
                row.update(wall=m["wall"], cpu=m["cpu"], rss=m["rss"], exit=m["exit"],
                           ok=m["exit"] in ok_codes and len(m["out"]) > 0)
                if not row["ok"]:
                    row["stderr"] = m["err"].decode(errors="replace")[-600:]
            rows.append(row)
            jl.write(json.dumps(row) + "\n")
            jl.flush()
            desc = (f"{row['wall']:.3f}s cpu {row['cpu']:.3f}s rss {row['rss'] / 1e6:.0f}MB exit {row['exit']}"
                    if "wall" in row else row.get("skipped") or f"timeout >{a.timeout:.0f}s")
            print(f"{label:28} {t:12} {desc}", file=sys.stderr)

    # Table: one row per corpus x tool, ratios against loki-audit of the same corpus.
    lines = [f"Machine: {os.cpu_count()} CPUs, load average at start {' '.join(load)}; one fresh process per "
             f"measurement, median of {a.repeat}.", "",
             "| corpus | tool | checks | wall | CPU | peak RSS | RSS / input | objects/s | time vs loki-audit |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for label, path, n in corpora:
        base = next((r for r in rows if r["corpus"] == label and r["tool"] == "loki-audit" and "wall" in r), None)
        for r in (r for r in rows if r["corpus"] == label):
            if "wall" not in r:
                why = r.get("skipped") or f"timed out (> {r['timeout']:.0f} s)"
                lines.append(f"| {label} | {r['tool']} | {r['checks']} | {why} | | | | | |")
                continue
            bad = "" if r["ok"] else f" (exit {r['exit']}!)"
            ratio = f"{r['wall'] / base['wall']:.1f}x" if base else ""
            lines.append(f"| {label} | {r['tool']}{bad} | {r['checks']} | {r['wall']:.3f} s | {r['cpu']:.3f} s | "
                         f"{r['rss'] / 1e6:.0f} MB | {r['rss'] / r['bytes']:.1f}x | {n / r['wall']:,.0f} | {ratio} |")
    # Linearity of loki-audit.
    lk = sorted((r for r in rows if r["tool"] == "loki-audit" and r["corpus"].startswith("generated") and "wall" in r),
                key=lambda r: r["objects"])
    if len(lk) > 1:
        f = (lk[-1]["wall"] / lk[0]["wall"]) / (lk[-1]["objects"] / lk[0]["objects"])
        lines += ["", f"loki-audit growth: time x{lk[-1]['wall'] / lk[0]['wall']:.1f} for objects "
                      f"x{lk[-1]['objects'] / lk[0]['objects']:.0f} (1.0 = linear: {f:.2f})."]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(out_dir, "peers_bench.md"), "w") as f:
        f.write(report + "\n")
    if plot(rows, a.png):
        print(f"plot: {a.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
