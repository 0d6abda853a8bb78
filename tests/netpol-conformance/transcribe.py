#!/usr/bin/env python3
"""Transcribes the standard conformance tests of sigs.k8s.io/network-policy-api,
and its experimental named-port tests (node-peer tests left out),
into data: cases/<ShortName>.json, one list of events per test, in the order
the Go test runs them (each t.Run is a step; t.Cleanup functions run at the
end of their step):

  {"step": NAME}                                        a t.Run
  {"poke": [CLIENT_NS, CLIENT_POD, PROTO, SERVER_NS, SERVER_POD, PORT, ALLOWED], "line": N}
  {"save": VAR, "policy": P, "dir": "egress", "i": I}   x := mutate.Spec.Egress[I]
  {"set": [P, DIR, I], "from_index": J} / "from_var": VAR   mutate.Spec.Egress[I] = ...
  {"set_action": [P, DIR, I], "action": A}
  {"set_priority": P, "priority": N}
  {"prepend": [P, DIR], "rule": RULE}                   networks "@ns/pod" = that pod's IP /32
  {"ns_labels": NS, "labels": {...}}                    PatchNamespace with SetLabels
  {"pod_label": [NS, POD, KEY], "value": V or null}     SetPodLabel / RemovePodLabel
  {"delete": [KIND, NS, NAME]}                          s.Client.Delete
  {"patch": P}                                          PatchClusterNetworkPolicy: the saved edits take effect

Run it against the module (the output is committed, reviewed by hand):
  tests/netpol-conformance/transcribe.py ~/.cache/loki-guard/gomod/sigs.k8s.io/network-policy-api@v0.3.0
Statements it does not recognise stop it with the file and line: nothing is skipped silently.
"""
import json
import os
import re
import sys

MOD = sys.argv[1]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
os.makedirs(OUT, exist_ok=True)
TESTS = os.path.join(MOD, "conformance", "tests")

CONSTS = {}
for f in os.listdir(TESTS):
    for m in re.finditer(r'const (\w+) = "([^"]*)"', open(os.path.join(TESTS, f)).read()):
        CONSTS[m.group(1)] = m.group(2)


def arg(s):
    s = s.strip()
    if s.startswith('"'):
        return s.strip('"')
    return CONSTS.get(s, s)


def statements(lines):
    """(line number, statement) with parentheses/braces of calls balanced."""
    buf, start, depth = "", 0, 0
    for n, line in enumerate(lines, 1):
        code = re.sub(r"//.*$", "", line).strip()
        if not code:
            continue
        if not buf:
            start = n
        buf += (" " if buf else "") + code
        depth += code.count("(") - code.count(")")
        # a composite literal spans lines until its braces close
        braces = buf.count("{") - buf.count("}")
        opens_block = buf.endswith("{") and re.match(r"(t\.Run|t\.Cleanup|Test:|func |var |if |\} else|import|Features|Manifests)", buf)
        if opens_block or (depth <= 0 and braces <= 0):
            yield start, buf
            buf, depth = "", 0


