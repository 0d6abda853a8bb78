#!/usr/bin/env python3
"""loki-audit lint on inputs shaped to find work that grows faster than the input.

Each shape is one generated file (seeded, deterministic) that stays within what
the API server accepts for one object where it is one object (1.5 MB in etcd):
a wide Secret, one egress rule of many peers x many ports, a port name many
pods map to different numbers, many containers, ... For each, in fresh
processes under GNU time, interleaved, median of --repeat:
  floor    build/bin/loki-yaml-floor FILE 2 (libyaml's events, nothing built)
  before   a loki-audit given with --before (optional), under --limit-s seconds
           and --limit-gb of address space: a run past either is reported, not waited for
  after    build/bin/loki-audit lint -f json --fail-on none --all-pods FILE
Each shape also runs at half its size: the target is work that grows with the
input (time at full size over half size near 2x, not 4x), except where the
semantics multiply two counts (every policy's selector against every pod of
its namespace). The table goes to bench/out/lint_shapes_bench.md.
"""
import argparse
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pod(ns, name, labels, containers, spec_extra=""):
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n"
            + "".join(f"    {k}: {v}\n" for k, v in labels.items()) + "spec:\n" + spec_extra + "  containers:\n" + containers)


AGENT = "  - name: loki\n    image: loki:1\n    env:\n    - name: LOKI_NETWORK_EGRESS_POLICY\n      value: ai-only\n"


def shapes(k=1.0):
    """(name, what it is, text); k scales each shape's count."""
    n = int(40000 * k)
    yield ("wide Secret", f"{n:,} stringData keys (a kind no rule reads: keys kept only to find duplicates)",
           "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n" + "".join(f"  k{i}: v\n" for i in range(n)))
    n = int(20000 * k)
    rule = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: wide\n  namespace: ns\nspec:\n"
            "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n"
            + "".join(f"    - port: {1 + i % 65000}\n" for i in range(n)) + "    to:\n"
            + "".join(f"    - ipBlock: {{cidr: 10.{i // 256 % 256}.{i % 256}.0/24}}\n" for i in range(n)))
    yield ("wide egress rule", f"one rule of {n:,} peers x {n:,} ports, selecting a loki-mode pod",
           rule + "---\n" + pod("ns", "agent", {"app": "loki-mode"}, AGENT))
    pods, peers = int(5000 * k), int(2000 * k)
    docs = ["apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\n  namespace: ns\nspec:\n"
            "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
            + "".join(f"    - podSelector: {{matchLabels: {{app: a{i}}}}}\n" for i in range(peers))
            + "    ports:\n    - port: serve\n"]
    for i in range(pods):
        docs.append(pod("ns", f"p{i}", {"app": f"a{i}"},
                        f"  - name: c\n    image: x:1\n    ports:\n    - name: serve\n      containerPort: {1000 + i}\n"
                        + AGENT[AGENT.index("    env:"):]))
    yield ("one port name, many numbers", f"{pods:,} agent pods naming a port `serve` on different numbers; "
           f"one rule of {peers:,} pod peers on `serve`", "---\n".join(docs))
    n = int(20000 * k)
    yield ("many containers", f"one pod of {n:,} containers",
           pod("ns", "p", {"app": "loki-mode"}, "".join(f"  - name: c{i}\n    image: x:{i}\n" for i in range(n))))
    yield ("many env vars", f"one container with {n:,} env entries",
           pod("ns", "p", {"app": "loki-mode"}, "  - name: c\n    image: x:1\n    env:\n"
               + "".join(f"    - name: E{i}\n      value: v\n" for i in range(n))))
    yield ("many volumes", f"{n:,} volumes and {n:,} mounts",
           pod("ns", "p", {"app": "loki-mode"}, "  - name: c\n    image: x:1\n    volumeMounts:\n"
               + "".join(f"    - name: v{i}\n      mountPath: /m{i}\n" for i in range(n)),
               "  volumes:\n" + "".join(f"  - name: v{i}\n    emptyDir: {{}}\n" for i in range(n))))
    yield ("many labels", f"a pod with {n:,} labels",
           pod("ns", "p", dict([("app", "loki-mode")] + [(f"l{i}", "v") for i in range(n)]), AGENT))
    n = int(2000 * k)
    docs = []
    for i in range(n):
        docs.append(f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np{i}\n  namespace: ns\n"
                    f"spec:\n  podSelector:\n    matchLabels:\n      app: a{i}\n  policyTypes: [Egress]\n  egress:\n"
                    f"  - to:\n    - podSelector:\n        matchLabels:\n          app: a{i + 1}\n")
    for i in range(n):
        docs.append(pod("ns", f"p{i}", {"app": f"a{i}"}, "  - name: c\n    image: x:1\n"))
    yield ("policies x pods", f"{n:,} policies and {n:,} pods in one namespace", "---\n".join(docs))
    n = int(20000 * k)
    yield ("wide selector", f"a policy selecting by {n:,} matchExpressions",
           "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\n  namespace: ns\nspec:\n"
           "  podSelector:\n    matchExpressions:\n"
           + "".join(f"    - key: k{i}\n      operator: In\n      values: [a, b]\n" for i in range(n))
           + "  policyTypes: [Egress]\n---\n" + pod("ns", "agent", {"app": "loki-mode"}, AGENT))
    yield ("long scalar", f"a {20 * k:.0f} MB annotation value",
           pod("ns", "p", {"app": "loki-mode"}, AGENT).replace("  labels:\n", "  annotations:\n    a: " + "x" * int(20_000_000 * k)
                                                                + "\n  labels:\n"))


