#!/usr/bin/env bash
# `loki-audit -f report` against the real kube-apiserver: the report CRDs are
# installed from their pinned Go modules (report-crds.sh), and what loki-audit
# prints is applied with kubectl, so the API server's own validation of the
# CRD schema (enums, required fields, types) is the oracle. Then the stored
# reports are read back: one per namespace, failures on the owning workload,
# passes for the clean one, summary counts matching the results.
set -uo pipefail
AUDIT=${1:?usage: test_reports.sh path/to/loki-audit}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
NS=lg-reports-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
k() { "$KUBECTL" "$@"; }
trap 'k delete namespace $NS ${NS}-b --wait=false >/dev/null 2>&1; rm -rf "$TMP"' EXIT

install_crds() {  # api kind...
  local api=$1 f
  shift
  for f in $("$ROOT/tests/cluster/report-crds.sh" "$api"); do
    k apply --server-side -f "$f" >/dev/null || return 1
  done
  for kind in "$@"; do k wait --for condition=established --timeout=60s "crd/$kind" >/dev/null || return 1; done
}
install_crds openreports reports.openreports.io clusterreports.openreports.io &&
  ok "OpenReports CRDs (reports-api module) installed" || fatal "installing the OpenReports CRDs"

k create namespace "$NS" >/dev/null
k create namespace "${NS}-b" >/dev/null
# An agent with a hostNetwork and privileged container (fails) and a hardened one (passes).
python3 - "$ROOT/manifests/examples/hardened/loki-agent.yaml" "$NS" >"$TMP/hardened.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        d["metadata"]["namespace"] = sys.argv[2]
        print(yaml.safe_dump(d))
PY
cat >"$TMP/broken.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken-agent, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: loki-mode, which: broken}}
  template:
    metadata: {labels: {app: loki-mode, which: broken}}
    spec:
      hostNetwork: true
      containers:
      - name: agent
        image: loki:1
        securityContext: {privileged: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other-agent, namespace: ${NS}-b}
spec:
  replicas: 1
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      containers:
      - name: agent
        image: loki:1
YAML
k apply -f "$TMP/broken.yaml" >/dev/null && k apply -f "$TMP/hardened.yaml" >/dev/null || fatal "applying workloads"
for i in $(seq 1 120); do
  n=$(k get pods -n "$NS" -l which=broken --no-headers 2>/dev/null | wc -l)
  [ "$n" -ge 2 ] && break
  sleep 0.5
done

SOURCE_DATE_EPOCH=1700000000 "$AUDIT" --namespace "$NS" -f report >"$TMP/report.yaml" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] && ok "-f report exits 1 on findings, as the other formats" || bad "-f report exit $rc" "$(cat "$TMP/err")"
if k apply -f "$TMP/report.yaml" >"$TMP/apply" 2>&1; then
  ok "kubectl apply accepts the report (CRD schema validation)"
else
  bad "kubectl apply refused the report" "$(cat "$TMP/apply"; head -50 "$TMP/report.yaml")"
fi
k get reports -n "$NS" loki-guard -o json >"$TMP/stored.json" 2>"$TMP/err" || bad "kubectl get reports" "$(cat "$TMP/err")"
python3 - "$TMP/stored.json" "$NS" <<'PY' && ok "stored report: failures on the Deployment, passes for the hardened agent, summary = results" || bad "stored report" "$(head -c 3000 "$TMP/stored.json")"
import json, sys
r, ns = json.load(open(sys.argv[1])), sys.argv[2]
res = r["results"]
fails = [x for x in res if x["result"] == "fail"]
assert r["source"] == "loki-guard", r.get("source")
assert any(x["policy"] == "privileged" for x in fails), "no privileged failure"
assert any(x["policy"] == "host-network" for x in fails), "no host-network failure"
for x in fails:
    for s in x["resources"]:
        assert s["namespace"] == ns, s
        if x["policy"] in ("privileged", "host-network"):
            assert s["kind"] == "Deployment" and s["name"] == "broken-agent", s
passes = {x["policy"]: x for x in res if x["result"] == "pass"}
names = {s["name"] for s in passes["privileged"]["resources"]}
assert "broken-agent" not in names and names, names
assert all(x["timestamp"]["seconds"] == 1700000000 for x in res)
counts = {k: sum(1 for x in res if x["result"] == k) for k in ("pass", "fail", "warn", "error", "skip")}
assert r["summary"] == counts, (r["summary"], counts)
PY
out=$(k get reports -n "$NS" 2>&1)
grep -q "loki-guard" <<<"$out" && ok "kubectl get reports lists it" || bad "kubectl get reports" "$out"

# -A: one report per namespace with agents, each applied.
"$AUDIT" -A -f report >"$TMP/all.yaml" 2>"$TMP/err"
python3 - "$TMP/all.yaml" "$NS" <<'PY' && ok "-A: a report for each namespace with agents" || bad "-A reports" "$(grep -E '^  namespace:' "$TMP/all.yaml")"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
nss = {d["metadata"].get("namespace") for d in docs}
assert {sys.argv[2], sys.argv[2] + "-b"} <= nss, nss
assert all(d["metadata"]["name"] == "loki-guard" for d in docs)
PY
# Only this test's namespaces: tests running alongside delete theirs meanwhile.
python3 - "$TMP/all.yaml" "$NS" >"$TMP/mine.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(yaml.safe_dump_all([d for d in docs if d["metadata"].get("namespace") in (sys.argv[2], sys.argv[2] + "-b")]))
PY
k apply -f "$TMP/mine.yaml" >"$TMP/apply" 2>&1 && ok "-A reports applied" || bad "applying -A reports" "$(cat "$TMP/apply")"

# The older API, for Policy Reporter releases that read wgpolicyk8s.io.
install_crds wgpolicy policyreports.wgpolicyk8s.io clusterpolicyreports.wgpolicyk8s.io &&
  ok "wgpolicyk8s.io CRDs (Kyverno module) installed" || bad "installing the wgpolicyk8s.io CRDs"
"$AUDIT" --namespace "$NS" -f report --report-api wgpolicy >"$TMP/wg.yaml" 2>/dev/null
if k apply -f "$TMP/wg.yaml" >"$TMP/apply" 2>&1; then
  ok "kubectl apply accepts the wgpolicyk8s.io PolicyReport"
else
  bad "kubectl apply refused the PolicyReport" "$(cat "$TMP/apply")"
fi
n=$(k get policyreports -n "$NS" loki-guard -o jsonpath='{.summary.fail}' 2>&1)
[[ "$n" =~ ^[1-9][0-9]*$ ]] && ok "PolicyReport stored with $n failures" || bad "PolicyReport summary" "$n"
summary
