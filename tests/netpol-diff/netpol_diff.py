#!/usr/bin/env python3
"""Differential test of loki-audit's NetworkPolicy verdicts against cyclonus.

Generates seeded random scenarios (namespaces with labels; pods with labels,
IPs, named container ports, some hostNetwork; NetworkPolicies with every
selector operator, defaulted and explicit policyTypes, peers with both
selectors, ipBlock with except in v4 and v6, TCP/UDP/SCTP, named ports,
endPort, deny-all shapes), writes each as manifests loki-audit reads plus a
scenario JSON for the cyclonus driver (driver/), answers the same queries with
`loki-audit explain --queries FILE` and with the driver, and compares every
side of every query.

A disagreement fails the run unless it is one of the documented deviations of
cyclonus from the API (README.md, "Known cyclonus deviations"):
  selector   cyclonus's NotIn / matchLabels on an absent key (the driver's
             "api" evaluation rewrites selectors into forms both agree on;
             loki-audit must match that one)
  self       cyclonus applies policy to a pod's traffic to itself
hostNetwork pods are not a deviation: cyclonus has no notion of them, so the
driver evaluates both behaviours the docs permit and loki-audit must say
ALLOWED when both allow and CONDITIONAL otherwise.

Standard library only. Exit 0 when there is no undocumented disagreement.
"""
import argparse
import collections
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

NS_NAMES = ["x", "y", "z", "w"]
LABEL_KEYS = {
    "app": ["a", "b", "c"],
    "tier": ["web", "db", ""],  # "" is a valid label value
    "team": ["red", "blue"],
    "env": ["prod", "dev"],
}
PORT_POOL = [
    ("http", 80, "TCP"), ("http", 8080, "TCP"), ("web", 81, "TCP"), ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"),
    ("sig", 9000, "SCTP"), ("metrics", 9090, "TCP"), ("pg", 5432, "TCP"), ("stream", 81, "UDP"),
]
QUERY_PORTS = [53, 80, 81, 443, 5432, 8080, 9000, 9090, 9091]
PROTOCOLS = ["TCP", "TCP", "TCP", "UDP", "SCTP"]


# ---- generation ---------------------------------------------------------------------

def labels(rng, keys, p):
    out = {}
    for k in keys:
        if rng.random() < p:
            out[k] = rng.choice(LABEL_KEYS.get(k, ["v"]))
    return out


def selector(rng, kind):
    """A LabelSelector using matchLabels and every operator; {} ~30 %."""
    if rng.random() < 0.3:
        return {}
    keys = list(LABEL_KEYS) + (["kubernetes.io/metadata.name"] if kind == "ns" else [])
    sel = {}
    if rng.random() < 0.6:
        ml = {}
        for _ in range(rng.randint(1, 2)):
            k = rng.choice(keys)
            ml[k] = rng.choice(NS_NAMES) if k == "kubernetes.io/metadata.name" else rng.choice(LABEL_KEYS[k])
        sel["matchLabels"] = ml
    if rng.random() < 0.6 or not sel:
        exprs = []
        for _ in range(rng.randint(1, 2)):
            k = rng.choice(keys)
            op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
            e = {"key": k, "operator": op}
            if op in ("In", "NotIn"):
                pool = NS_NAMES if k == "kubernetes.io/metadata.name" else LABEL_KEYS[k]
                e["values"] = sorted(set(rng.sample(pool, rng.randint(1, min(2, len(pool))))))
            exprs.append(e)
        sel["matchExpressions"] = exprs
    return sel


def ip_block(rng, pods):
    v6 = rng.random() < 0.3
    pod_ips = [ipaddress.ip_address(p["ip"]) for p in pods if (":" in p["ip"]) == v6]
    if v6:
        choices = ["::/0", "fd00::/16", "fd00:1::/32", "fd00:2::/32", "2001:db8::/32"]
        if pod_ips:
            ip = rng.choice(pod_ips)
            choices += [f"{ip}/128", f"{ipaddress.ip_network(f'{ip}/64', strict=False)}", f"{ip}/64"]
    else:
        choices = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "192.168.0.0/16", "1.0.0.0/8"]
        if pod_ips:
            ip = rng.choice(pod_ips)
            choices += [f"{ip}/32", f"{ipaddress.ip_network(f'{ip}/24', strict=False)}", f"{ip}/24"]  # host bits set
    cidr = rng.choice(choices)
    block = {"cidr": cidr}
    net = ipaddress.ip_network(cidr, strict=False)
    if rng.random() < 0.45 and net.prefixlen < net.max_prefixlen:
        # except entries strictly inside the block (the API requires it)
        ex = []
        cands = [i for i in pod_ips if i in net]
        for _ in range(rng.randint(1, 2)):
            if cands and rng.random() < 0.6:
                i = rng.choice(cands)
                plen = rng.choice([net.max_prefixlen, max(net.prefixlen + 1, net.max_prefixlen - 8)])
                ex.append(str(ipaddress.ip_network(f"{i}/{plen}", strict=False)))
            else:
                plen = min(net.max_prefixlen, net.prefixlen + rng.randint(1, 16))
                sub = list(net.subnets(new_prefix=plen)) if plen - net.prefixlen <= 4 else None
                ex.append(str(rng.choice(sub)) if sub else str(ipaddress.ip_network(
                    f"{net.network_address + rng.randrange(0, 2 ** 16)}/{plen}", strict=False)))
        ex = [e for e in dict.fromkeys(ex) if ipaddress.ip_network(e).subnet_of(net) and ipaddress.ip_network(e) != net]
        if ex:
            block["except"] = ex
    return {"ipBlock": block}


