#!/usr/bin/env python3
"""loki-audit lint against its floor, libyaml's bare event parse, side by side in one run.

For each corpus, interleaved and --repeat times (median by wall time), in fresh
processes under GNU time (wall, CPU, peak RSS):
  floor    build/bin/loki-yaml-floor FILE 2: the same split into documents and
           the same 2 threads as the loader, building nothing
  before   a loki-audit given with --before (an earlier build, optional)
  after    build/bin/loki-audit lint -f json --fail-on none FILE
Corpora: generated 10k and 100k objects (bench/gen_corpus.py, seeded); the
Kubernetes repository's own manifests (bench/peers_bench.py's real corpus);
ten projects' install manifests at pinned versions (bench/real_corpus.py, 22
MB, 1,581 objects, most of the bytes CRDs);
and a CRD-heavy file pinned from the Go module cache (the Gateway API standard
install, Prometheus' CRD, Calico's and the volume-snapshot CRDs, at the module
versions in CRD_FILES, ten times over: ~8 MB, 200 objects no rule reads).
On a shared machine wall time moves with the load; the ratios to the floor in
the same run, and CPU seconds, are what to compare.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gen_corpus import generate  # noqa: E402

# Files of Go modules the project's tools already download (tests/cluster/build-tools.sh, bench/peers).
CRD_FILES = [
    "k8s.io/apiextensions-apiserver@v0.36.3/test/integration/ratcheting_test_cases/crds/standard-install.yaml",
    "sigs.k8s.io/structured-merge-diff/v6@v6.3.3/internal/testdata/prometheus-crd.yaml",
    "k8s.io/kubernetes@v1.36.3/cluster/addons/calico-policy-controller/felixconfigurations-crd.yaml",
    "k8s.io/kubernetes@v1.36.3/cluster/addons/calico-policy-controller/globalnetworkpolicy-crd.yaml",
    "k8s.io/kubernetes@v1.36.3/cluster/addons/calico-policy-controller/networkpolicies-crd.yaml",
    "k8s.io/kubernetes@v1.36.3/cluster/addons/volumesnapshots/crd/snapshot.storage.k8s.io_volumesnapshots.yaml",
    "k8s.io/kubernetes@v1.36.3/cluster/addons/volumesnapshots/crd/snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
]


def crd_corpus(path):
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip() \
        or os.path.expanduser("~/go/pkg/mod")
    parts = []
    for rel in CRD_FILES:
        full = os.path.join(gomodcache, rel)
        if not os.path.exists(full):
            return False
        parts.append(open(full, encoding="utf-8").read())
    with open(path, "w") as f:
        for _ in range(10):
            for p in parts:
                f.write("---\n" + p + ("" if p.endswith("\n") else "\n"))
    return True


def measure(cmd, capture=False):
    stats = os.path.join(HERE, "out", ".time")
    p = subprocess.run(["/usr/bin/time", "-o", stats, "-f", "%e %U %S %M %x"] + cmd,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, user, sys_, rss_kb, code = open(stats).read().split()[-5:]
    return {"wall": float(wall), "cpu": float(user) + float(sys_), "rss": int(rss_kb) * 1024, "exit": int(code),
            "out": p.stdout or b""}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--before", help="an earlier loki-audit to measure in the same run")
    ap.add_argument("--all-pods", action="store_true", help="lint with --all-pods (every pod template checked)")
    ap.add_argument("--no-crd", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    a = ap.parse_args()
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    corpora = []
    for n in [int(s) for s in a.sizes.split(",") if s]:
        path = os.path.join(out_dir, f"corpus-{n}.yaml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(generate(n))
        corpora.append((f"generated {n:,}", path))
    if not a.no_real:
        # The Kubernetes repository's own manifests (bench/peers_bench.py's real corpus).
        # Ten copies: one (0.5 MB) is over in a few milliseconds.
        from peers_bench import real_corpus
        one = os.path.join(out_dir, "corpus-kubernetes-repo.yaml")
        path = os.path.join(out_dir, "corpus-kubernetes-repo-x10.yaml")
        if not os.path.exists(path) and (os.path.exists(one) or real_corpus(one)):
            text = open(one).read()
            with open(path, "w") as f:
                for _ in range(10):
                    f.write("---\n" + text)
        if os.path.exists(path):
            corpora.append(("kubernetes repo manifests x10", path))
        import real_corpus as ten_projects
        path = os.path.join(out_dir, "corpus-ten-projects-x1.yaml")
        if not os.path.exists(path):
            ten_projects.build(path)
        corpora.append(("ten projects' manifests", path))
    if not a.no_crd:
        path = os.path.join(out_dir, "corpus-crds.yaml")
        if os.path.exists(path) or crd_corpus(path):
            corpora.append(("CRDs (pinned, x10)", path))
    floor = os.path.join(a.bin, "loki-yaml-floor")
    tools = [("floor", lambda f: [floor, f, "2"])]
    flags = ["-f", "json", "--fail-on", "none"] + (["--all-pods"] if a.all_pods else [])
    if a.before:
        tools.append(("before", lambda f: [a.before, "lint"] + flags + [f]))
    after = os.path.join(a.bin, "loki-audit")
    tools.append(("after", lambda f: [after, "lint"] + flags + [f]))
    load = os.getloadavg()
    rows = []
    for label, path in corpora:
        size = os.path.getsize(path)
        runs = {t: [] for t, _ in tools}
        for _ in range(a.repeat):
            for t, cmd in tools:  # interleaved: load changes hit every tool alike
                r = measure(cmd(path), capture=t == "floor")
                if r["exit"] != 0:
                    sys.exit(f"{t} failed on {path} (exit {r['exit']})")
                runs[t].append(r)
        med = {t: sorted(rs, key=lambda r: r["wall"])[len(rs) // 2] for t, rs in runs.items()}
        objects = int(med["floor"]["out"].split()[0])  # documents holding a mapping: one object each here
        for t, _ in tools:
            r = med[t]
            rows.append((label, size, objects, t, r, r["wall"] / max(med["floor"]["wall"], 0.01),
                         r["cpu"] / max(med["floor"]["cpu"], 0.01)))
        print(f"{label}: " + ", ".join(f"{t} {med[t]['wall']:.3f}s" for t, _ in tools), file=sys.stderr)
    lines = [f"Load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {a.repeat}, interleaved"
             f"{'; lint with --all-pods' if a.all_pods else ''}.", "",
             "| corpus | input | run | wall | CPU | objects/s (wall) | objects per CPU-s | wall / floor | CPU / floor | peak RSS | RSS / input |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, size, objects, t, r, wr, cr in rows:
        lines.append(f"| {label} | {size / 1e6:.1f} MB | {t} | {r['wall']:.2f} s | {r['cpu']:.2f} s | "
                     f"{objects / max(r['wall'], 0.01):,.0f} | {objects / max(r['cpu'], 0.01):,.0f} | {wr:.2f}x | {cr:.2f}x | "
                     f"{r['rss'] / 1e6:.0f} MB | {r['rss'] / size:.2f}x |")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(out_dir, "lint_floor_bench.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