def transcribe(path, src=None):
    src = open(path).read() if src is None else src
    m = re.search(r'ShortName:\s*"(\w+)"', src)
    short = m.group(1)
    manifests = re.findall(r'Manifests:\s*\[\]string\{([^}]*)\}', src)[0]
    manifests = [x.strip().strip('"') for x in manifests.split(",") if x.strip()]
    events, pods, cleanup, in_cleanup = [], {}, [], 0
    policy = None
    rule_var = None
    target = events
    # block comments out, line numbers kept
    lines = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S).splitlines()
    body = False
    for n, st in statements(lines):
        if "Test: func(t *testing.T" in st:
            body = True
            continue
        if not body:
            continue
        if st.startswith("t.Run("):
            if cleanup:
                events.extend(cleanup)
                cleanup = []
            events.append({"step": re.match(r't\.Run\("((?:[^"\\]|\\.)*)"', st).group(1)})
            continue
        if st.startswith("t.Cleanup(func() {"):
            target = cleanup
            in_cleanup = 1
            continue
        if st in ("})", "},", "}", "})}", "}}"):
            if in_cleanup:
                in_cleanup = 0
                target = events
            continue
        g = re.match(r'(\w+)\s*:?=\s*kubernetes\.GetPod\(t, s\.Client, (.+?), (.+?), s\.TimeoutConfig\.GetTimeout\)$', st)
        if g:
            pods[g.group(1)] = (arg(g.group(2)), arg(g.group(3)))
            continue
        g = re.match(r'kubernetes\.PokeServer\(t, s\.ClientSet, &s\.KubeConfig, (.+?), (.+?), (.+?), (\w+)\.Status\.PodIP, int32\((\d+)\), s\.TimeoutConfig, (true|false)\)$', st)
        if g:
            sns, spod = pods[g.group(4)]
            target.append({"poke": [arg(g.group(1)), arg(g.group(2)), arg(g.group(3)), sns, spod, int(g.group(5)),
                                    g.group(6) == "true"], "line": n})
            continue
        g = re.match(r'cnp\s*:?=\s*kubernetes\.GetClusterNetworkPolicy\(t, s\.Client, (.+?), s\.TimeoutConfig\.GetTimeout\)$', st)
        if g:
            policy = arg(g.group(1))
            continue
        if re.match(r'mutate\s*:?=\s*cnp\.DeepCopy\(\)$', st):
            continue
        # Experimental named-port tests: `webPort := "web"`, a rule copied
        # (`mutate.DeepCopy().Spec.Ingress[5]` too), its protocols replaced.
        g = re.match(r'(\w+)\s*:=\s*"([^"]*)"$', st)
        if g:
            CONSTS[g.group(1)] = g.group(2)
            continue
        g = re.match(r'(\w+)\.Protocols\s*=\s*\[\]api\.ClusterNetworkPolicyProtocol\{\s*\{\s*DestinationNamedPort:\s*(\w+),?\s*\},?\s*\}$', st)
        if g:
            target.append({"set_named_port": g.group(1), "port": arg(g.group(2))})
            continue
        g = re.match(r'(\w+)\s*:?=\s*mutate(?:\.DeepCopy\(\))?\.Spec\.(Egress|Ingress)\[(\d+)\]$', st)
        if g:
            target.append({"save": g.group(1), "policy": policy, "dir": g.group(2).lower(), "i": int(g.group(3))})
            continue
        g = re.match(r'mutate\.Spec\.(Egress|Ingress)\[(\d+)\]\s*=\s*mutate\.Spec\.(Egress|Ingress)\[(\d+)\]$', st)
        if g:
            assert g.group(1) == g.group(3)
            target.append({"set": [policy, g.group(1).lower(), int(g.group(2))], "from_index": int(g.group(4))})
            continue
        g = re.match(r'mutate\.Spec\.(Egress|Ingress)\[(\d+)\]\s*=\s*(\w+)$', st)
        if g:
            target.append({"set": [policy, g.group(1).lower(), int(g.group(2))], "from_var": g.group(3)})
            continue
        g = re.match(r'mutate\.Spec\.(Egress|Ingress)\[(\d+)\]\.Action\s*=\s*api\.ClusterNetworkPolicyRuleAction(\w+)$', st)
        if g:
            target.append({"set_action": [policy, g.group(1).lower(), int(g.group(2))], "action": g.group(3)})
            continue
        g = re.match(r'mutate\.Spec\.Priority\s*=\s*(\d+)$', st)
        if g:
            target.append({"set_priority": policy, "priority": int(g.group(1))})
            continue
        if st.startswith("newRule := []api.ClusterNetworkPolicyEgressRule{"):
            name = re.search(r'Name:\s*"([^"]*)"', st).group(1)
            action = re.search(r'Action:\s*"([^"]*)"', st).group(1)
            nets = ["@%s/%s" % pods[v] for v in re.findall(r'api\.CIDR\((\w+)\.Status\.PodIP \+ mask\)', st)]
            rule_var = {"name": name, "action": action, "to": [{"networks": nets}]}
            continue
        g = re.match(r'mutate\.Spec\.(Egress|Ingress)\s*=\s*append\(newRule, mutate\.Spec\.(?:Egress|Ingress)\.\.\.\)$', st)
        if g:
            target.append({"prepend": [policy, g.group(1).lower()], "rule": rule_var})
            continue
        if re.match(r'kubernetes\.PatchClusterNetworkPolicy\(t, s\.Client, cnp, mutate, ', st):
            target.append({"patch": policy})
            continue
        g = re.match(r'namespace\s*:?=\s*kubernetes\.GetNamespace\(t, s\.Client, (.+?), ', st)
        if g:
            ns = arg(g.group(1))
            continue
        g = re.match(r'mutateNamespace\.SetLabels\(map\[string\]string\{(.*)\}\)$', st)
        if g:
            labels = dict(re.findall(r'"([^"]*)":\s*"([^"]*)"', g.group(1)))
            target.append({"ns_labels": ns, "labels": labels})
            continue
        if re.match(r'(mutateNamespace\s*:?=\s*namespace\.DeepCopy\(\)|kubernetes\.PatchNamespace\()', st):
            continue
        g = re.match(r'kubernetes\.SetPodLabel\(t, s\.Client, (.+?), (.+?), (.+?), (.+?), ', st)
        if g:
            target.append({"pod_label": [arg(g.group(1)), arg(g.group(2)), arg(g.group(3))], "value": arg(g.group(4))})
            continue
        g = re.match(r'kubernetes\.RemovePodLabel\(t, s\.Client, (.+?), (.+?), (.+?), ', st)
        if g:
            target.append({"pod_label": [arg(g.group(1)), arg(g.group(2)), arg(g.group(3))], "value": None})
            continue
        # Fetch-then-delete of a NetworkPolicy (integration test).
        if st.startswith("err := s.Client.Get(ctx, client.ObjectKey{"):
            obj = (re.search(r'Namespace:\s*"([^"]*)"', st).group(1), re.search(r'Name:\s*"([^"]*)"', st).group(1))
            continue
        if re.match(r'err = s\.Client\.Delete\(ctx, np\)$', st):
            target.append({"delete": ["NetworkPolicy", obj[0], obj[1]]})
            continue
        if re.match(r'(ctx, cancel := context|defer cancel\(\)|np := &networkingv1\.NetworkPolicy\{\}|require\.NoErrorf|var mask string|if net\.IsIPv4String|mask = |\} else \{|\}$)', st):
            continue
        if st.startswith("ConformanceTests = append") or st.startswith("var ") or st.startswith("ShortName") or st.startswith("Description") or st.startswith("Features") or st.startswith("suite.Support") or st.startswith("Manifests"):
            continue
        sys.exit("%s:%d: not transcribed: %s" % (path, n, st))
    events.extend(cleanup)
    return short, manifests, events