def peer(rng, pods):
    r = rng.random()
    if r < 0.25:
        return ip_block(rng, pods)
    if r < 0.5:
        return {"podSelector": selector(rng, "pod")}
    if r < 0.75:
        return {"namespaceSelector": selector(rng, "ns")}
    return {"podSelector": selector(rng, "pod"), "namespaceSelector": selector(rng, "ns")}


def port(rng):
    p = {}
    if rng.random() < 0.7:
        p["protocol"] = rng.choice(["TCP", "UDP", "SCTP"])
    r = rng.random()
    if r < 0.25:
        p["port"] = rng.choice([n for n, _, _ in PORT_POOL] + ["nope"])
    elif r < 0.85:
        p["port"] = rng.choice(QUERY_PORTS)
        if rng.random() < 0.25:
            p["endPort"] = p["port"] + rng.choice([0, 1, 10, 1000])
    return p


def rules(rng, pods, peers_key):
    r = rng.random()
    if r < 0.15:
        return None  # absent
    if r < 0.25:
        return []
    out = []
    for _ in range(rng.randint(1, 3)):
        rule = {}
        x = rng.random()
        if x < 0.6:
            rule[peers_key] = [peer(rng, pods) for _ in range(rng.randint(1, 3))]
        elif x < 0.7:
            rule[peers_key] = []
        if rng.random() < 0.6:
            rule["ports"] = [port(rng) for _ in range(rng.randint(1, 3))]
        out.append(rule)
    return out


def policy(rng, name, ns, pods):
    spec = {"podSelector": selector(rng, "pod")}
    r = rng.random()
    if r < 0.35:
        pass  # defaulted policyTypes
    elif r < 0.55:
        spec["policyTypes"] = ["Ingress"]
    elif r < 0.75:
        spec["policyTypes"] = ["Egress"]
    else:
        spec["policyTypes"] = ["Ingress", "Egress"]
    if rng.random() < 0.12:  # deny-all shapes
        spec["podSelector"] = {}
        spec["policyTypes"] = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
    else:
        ing = rules(rng, pods, "from")
        eg = rules(rng, pods, "to")
        if ing is not None:
            spec["ingress"] = ing
        if eg is not None:
            spec["egress"] = eg
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def scenario(rng, n_queries):
    nss = [{"name": n, "labels": labels(rng, ["team", "env", "tier"], 0.6)}
           for n in NS_NAMES[:rng.randint(2, 4)]]
    pods = []
    for ni, ns in enumerate(nss):
        for pi in range(rng.randint(1, 4)):
            hn = rng.random() < 0.08
            if hn:
                ip = f"192.168.0.{rng.randint(1, 20)}"  # a node IP
            elif rng.random() < 0.2:
                ip = f"fd00:{ni + 1}::{pi + 1:x}"
            else:
                ip = f"10.{ni + 1}.{pi}.{rng.randint(2, 250)}"
            ports, seen_names, seen_nums = [], set(), set()
            for name, num, proto in rng.sample(PORT_POOL, rng.randint(0, 4)):
                if name in seen_names or (num, proto) in seen_nums:
                    continue
                seen_names.add(name)
                seen_nums.add((num, proto))
                ports.append({"name": name, "port": num, "protocol": proto})
            pods.append({"namespace": ns["name"], "name": f"p{pi}", "labels": labels(rng, list(LABEL_KEYS), 0.55),
                         "ip": ip, "hostNetwork": hn, "ports": ports})
    pols = [policy(rng, f"np{i}", rng.choice(nss)["name"], pods) for i in range(rng.randint(0, 5))]
    queries = []
    for _ in range(n_queries):
        src = rng.choice(pods)
        q = {"from": {"namespace": src["namespace"], "pod": src["name"]}, "port": 0, "port_name": "",
             "protocol": rng.choice(PROTOCOLS)}
        if rng.random() < 0.2:
            ip = rng.choice(["1.1.1.1", "169.254.169.254", "10.1.0.77", "10.2.3.4", "192.168.0.3",
                             "2001:db8::1", "fd00:1::99", "fd00:ec2::254"])
            q["to"] = {"ip": ip}
        else:
            dst = src if rng.random() < 0.05 else rng.choice(pods)
            q["to"] = {"namespace": dst["namespace"], "pod": dst["name"]}
            if dst["ports"] and rng.random() < 0.25:
                q["port_name"] = rng.choice(dst["ports"])["name"]
                q["protocol"] = ""
        if not q["port_name"]:
            q["port"] = rng.choice(QUERY_PORTS)
        queries.append(q)
    return {"namespaces": nss, "pods": pods, "policies": pols, "queries": queries}


