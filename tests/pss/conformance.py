#!/usr/bin/env python3
"""Conformance of loki-audit with the Pod Security Standards, on the fixtures of
k8s.io/pod-security-admission (the module the API server's Pod Security
Admission is built from), for every version directory v1.0 .. latest and both
levels (baseline, restricted).

  tests/pss/conformance.py path/to/loki-audit [--testdata DIR] [--verbose]

Each fixture breaks (fail/) or exercises (pass/) exactly one control on top of
a base pod (pass/base*.yaml). loki-guard checks pods, not the standard, so the
test compares each fixture with its closest base (fewest differing JSON
leaves):
  - every fail fixture must produce a finding (rule, field) that the base does
    not, from a rule that implements the fixture's control (CONTROL_RULES);
  - every pass fixture must produce no finding beyond the base's, except from
    the rules where loki-guard is deliberately stricter for agents (STRICTER).
Plus OVERRIDE_CASES: a bad pod-level value that every container overrides,
which Pod Security Admission refuses and the module's fixtures do not cover.
loki-guard implements the latest version of the standard; older versions are
checked too because their fixtures (legacy annotations, older value sets) are
pods that still exist in clusters.

Exit status: 0 all conformant, 1 any miss or extra finding, 77 (ctest skip)
when the module is not in the Go module cache and $CI is not set.
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

MODULE = "k8s.io/pod-security-admission@v0.36.3"
LEVELS = ("baseline", "restricted")

# The rules that implement each control (fixture file name without its number).
# A fail fixture counts as caught only by one of these.
CONTROL_RULES = {
    "allowprivilegeescalation": {"privilege-escalation"},
    "apparmorprofile": {"apparmor-unconfined"},
    "capabilities_baseline": {"capabilities-not-dropped"},
    "capabilities_restricted": {"capabilities-not-dropped"},
    "hostnamespaces": {"host-network", "host-pid", "host-ipc"},
    "hostpathvolumes": {"host-path-volume"},
    "hostports": {"host-port"},
    "hostprobesandhostlifecycle": {"host-probe"},
    "privileged": {"privileged"},
    "procmount": {"proc-mount-unmasked"},
    "procmount_restricted": {"proc-mount-unmasked"},
    # hostPath and gitRepo have rules of their own (a named escape each).
    "restrictedvolumes": {"restricted-volume-type", "host-path-volume", "git-repo-volume"},
    "runasnonroot": {"run-as-root"},
    "runasuser": {"run-as-root"},
    "seccompprofile_baseline": {"missing-seccomp", "seccomp-annotation-unconfined"},
    "seccompprofile_restricted": {"missing-seccomp"},
    "selinuxoptions": {"selinux-options"},
    "sysctls": {"unsafe-sysctl"},
    "windowshostprocess": {"windows-host-process"},
}

# Where loki-guard is stricter than the standard for agent pods, on purpose
# (each rule's description says why). A pass fixture may add findings of these.
STRICTER = {
    # Restricted allows adding NET_BIND_SERVICE, baseline the runtime's default
    # set: an agent needs no capability at all (listen on a port >= 1024).
    "capabilities-not-dropped": "no capability may be added back, not even NET_BIND_SERVICE",
    # Baseline (1.35+) allows any procMount in a user namespace; loki-guard
    # applies the restricted control at both levels.
    "proc-mount-unmasked": "Unmasked /proc is refused in user namespaces too",
}

ANNOT_SKIP = {("metadata", "name")}

# Pod-level values every container overrides. The module's fixtures never pair
# a bad pod value with containers that all override it, yet Pod Security
# Admission judges the pod's value on its own (an ephemeral container added
# later inherits it): policy/check_runAsNonRoot.go:83-85, check_runAsUser.go:83-84,
# check_seccompProfile_restricted.go:76-79. Each case is the restricted base pod
# (pass/base.yaml of the latest version) with the container values and the pod
# value set; fail cases must add a finding of the control's rule at `field`,
# the pass case none.
OVERRIDE_CASES = [
    ("fail", "runasnonroot", {"runAsNonRoot": False}, {"runAsNonRoot": True}, "/spec/securityContext/runAsNonRoot"),
    ("fail", "runasuser", {"runAsUser": 0}, {"runAsUser": 1000}, "/spec/securityContext/runAsUser"),
    ("fail", "seccompprofile_restricted", {"seccompProfile": {"type": "Unconfined"}},
     {"seccompProfile": {"type": "RuntimeDefault"}}, "/spec/securityContext/seccompProfile/type"),
    ("pass", "runasnonroot", {"runAsNonRoot": True, "runAsUser": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
     {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
     None),
]


def override_pod(pod_values, container_values):
    """The module's restricted base pod (pass/base.yaml) with the given values."""
    def container(name):
        sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        sc.update(container_values)
        return {"image": "registry.k8s.io/pause", "name": name, "securityContext": sc}
    psc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    psc.update(pod_values)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "override"},
            "spec": {"containers": [container("container1")], "initContainers": [container("initcontainer1")],
                     "securityContext": psc}}