def measure(cmd, limit_s=None, limit_gb=None):
    stats = os.path.join(HERE, "out", ".time")

    def limits():
        if limit_gb:
            b = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (b, b))

    try:
        p = subprocess.run(["/usr/bin/time", "-o", stats, "-f", "%e %U %S %M %x"] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=limit_s, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        return {"wall": None, "note": f"stopped after {limit_s} s"}
    text = open(stats).read()
    wall, user, sys_, rss_kb, code = text.split()[-5:]
    r = {"wall": float(wall), "cpu": float(user) + float(sys_), "rss": int(rss_kb) * 1024, "exit": int(code)}
    if p.returncode != 0:  # GNU time's own status: the command's, or 128 + its signal
        how = "killed by signal " + text.split("signal ")[1].split()[0] if "signal" in text else f"exit {p.returncode}"
        r["note"] = f"failed after {r['wall']:.1f} s ({how}{'; limited to ' + str(limit_gb) + ' GB' if limit_gb else ''})"
        r["wall"] = None
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--before", help="an earlier loki-audit to measure in the same run")
    ap.add_argument("--limit-s", type=float, default=90)
    ap.add_argument("--limit-gb", type=float, default=4)
    a = ap.parse_args()
    out_dir = os.path.join(HERE, "out", "shapes")
    os.makedirs(out_dir, exist_ok=True)
    floor = os.path.join(a.bin, "loki-yaml-floor")
    after = os.path.join(a.bin, "loki-audit")
    lint = ["lint", "-f", "json", "--fail-on", "none", "--all-pods"]
    tools = [("floor", lambda f: [floor, f, "2"], None, None)]
    if a.before:
        tools.append(("before", lambda f: [a.before] + lint + [f], a.limit_s, a.limit_gb))
    tools.append(("after", lambda f: [after] + lint + [f], None, None))
    load = os.getloadavg()
    # The process's own memory: loki-audit on a one-line file.
    empty = os.path.join(out_dir, "empty.yaml")
    with open(empty, "w") as f:
        f.write("a: b\n")
    base_rss = measure([after] + lint + [empty])["rss"]
    lines = [f"Load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {a.repeat}, interleaved"
             f"{f'; before limited to {a.limit_s:.0f} s and {a.limit_gb:.0f} GB of address space' if a.before else ''}. "
             f"Growth: after's wall time on the shape at full size over half size (the input doubles: 2.0x is linear, "
             f"4.0x quadratic). RSS over input: peak RSS less loki-audit's own ({base_rss / 1e6:.0f} MB on a one-line "
             f"file), over the input's size.", "",
             "| shape | input | floor | " + ("before | " if a.before else "") + "after | after / floor | growth | after's RSS over input |",
             "|---|---:|---:|" + ("---:|" if a.before else "") + "---:|---:|---:|---:|"]
    worst = 0.0
    worst_growth = 0.0
    half = list(shapes(0.5))
    for i, (name, what, text) in enumerate(shapes()):
        paths = []
        for tag, t in (("", text), ("-half", half[i][2])):
            path = os.path.join(out_dir, f"shape-{i}{tag}.yaml")
            if not os.path.exists(path) or os.path.getsize(path) != len(t.encode()):
                with open(path, "w") as f:
                    f.write(t)
            paths.append(path)
        path, half_path = paths
        size = os.path.getsize(path)
        runs = {t: [] for t, *_ in tools}
        runs["after-half"] = []
        for _ in range(a.repeat):
            for t, cmd, ls, lg in tools:
                if runs[t] and runs[t][-1]["wall"] is None:
                    continue  # once over the limit is enough
                runs[t].append(measure(cmd(path), ls, lg))
            runs["after-half"].append(measure(tools[-1][1](half_path)))

        def median(rs):
            done = [r for r in rs if r["wall"] is not None]
            return sorted(done, key=lambda r: r["wall"])[len(done) // 2] if done and len(done) == len(rs) else rs[-1]

        med = {t: median(rs) for t, rs in runs.items()}
        fl = max(med["floor"]["wall"], 0.01)
        af = med["after"]
        ratio = af["wall"] / fl
        growth = af["wall"] / max(med["after-half"]["wall"], 0.01)
        worst, worst_growth = max(worst, ratio), max(worst_growth, growth)
        cell = lambda r: r["note"] if r["wall"] is None else f"{r['wall']:.2f} s, {r['rss'] / 1e6:.0f} MB"
        row = f"| {name}: {what} | {size / 1e6:.1f} MB | {med['floor']['wall']:.2f} s | "
        if a.before:
            row += cell(med["before"]) + " | "
        row += f"{cell(af)} | {ratio:.1f}x | {growth:.1f}x | {max(af['rss'] - base_rss, 0) / size:.1f}x |"
        lines.append(row)
        print(f"{name}: " + ", ".join(f"{t} {cell(med[t])}" for t in runs), file=sys.stderr)
    lines += ["", f"Worst after / floor: {worst:.1f}x; worst growth: {worst_growth:.1f}x."]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(HERE, "out", "lint_shapes_bench.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