def manifests(sc):
    """YAML stream (JSON documents) of Namespaces, Pods and NetworkPolicies."""
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n["name"], "labels": n["labels"]}}
            for n in sc["namespaces"]]
    for p in sc["pods"]:
        c = {"name": "c", "image": "busybox@sha256:" + "0" * 64}
        if p["ports"]:
            c["ports"] = [{"name": x["name"], "containerPort": x["port"], "protocol": x["protocol"]} for x in p["ports"]]
        spec = {"containers": [c]}
        if p["hostNetwork"]:
            spec["hostNetwork"] = True
        docs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
                     "spec": spec, "status": {"podIP": p["ip"], "podIPs": [{"ip": p["ip"]}]}})
    docs += sc["policies"]
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def loki_query(q):
    out = {"from": "pod/" + q["from"]["pod"], "namespace": q["from"]["namespace"]}
    to = q["to"]
    if "ip" in to:
        host = f"[{to['ip']}]" if ":" in to["ip"] else to["ip"]
        out["to"] = f"{host}:{q['port']}/{q['protocol']}"
    else:
        port = q["port_name"] or f"{q['port']}/{q['protocol']}"
        out["to"] = f"pod/{to['pod']}:{port}"
        out["to_namespace"] = to["namespace"]
    return out


# ---- comparison ------------------------------------------------------------------------

def word(b):
    return "allowed" if b else "denied"


def combine(sides):
    if "denied" in sides:
        return "denied"
    return "allowed" if all(s == "allowed" for s in sides) else "conditional"


def expected(q, r, use):
    """Verdicts the API text implies, from the driver's evaluation `use`."""
    to_pod = "pod" in q["to"]
    self_traffic = to_pod and q["to"] == q["from"]
    exp = {}
    for d in ("egress", "ingress"):
        if d == "ingress" and not to_pod:
            continue
        if self_traffic and use == "api":
            exp[d] = "allowed"  # "a pod cannot block access to itself"
        elif r.get("node") is not None:
            both = r[use][d] and r["node"][d]
            exp[d] = "allowed" if both else "conditional"
        else:
            exp[d] = word(r[use][d])
    exp["verdict"] = combine([exp[d] for d in ("egress", "ingress") if d in exp])
    return exp


def selector_rewritten(sc):
    """Whether the scenario uses a selector form cyclonus evaluates differently
    from apimachinery (NotIn, or matchLabels with an empty value)."""
    text = json.dumps(sc["policies"])
    return '"NotIn"' in text or ': ""' in text


def compare(sc, loki, drv, stats, failures, name):
    for i, (q, lk, r) in enumerate(zip(sc["queries"], loki, drv)):
        if "error" in lk or r.get("error"):
            failures.append((name, i, q, lk, r, "error"))
            continue
        got = {"egress": lk["egress"]["verdict"], "verdict": lk["verdict"]}
        if "pod" in q["to"]:
            got["ingress"] = lk["ingress"]["verdict"]
        want = expected(q, r, "api")
        raw = expected(q, r, "raw")
        # raw cyclonus has no self rule: its own verdicts, hostNetwork still in two readings
        stats["queries"] += 1
        stats["sides"] += len(want) - 1
        for d in want:
            if d != "verdict":
                stats["agree_raw_sides"] += got[d] == raw[d]
        stats["agree_raw"] += got == raw
        if got == want:
            stats["agree_api"] += 1
            if got != raw:
                self_traffic = "pod" in q["to"] and q["to"] == q["from"]
                cls = "self" if self_traffic else ("selector" if selector_rewritten(sc) else "unexplained-raw")
                stats["known_" + cls] += 1
                if cls == "unexplained-raw":
                    failures.append((name, i, q, lk, r, cls))
            if r.get("node") is not None:
                stats["hostnetwork_queries"] += 1
            for d in want:
                stats["verdict_" + got[d]] += d == "verdict"
            continue
        failures.append((name, i, q, lk, r, "mismatch"))


