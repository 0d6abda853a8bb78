#!/usr/bin/env python3
"""Helper of bench/peers/features.sh (run that, not this).

  features.py reviews FILE            FILE's objects as a JSON array of AdmissionReviews (for opa)
  features.py matrix WORK HERE TOOL.. the feature matrix (TSV) from the raw outputs in WORK/raw/
"""
import json
import os
import re
import sys

import yaml

WORKLOAD_KINDS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                  "ReplicationController", "PodTemplate"}
MSG_RE = re.compile(r"^\[([a-z0-9-]+)\] (\w+) ([^/ ]*)/([^: ]*): (.*)$", re.S)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def reviews(path):
    out = []
    for i, d in enumerate(load_docs(path)):
        out.append({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": {"uid": f"features-{i}", "operation": "CREATE", "object": d}})
    json.dump(out, sys.stdout)


# ---- parsers: raw output -> [(kind, name, check, key)] or None (tool failed) ----

def p_loki(raw):
    d = json.loads(raw)
    return [(f["object"]["kind"], f["object"]["name"], f["rule"],
             f"{f['rule']}|{f.get('container')}|{f['message']}") for f in d["findings"]]


def p_rego_msgs(msgs):
    out = []
    for m in msgs:
        mm = MSG_RE.match(m)
        if mm:
            out.append((mm.group(2), mm.group(4), mm.group(1), m))
        else:
            out.append(("?", "?", "?", m))
    return out


def p_conftest(raw):
    d = json.loads(raw)
    msgs = []
    for r in d:
        for k in ("failures", "warnings"):
            msgs += [x["msg"] for x in (r.get(k) or [])]
    return p_rego_msgs(msgs)


def p_opa(raw):
    d = json.loads(raw)
    return p_rego_msgs(d["result"][0]["expressions"][0]["value"])


def p_kyverno(raw):
    # --policy-report --output-format json prints a (Cluster)Report as JSON,
    # after "Warning: ..." lines on the same stdout.
    start = raw.find("{")
    docs = [json.loads(raw[start:])] if start >= 0 else []
    if not docs:
        raise ValueError("no policy report")
    out = []
    for doc in docs:
        items = doc.get("items") if doc.get("kind", "").endswith("List") else [doc]
        for rep in items or []:
            for r in rep.get("results") or []:
                if r.get("result") not in ("fail", "warn", "error"):
                    continue
                rule = re.sub(r"^autogen-(cronjob-)?", "", r.get("rule", "?"))
                for res in r.get("resources") or [rep.get("scope") or {}]:
                    out.append((res.get("kind", "?"), res.get("name", "?"), rule,
                                f"{r.get('policy')}|{rule}|{r.get('message', '')}"))
    return out


def p_kube_score(raw):
    out = []
    for o in json.loads(raw) or []:  # "null": no object it knows (e.g. an unknown apiVersion)
        kind = o.get("type_meta", {}).get("kind", "?")
        name = o.get("object_meta", {}).get("name", "?")
        for c in o.get("checks") or []:
            if c.get("skipped") or c.get("grade", 10) > 5:
                continue
            cid = c["check"]["id"]
            comments = c.get("comments") or [{}]
            for cm in comments:
                out.append((kind, name, cid, f"{cid}|{cm.get('path', '')}|{cm.get('summary', '')}"))
    return out


def p_kubeconform(raw):
    out = []
    d = json.loads(raw) if raw.strip() else {"resources": []}
    for r in d.get("resources") or []:
        if r.get("status") in ("statusInvalid", "statusError"):
            out.append((r.get("kind") or "?", r.get("name") or "?", "invalid",
                        f"invalid|{r.get('msg', '')}"))
    return out


def p_kube_linter(raw):
    d = json.loads(raw)
    out = []
    for r in d.get("Reports") or []:
        obj = r.get("Object", {}).get("K8sObject", {})
        kind = obj.get("GroupVersionKind", {}).get("Kind", "?")
        out.append((kind, obj.get("Name", "?"), r.get("Check", "?"),
                    f"{r.get('Check')}|{r.get('Diagnostic', {}).get('Message', '')}"))
    return out


def p_polaris(raw):
    d = json.loads(raw)
    out = []

    def add(kind, name, results, where):
        for cid, r in (results or {}).items():
            if r.get("Success") or r.get("Severity") not in ("warning", "danger"):
                continue
            out.append((kind, name, cid, f"{cid}|{where}|{r.get('Message', '')}"))

    for res in d.get("Results") or []:
        kind, name = res.get("Kind", "?"), res.get("Name", "?")
        add(kind, name, res.get("Results"), "")
        pr = res.get("PodResult") or {}
        add(kind, name, pr.get("Results"), "pod")
        for cr in pr.get("ContainerResults") or []:
            add(kind, name, cr.get("Results"), cr.get("Name", ""))
    return out


PARSERS = {"loki-audit": p_loki, "conftest": p_conftest, "opa": p_opa, "kyverno": p_kyverno,
           "kube-score": p_kube_score, "kubeconform": p_kubeconform, "kube-linter": p_kube_linter,
           "polaris": p_polaris}
NATIVE_IDS = {"loki-audit", "conftest", "opa", "kyverno"}  # their check ids are loki-audit's rule ids


def load_map(here):
    m = {}
    with open(os.path.join(here, "rule-map.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            tool, check, rule = line.rstrip("\n").split("\t")
            m[(tool, check)] = rule
    return m


def matrix(work, here, tools):
    rmap = load_map(here)
    versions = {}
    with open(os.path.join(work, "versions.tsv")) as f:
        for line in f:
            t, v = line.rstrip("\n").split("\t", 1)
            versions[t] = v

    cache = {}

    def findings(tool, fid):
        """[(kind, name, loki-rule-or-tool:check, key)], or None if the tool failed."""
        k = (tool, fid)
        if k in cache:
            return cache[k]
        base = os.path.join(work, "raw", tool, fid)
        res = None
        try:
            with open(base + ".out") as f:
                raw = f.read()
            rows = PARSERS[tool](raw)
            res = []
            for kind, name, check, key in rows:
                rule = check if tool in NATIVE_IDS else rmap.get((tool, check), f"{tool}:{check}")
                res.append((kind, name, rule, key))
        except Exception as e:  # noqa: BLE001 - any unparsable output is a failed run
            sys.stderr.write(f"features: {tool} on {fid}: {type(e).__name__}: {e}\n")
            res = None
        cache[k] = res
        return res

    def is_rule(r):
        return ":" not in r

    cases = []
    with open(os.path.join(here, "fixtures", "cases.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cases.append(line.rstrip("\n").split("\t"))

    broken_dir = os.path.join(os.path.dirname(os.path.dirname(here)), "manifests", "examples", "broken")
    broken = sorted(x for x in os.listdir(broken_dir) if x.endswith(".yaml"))

    rows = []
    header = ["feature", "mode"] + list(tools)
    for feature, mode, fixture, ref, rule in cases:
        row = [feature, mode if rule == "-" else f"{mode}:{rule}"]
        for t in tools:
            if versions.get(t) == "n/a":
                row.append("n/a")
                continue
            a, b = findings(t, "fixtures__" + fixture), findings(t, "fixtures__" + ref)
            if a is None or b is None:
                row.append("error")
                continue
            wa = {x for x in a if x[0] in WORKLOAD_KINDS}
            wb = {x[3] for x in b if x[0] in WORKLOAD_KINDS}
            new = [x for x in wa if x[3] not in wb]
            if mode == "clean":
                row.append("yes" if not new else "no(" + ",".join(sorted({x[2] for x in new})) + ")")
            elif rule == "-":
                row.append("yes" if new else "no")
            else:
                row.append("yes" if any(x[2] == rule for x in new) else "no")
        rows.append(row)

    row = ["hardened-example", "clean"]
    for t in tools:
        if versions.get(t) == "n/a":
            row.append("n/a")
            continue
        a = findings(t, "hardened__loki-agent.yaml")
        if a is None:
            row.append("error")
            continue
        got = sorted({x[2] for x in a if is_rule(x[2])})
        row.append("yes" if not got else "no(" + ",".join(got) + ")")
    rows.append(row)

    union = {t: set() for t in tools}
    for b in broken:
        row = ["broken:" + b, "rules"]
        for t in tools:
            if versions.get(t) == "n/a":
                row.append("n/a")
                continue
            a = findings(t, "broken__" + b)
            if a is None:
                row.append("error")
                continue
            got = sorted({x[2] for x in a if is_rule(x[2])})
            union[t] |= set(got)
            row.append(",".join(got) or "-")
        rows.append(row)
    rows.append(["broken:all", "rules"] + [
        "n/a" if versions.get(t) == "n/a" else (",".join(sorted(union[t])) or "-") for t in tools])

    print("# loki-audit peer feature matrix (bench/peers/features.sh). Versions:")
    for t in tools:
        print(f"#   {t}\t{versions.get(t, 'n/a')}")
    print("\t".join(header))
    for r in rows:
        print("\t".join(r))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "reviews":
        reviews(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "matrix":
        matrix(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