def find_testdata(explicit):
    if explicit:
        return explicit
    try:
        cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        cache = os.path.join(os.environ.get("GOPATH", os.path.expanduser("~/go")), "pkg", "mod")
    return os.path.join(cache, MODULE, "test", "testdata")


def load_yaml(path):
    """The document, or without PyYAML its lines (compared as a multiset)."""
    with open(path) as f:
        text = f.read()
    try:
        import yaml  # PyYAML when installed
    except ImportError:
        return [l for l in text.splitlines() if not l.strip().startswith("name: ")]
    return yaml.safe_load(text)


def leaves(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, prefix + (i,))
    else:
        yield prefix, node


def distance(a, b):
    if isinstance(a, list):  # no PyYAML: lines
        ca, cb = collections.Counter(a), collections.Counter(b)
        return sum(((ca - cb) + (cb - ca)).values())
    la = {p: v for p, v in leaves(a) if p[:2] not in ANNOT_SKIP}
    lb = {p: v for p, v in leaves(b) if p[:2] not in ANNOT_SKIP}
    return sum(1 for p in la.keys() | lb.keys() if la.get(p, object()) != lb.get(p, object()))


def version_key(v):
    return tuple(int(x) for x in v[1:].split("."))


def control_of(path):
    return re.sub(r"\d+$", "", os.path.basename(path)[: -len(".yaml")])