def tests_of(path):
    """(source text, first line) of each `var X = suite.ConformanceTest{` block, the
    rest of the file blanked so that line numbers stay those of the file."""
    src = open(path).read()
    starts = [m.start() for m in re.finditer(r"^var \w+ = suite\.ConformanceTest\{", src, flags=re.M)]
    for k, a in enumerate(starts):
        b = starts[k + 1] if k + 1 < len(starts) else len(src)
        yield re.sub(r"[^\n]", "", src[:a]) + src[a:b]


# The experimental tests that need only what a manifest has (named ports);
# the node-peer ones need the cluster's Node objects and are left out.
EXPERIMENTAL = {"CNPAdminTierEgressNamedPort", "CNPAdminTierIngressNamedPort", "CNPBaselineTierEgressNamedPort",
                "CNPBaselineTierIngressNamedPort"}

index = []
for f in sorted(os.listdir(TESTS)):
    if "standard" not in f and "experimental" not in f:
        continue
    for src in tests_of(os.path.join(TESTS, f)):
        name = re.search(r'ShortName:\s*"(\w+)"', src).group(1)
        if "experimental" in f and name not in EXPERIMENTAL:
            continue
        short, manifests, events = transcribe(os.path.join(TESTS, f), src)
        with open(os.path.join(OUT, short + ".json"), "w") as o:
            json.dump({"test": short, "source": "conformance/tests/" + f, "manifests": manifests, "events": events}, o, indent=1)
            o.write("\n")
        index.append((short, sum(1 for e in events if "poke" in e)))
for short, n in index:
    print(short, n)
print("total", sum(n for _, n in index))
