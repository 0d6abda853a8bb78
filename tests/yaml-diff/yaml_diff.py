#!/usr/bin/env python3
"""Differential test of YAML alias expansion limits: loki-audit against kubectl's decoder.

kubectl decodes manifests with sigs.k8s.io/yaml over gopkg.in/yaml.v2, which
refuses a document whose aliases make up too much of it ("yaml: document
contains excessive aliasing", decode.go allowedAliasRatio). loki-audit must
refuse the same documents (an invalid-manifest finding) and build every other
one. The oracle is the cyclonus driver's `yaml-decode` mode (pinned go.sum,
tests/netpol-diff/driver), so the verdict is go-yaml's own code, not ours.

The generated documents sit around the limit: an anchored value of s nodes
aliased k times next to p plain nodes (the share is about k*s / (k*s + s + p),
and p is drawn around the 99 % line), chains of anchors n levels deep (billion
laughs, cut short), merge keys, and a few documents past 400,000 nodes, where
the allowed share falls from 99 % towards 10 %.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HEAD = {
    "ConfigMap": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n",
    "Pod": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers: [{{name: c, image: i}}]\n  extra:\n",
}


def value(rng, s):
    """A flow value of about s nodes."""
    shape = rng.choice(["list", "maps", "map"])
    if shape == "list":
        return "[" + ", ".join(["x"] * max(1, s - 1)) + "]"
    if shape == "maps":  # go-yaml limit_test.go's shape: single-key maps
        return "[" + ", ".join(["{a}"] * max(1, (s - 1) // 3)) + "]"
    return "{" + ", ".join(f"k{j}: v" for j in range(max(1, (s - 1) // 2))) + "}"


def flat(rng, i, big=False):
    s = rng.randint(20000, 60000) if big else rng.randint(2, 400)
    k = rng.randint(2, 80) if big else rng.randint(1, 300)
    share = rng.uniform(0.95, 0.999) if not big else rng.uniform(0.3, 0.95)
    p = max(0, int(k * s / share - k * s - s))
    p = int(p * rng.uniform(0.8, 1.2))
    lines = [f"  anchor: &a {value(rng, s)}"]
    lines += [f"  pad: [" + ", ".join(["y"] * p) + "]"] if p else []
    lines += [f"  copies: [" + ", ".join(["*a"] * k) + "]"]
    if rng.random() < 0.5:  # padding after the copies too
        lines.append("  tail: [" + ", ".join(["z"] * rng.randint(0, max(1, p // 4))) + "]")
    return lines, dict(shape="flat", s=s, k=k, p=p)


def chain(rng, i):
    levels, fan = rng.randint(2, 6), rng.randint(2, 10)
    lines = ["  l0: &l0 [" + ", ".join(["x"] * fan) + "]"]
    for n in range(1, levels):
        lines.append(f"  l{n}: &l{n} [" + ", ".join([f"*l{n-1}"] * fan) + "]")
    pad = rng.choice([0, 10, 100, 1000, 10000])
    if pad:
        lines.append("  pad: [" + ", ".join(["y"] * pad) + "]")
    return lines, dict(shape="chain", levels=levels, fan=fan, pad=pad)


def merges(rng, i):
    keys, users = rng.randint(1, 50), rng.randint(1, 400)
    lines = ["  base: &b {" + ", ".join(f"k{j}: v" for j in range(keys)) + "}"]
    lines.append("  users:")
    for u in range(users):
        lines.append(f"  - {{<<: *b, own{u}: w}}")
    pad = rng.choice([0, 5, 50, 500])
    if pad:
        lines.append("  pad: [" + ", ".join(["y"] * pad) + "]")
    return lines, dict(shape="merges", keys=keys, users=users, pad=pad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loki", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--documents", type=int, default=300)
    ap.add_argument("--big", type=int, default=6, help="documents past 400,000 nodes")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="yaml-diff.") as tmp:
        cases = []
        for i in range(a.documents + a.big):
            big = i >= a.documents
            gen = (lambda r, n: flat(r, n, True)) if big else rng.choice([flat, flat, chain, merges])
            lines, params = gen(rng, i)
            kind = rng.choice(sorted(HEAD))
            text = HEAD[kind].format(i=i) + "\n".join(lines) + "\n"
            path = os.path.join(tmp, f"d{i:04d}.yaml")
            with open(path, "w") as f:
                f.write(text)
            params["kind"] = kind
            cases.append((path, params))
        paths = [p for p, _ in cases]
        go = {}
        out = subprocess.run([a.driver, "yaml-decode", *paths], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            r = json.loads(line)
            go[r["file"]] = r["error"]
        refused_go = refused_loki = agree = other = 0
        bad = []
        for path, params in cases:
            err = go[path]
            if err is not None and "excessive aliasing" not in err:
                other += 1  # not an aliasing verdict: nothing to compare
                continue
            res = subprocess.run([a.loki, "lint", "-f", "json", "--fail-on", "none", path], capture_output=True, text=True)
            if res.returncode != 0:
                bad.append((path, params, f"loki-audit exit {res.returncode}: {res.stderr.strip()[:200]}"))
                continue
            findings = json.loads(res.stdout)["findings"]
            loki_refused = any("excessive aliasing" in f["message"] for f in findings)
            go_refused = err is not None
            refused_go += go_refused
            refused_loki += loki_refused
            if loki_refused == go_refused:
                agree += 1
            else:
                bad.append((path, params, f"go-yaml {'refuses' if go_refused else 'accepts'}, loki-audit "
                            f"{'refuses' if loki_refused else 'accepts'}"))
        total = agree + len(bad)
        print(f"yaml-diff: {total} documents compared ({other} skipped: other go-yaml errors), "
              f"go-yaml refused {refused_go}, loki-audit refused {refused_loki}, agreed on {agree}")
        for path, params, why in bad:
            print(f"  DISAGREE {os.path.basename(path)} {params}: {why}")
        if bad:
            return 1
        if refused_go == 0 or refused_go == total:
            print("yaml-diff: the documents did not straddle the limit (all one verdict): the test would prove nothing")
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