def lint(binary, files):
    """file -> set of (rule, container, field) for every file, in batches.

    SARIF, not -f json: its fingerprint carries the finding's JSON pointer
    (rule|kind|namespace|name|container|field), which the JSON report leaves out.
    """
    out = {f: set() for f in files}
    for i in range(0, len(files), 1000):
        batch = files[i : i + 1000]
        r = subprocess.run(
            [binary, "lint", "--all-pods", "-f", "sarif", "--fail-on", "none", *batch], capture_output=True, text=True
        )
        if r.returncode != 0:
            sys.exit(f"loki-audit lint failed (exit {r.returncode}): {r.stderr.strip()}")
        for run in json.loads(r.stdout)["runs"]:
            for res in run["results"]:
                if res.get("suppressions"):
                    continue
                uri = urllib.parse.unquote(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
                rule, _kind, _ns, _name, container, field = res["partialFingerprints"]["lokiFinding/v1"].split("|", 5)
                out.setdefault(uri, set()).add((rule, container, field))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("loki_audit")
    ap.add_argument("--testdata")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    root = find_testdata(args.testdata)
    if not os.path.isdir(root):
        if os.environ.get("CI"):
            print(f"pss-conformance: {MODULE} is not in the Go module cache ({root}) and CI is set", file=sys.stderr)
            return 1
        print(f"pss-conformance: SKIP: {MODULE} not found at {root} (go mod download {MODULE})")
        return 77

    cases = []  # (level, version, kind, file, bases)
    files = []
    for level in LEVELS:
        versions = sorted((v for v in os.listdir(os.path.join(root, level)) if re.fullmatch(r"v\d+\.\d+", v)), key=version_key)
        for v in versions:
            d = os.path.join(root, level, v)
            passd, faild = os.path.join(d, "pass"), os.path.join(d, "fail")
            bases = sorted(os.path.join(passd, f) for f in os.listdir(passd) if re.fullmatch(r"base(_\w+)?\.yaml", f))
            files += bases
            for kind, dd in (("pass", passd), ("fail", faild)):
                if not os.path.isdir(dd):
                    continue
                for f in sorted(os.listdir(dd)):
                    p = os.path.join(dd, f)
                    if f.endswith(".yaml") and p not in bases:
                        cases.append((level, v, kind, p, bases))
                        files.append(p)
    if not any(c[2] == "fail" for c in cases):
        print(f"pss-conformance: no fail fixtures under {root}", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="pss-override-")
    latest = sorted((v for v in os.listdir(os.path.join(root, "restricted")) if re.fullmatch(r"v\d+\.\d+", v)),
                    key=version_key)[-1]
    override_base = os.path.join(root, "restricted", latest, "pass", "base.yaml")
    overrides = []  # (kind, control, file, field)
    for i, (kind, control, pod_values, container_values, field) in enumerate(OVERRIDE_CASES):
        f = os.path.join(tmp, f"{kind}-{control}{i}.yaml")
        with open(f, "w") as out:
            json.dump(override_pod(pod_values, container_values), out)  # JSON is YAML
        overrides.append((kind, control, f, field))
        files.append(f)
    if override_base not in files:
        files.append(override_base)
    try:
        findings = lint(args.loki_audit, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    docs = {}

    def doc(p):
        if p not in docs:
            docs[p] = load_yaml(p)
        return docs[p]

    table = {}  # (level, control) -> {version: [caught, total]}
    problems = []
    extras_allowed = {}
    for level, v, kind, p, bases in cases:
        base = min(bases, key=lambda b: (distance(doc(p), doc(b)), b))
        new = findings[p] - findings[base]
        control = control_of(p)
        if kind == "fail":
            want = CONTROL_RULES.get(control)
            hit = [x for x in new if want is None or x[0] in want]
            cell = table.setdefault((level, control), {}).setdefault(v, [0, 0])
            cell[1] += 1
            if hit:
                cell[0] += 1
                if args.verbose:
                    print(f"ok   {level}/{v}/fail/{os.path.basename(p)}: {sorted(hit)}")
            else:
                problems.append(f"MISS  {level}/{v}/fail/{os.path.basename(p)} (base {os.path.basename(base)}): "
                                f"no new finding from {sorted(want or ['any rule'])}; new: {sorted(new)}")
        else:
            extra = {x for x in new if x[0] not in STRICTER}
            for x in new - extra:
                extras_allowed.setdefault(x[0], set()).add(f"{level}/{v}/pass/{os.path.basename(p)}")
            if extra:
                problems.append(f"EXTRA {level}/{v}/pass/{os.path.basename(p)} (base {os.path.basename(base)}): {sorted(extra)}")

    print(f"pod-level values every container overrides (restricted {latest}, PSA check_*.go):")
    for kind, control, f, field in overrides:
        new = findings[f] - findings[override_base]
        if kind == "fail":
            hit = [x for x in new if x[0] in CONTROL_RULES[control] and x[2] == field]
            ok = bool(hit)
        else:
            hit = sorted(x for x in new if x[0] not in STRICTER)
            ok = not hit
        print(f"  {'ok  ' if ok else 'FAIL'} {kind} {control}: {sorted(hit) if hit else 'no new finding'}")
        if not ok:
            problems.append(f"OVERRIDE {kind} {control} ({os.path.basename(f)}): new findings {sorted(new)}, want "
                            f"{'a ' + '/'.join(sorted(CONTROL_RULES[control])) + ' finding at ' + field if field else 'none'}")

    # The table: one row per level x control, one column per version range
    # with the same counts (the fixtures change rarely between versions).
    total_c = total_n = 0
    for level in LEVELS:
        print(f"\n{level}: caught/total fail fixtures per control and version")
        for (lv, control), per in sorted(table.items()):
            if lv != level:
                continue
            vs = sorted(per, key=version_key)
            runs = []
            for ver in vs:
                c, n = per[ver]
                total_c += c
                total_n += n
                if runs and runs[-1][2] == (c, n):
                    runs[-1][1] = ver
                else:
                    runs.append([ver, ver, (c, n)])
            cells = ", ".join(f"{a}{'' if a == b else '..' + b}: {c}/{n}" for a, b, (c, n) in runs)
            print(f"  {control:28} {cells}")
    for level in LEVELS:
        latest = max((v for (lv, _), per in table.items() if lv == level for v in per), key=version_key)
        c = sum(per[latest][0] for (lv, _), per in table.items() if lv == level and latest in per)
        n = sum(per[latest][1] for (lv, _), per in table.items() if lv == level and latest in per)
        print(f"\n{level} {latest}: {c}/{n} fail fixtures caught")
    print(f"all versions, both levels: {total_c}/{total_n} fail fixtures caught; "
          f"{sum(1 for c in cases if c[2] == 'pass')} pass fixtures checked")
    if extras_allowed:
        print("stricter for agents (allowed on pass fixtures):")
        for rule, where in sorted(extras_allowed.items()):
            print(f"  {rule}: {len(where)} pass fixtures ({STRICTER[rule]})")
    for p in problems:
        print(p)
    print(f"\npss-conformance: {'FAIL' if problems else 'ok'} ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
