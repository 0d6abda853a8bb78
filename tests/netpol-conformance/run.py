#!/usr/bin/env python3
"""Replays the transcribed conformance tests of sigs.k8s.io/network-policy-api
v0.3.0 (cases/*.json, written by transcribe.py from conformance/tests/*standard*.go and
the named-port tests of *experimental*.go)
through `loki-audit explain --queries`, the engine the CLI uses: each poke
(client pod -> server pod, protocol, port, expected allowed/denied) is asked
with both sides evaluated, in the cluster state of that moment (every
mutation of a policy, namespace label and pod label before it applied, in
order). The upstream manifests (upstream/base, copied verbatim) give the
namespaces and policies; the StatefulSets become their pods (name-0, name-1,
with the labels the StatefulSet controller adds) with FIXED pod IPs
10.244.<house>.<10+ordinal> (the suite reads them from the live cluster; the
inline-CIDR tests need an address for `networks`).

  tests/netpol-conformance/run.py build/bin/loki-audit [-v]
Prints per test and in total how many pokes match; exit 1 if any does not.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
AUDIT = sys.argv[1]
VERBOSE = "-v" in sys.argv[2:]
EXPERIMENTAL_LEFT_OUT = [
    "CNPAdminTierEgressNodePeers and CNPBaselineTierEgressNodePeers (nodes peers: need the cluster's Node objects)",
]
HOUSES = {"gryffindor": 1, "slytherin": 2, "hufflepuff": 3, "ravenclaw": 4, "forbidden-forrest": 5}


def load(path):
    with open(os.path.join(HERE, "upstream", path)) as f:
        text = f.read()
    # The suite's template: host-network ports from 34345 up (utils/suite/suite.go defaults).
    text = re.sub(r"\{\{ index \.HostNetworkPorts (\d+) \}\}", lambda m: str(34345 + int(m.group(1))), text)
    return [d for d in yaml.safe_load_all(text) if d]


def base_state():
    namespaces, pods = {}, {}
    for d in load("base/manifests.yaml"):
        if d["kind"] == "Namespace":
            namespaces[d["metadata"]["name"]] = dict(d["metadata"].get("labels", {}))
        elif d["kind"] == "StatefulSet":
            ns = d["metadata"]["namespace"]
            house = HOUSES[ns.replace("network-policy-conformance-", "")]
            for i in range(d["spec"]["replicas"]):
                name = "%s-%d" % (d["metadata"]["name"], i)
                labels = dict(d["spec"]["template"]["metadata"]["labels"])
                labels["statefulset.kubernetes.io/pod-name"] = name
                labels["apps.kubernetes.io/pod-index"] = str(i)
                pods[(ns, name)] = {"labels": labels, "spec": d["spec"]["template"]["spec"],
                                    "ip": "10.244.%d.%d" % (house, 10 + i)}
    return namespaces, pods


def write_state(path, namespaces, pods, policies):
    docs = []
    for name, labels in namespaces.items():
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    for (ns, name), p in pods.items():
        docs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": ns, "labels": p["labels"]},
                     "spec": p["spec"], "status": {"podIP": p["ip"], "podIPs": [{"ip": p["ip"]}]}})
    docs.extend(policies)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)


def find(policies, name):
    for p in policies:
        if p["kind"] != "NetworkPolicy" and p["metadata"]["name"] == name:
            return p
    raise KeyError(name)


def run_case(case):
    namespaces, pods = base_state()
    policies = []
    for m in case["manifests"]:
        policies.extend(load(m))
    saved, pending, results = {}, [], []
    # The test edits a copy (mutate := cnp.DeepCopy()) and patches it in; the
    # live object changes at the patch.
    drafts = {}

    def draft(name):
        if name not in drafts:
            drafts[name] = copy.deepcopy(find(policies, name))
        return drafts[name]

    def flush():
        if not pending:
            return
        with tempfile.TemporaryDirectory() as tmp:
            write_state(os.path.join(tmp, "state.yaml"), namespaces, pods, policies)
            q = os.path.join(tmp, "queries.jsonl")
            with open(q, "w") as f:
                for e in pending:
                    cns, cpod, proto, sns, spod, port, _ = e["poke"]
                    f.write(json.dumps({"from": "pod/" + cpod, "namespace": cns,
                                        "to": "pod/%s:%d/%s" % (spod, port, proto.upper()), "to_namespace": sns}) + "\n")
            out = subprocess.run([AUDIT, "explain", "--queries", q, os.path.join(tmp, "state.yaml")],
                                 capture_output=True, text=True)
            answers = json.loads(out.stdout) if out.stdout.strip() else []
            if len(answers) != len(pending):
                sys.exit("%s: loki-audit explain failed: %s" % (case["test"], out.stderr))
        for e, a in zip(pending, answers):
            want = "allowed" if e["poke"][6] else "denied"
            got = a.get("verdict", "error: " + str(a.get("error")))
            results.append((e, want, got, a))
        pending.clear()

    for e in case["events"]:
        if "poke" in e:
            pending.append(e)
            continue
        flush()
        if "step" in e:
            results.append(("step", e["step"]))
        elif "save" in e:
            saved[e["save"]] = copy.deepcopy(draft(e["policy"])["spec"][e["dir"]][e["i"]])
        elif "set" in e:
            name, d, i = e["set"]
            rules = draft(name)["spec"][d]
            rules[i] = copy.deepcopy(rules[e["from_index"]] if "from_index" in e else saved[e["from_var"]])
        elif "set_named_port" in e:
            saved[e["set_named_port"]]["protocols"] = [{"destinationNamedPort": e["port"]}]
        elif "set_action" in e:
            name, d, i = e["set_action"]
            draft(name)["spec"][d][i]["action"] = e["action"]
        elif "set_priority" in e:
            draft(e["set_priority"])["spec"]["priority"] = e["priority"]
        elif "prepend" in e:
            name, d = e["prepend"]
            rule = copy.deepcopy(e["rule"])
            for peer in rule["to"]:
                peer["networks"] = [pods[tuple(n[1:].split("/"))]["ip"] + "/32" for n in peer["networks"]]
            draft(name)["spec"][d].insert(0, rule)
        elif "patch" in e:
            live = find(policies, e["patch"])
            live.clear()
            live.update(drafts.pop(e["patch"]))
        elif "ns_labels" in e:
            namespaces[e["ns_labels"]] = dict(e["labels"])
        elif "pod_label" in e:
            ns, pod, key = e["pod_label"]
            if e["value"] is None:
                pods[(ns, pod)]["labels"].pop(key, None)
            else:
                pods[(ns, pod)]["labels"][key] = e["value"]
        elif "delete" in e:
            kind, ns, name = e["delete"]
            policies[:] = [p for p in policies if not (p["kind"] == kind and p["metadata"].get("namespace") == ns
                                                       and p["metadata"]["name"] == name)]
        else:
            sys.exit("unknown event %r" % e)
    flush()
    return results


def short(ns):
    return ns.replace("network-policy-conformance-", "")


total = ok = 0
failed = []
for f in sorted(os.listdir(os.path.join(HERE, "cases"))):
    with open(os.path.join(HERE, "cases", f)) as fh:
        case = json.load(fh)
    res = run_case(case)
    n = sum(1 for r in res if r[0] != "step")
    good = sum(1 for r in res if r[0] != "step" and r[1] == r[2])
    total += n
    ok += good
    print("%-40s %3d/%3d  %s" % (case["test"], good, n, case["source"]))
    step = ""
    for r in res:
        if r[0] == "step":
            step = r[1]
            continue
        e, want, got, a = r
        cns, cpod, proto, sns, spod, port, _ = e["poke"]
        line = "  %s %s/%s -> %s/%s %s/%d: want %s, got %s (%s:%d)" % (
            "ok  " if want == got else "FAIL", short(cns), cpod, short(sns), spod, proto, port, want, got,
            case["source"], e["line"])
        if want != got:
            failed.append(case["test"])
            print(line + "\n    step: " + step)
            for side in ("egress", "ingress"):
                if side in a and a[side]:
                    print("    %s: %s" % (side, a[side].get("reason")))
        elif VERBOSE:
            print(line)
print("conformance: %d/%d pokes of %d tests (standard, and experimental named ports) as the suite expects" % (ok, total, len(os.listdir(os.path.join(HERE, "cases")))))
print("experimental tests left out: " + "; ".join(EXPERIMENTAL_LEFT_OUT))
sys.exit(1 if ok != total else 0)