def run(args):
    work = args.workdir or tempfile.mkdtemp(prefix="netpol-diff-")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    files = []
    scenarios = []
    for n in range(args.scenarios):
        rng = random.Random(f"{args.seed}/{n}")
        sc = scenario(rng, args.queries)
        d = os.path.join(work, f"s{n:05d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "manifests.yaml"), "w") as f:
            f.write(manifests(sc))
        with open(os.path.join(d, "queries.jsonl"), "w") as f:
            for q in sc["queries"]:
                f.write(json.dumps(loki_query(q)) + "\n")
        with open(os.path.join(d, "scenario.json"), "w") as f:
            json.dump(sc, f)
        files.append(d)
        scenarios.append(sc)
    t_gen = time.time()

    # cyclonus: one process, many scenarios
    drv = {}
    batch = 200
    for i in range(0, len(files), batch):
        out = subprocess.run([args.driver] + [os.path.join(d, "scenario.json") for d in files[i:i + batch]],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            j = json.loads(line)
            drv[os.path.dirname(j["file"])] = j["results"]
    t_drv = time.time()

    stats = collections.Counter()
    failures = []
    for d, sc in zip(files, scenarios):
        p = subprocess.run([args.loki, "explain", "--threads", "1", "--queries", os.path.join(d, "queries.jsonl"),
                            os.path.join(d, "manifests.yaml")], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"loki-audit failed on {d}: {p.stderr}", file=sys.stderr)
            return 2
        loki = json.loads(p.stdout)
        if len(loki) != len(sc["queries"]):
            print(f"{d}: {len(loki)} answers for {len(sc['queries'])} queries", file=sys.stderr)
            return 2
        stats["scenarios"] += 1
        compare(sc, loki, drv[d], stats, failures, d)
    t_loki = time.time()

    q = stats["queries"]
    print(f"netpol-diff: seed {args.seed}: {stats['scenarios']} scenarios, {q} queries "
          f"({stats['sides']} verdict sides; {stats['hostnetwork_queries']} with hostNetwork pods)")
    print(f"  agreement with cyclonus v0.5.6 as published:      {stats['agree_raw']}/{q} queries "
          f"({100.0 * stats['agree_raw'] / max(q, 1):.2f} %), {stats['agree_raw_sides']}/{stats['sides']} sides")
    print(f"  agreement with cyclonus on apimachinery semantics: {stats['agree_api']}/{q} queries "
          f"({100.0 * stats['agree_api'] / max(q, 1):.2f} %)")
    print(f"  documented cyclonus deviations: selector (NotIn / empty matchLabels value on an absent key) "
          f"{stats['known_selector']}, self-traffic {stats['known_self']}")
    print(f"  loki-audit verdicts: allowed {stats['verdict_allowed']}, denied {stats['verdict_denied']}, "
          f"conditional {stats['verdict_conditional']}")
    print(f"  time: generate {t_gen - t0:.1f} s, cyclonus {t_drv - t_gen:.1f} s, loki-audit {t_loki - t_drv:.1f} s")
    by_class = collections.Counter(f[5] for f in failures)
    if failures:
        print(f"FAIL: {len(failures)} undocumented disagreements: {dict(by_class)}")
        for name, i, qq, lk, r, cls in failures[:args.show]:
            print(f"--- {name} query {i} ({cls}): {json.dumps(loki_query(qq))}")
            print(f"    cyclonus: {json.dumps(r)}")
            print(f"    loki-audit: verdict {lk.get('verdict')} egress {lk.get('egress', {}).get('verdict')}: "
                  f"{lk.get('egress', {}).get('reason')}")
            if "ingress" in lk:
                print(f"      ingress {lk['ingress'].get('verdict')}: {lk['ingress'].get('reason')}")
            if "error" in lk:
                print(f"    loki-audit error: {lk['error']}")
        print(f"scenarios kept in {work}")
        return 1
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loki", required=True, help="path to loki-audit")
    ap.add_argument("--driver", required=True, help="path to the cyclonus driver (build-driver.sh prints it)")
    ap.add_argument("--scenarios", type=int, default=300)
    ap.add_argument("--queries", type=int, default=40, help="queries per scenario")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--workdir", help="keep the scenarios here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--show", type=int, default=10, help="disagreements to print")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
