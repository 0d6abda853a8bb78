#!/usr/bin/env bash
# Cluster network policy (issue 21) against the real kube-apiserver: the
# ClusterNetworkPolicy CRD of sigs.k8s.io/network-policy-api (versions.env,
# standard channel) is installed, so the API server's schema and CEL rules
# validate every policy the test writes; then `loki-audit` (audit and explain)
# lists the policies live and its verdicts include the Admin tier.
set -uo pipefail
AUDIT=${1:?usage: test_cluster_netpol.sh path/to/loki-audit}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
NS=lg-cnp-$$
CNP=lg-cnp-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
k() { "$KUBECTL" "$@"; }
trap 'k delete clusternetworkpolicy $CNP --ignore-not-found >/dev/null 2>&1; k delete namespace $NS --wait=false >/dev/null 2>&1; rm -rf "$TMP"' EXIT

for f in $("$ROOT/tests/cluster/report-crds.sh" netpol); do k apply --server-side -f "$f" >/dev/null || fatal "applying $f"; done
k wait --for condition=established --timeout=60s crd/clusternetworkpolicies.policy.networking.k8s.io >/dev/null &&
  ok "ClusterNetworkPolicy CRD (network-policy-api $(sed -n 's/^NETWORK_POLICY_API_VERSION=//p' "$ROOT/tests/cluster/versions.env")) installed" ||
  fatal "ClusterNetworkPolicy CRD not established"

k create namespace "$NS" >/dev/null
k label namespace "$NS" lg-cnp-test="$NS" >/dev/null
cat >"$TMP/agent.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: $NS}
spec:
  replicas: 2  # the other replica is a destination in the agent's own namespace
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: agent
        image: loki:1
        env: [{name: LOKI_NETWORK_EGRESS_POLICY, value: none}]
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: $NS}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{}]
YAML
k apply -f "$TMP/agent.yaml" >/dev/null || fatal "applying the agent"
# The pod (Pending: no kubelet) carries the labels the policies select.
for _ in $(seq 60); do [ "$(k get pods -n "$NS" -o name 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.5; done

rules_of() { python3 -c 'import json, sys; print(" ".join(sorted({f["rule"] for f in json.load(sys.stdin)["findings"]})))'; }
audit() { "$AUDIT" --namespace "$NS" -f json --fail-on none 2>"$TMP/err" | rules_of; }

got=$(audit)
[[ " $got " == *" egress-policy-mismatch "* ]] &&
  ok "before any cluster policy: allow-all breaks the agent's 'none' promise" || bad "no egress-policy-mismatch before" "$got"

cnp() {  # action of the rule for the agent's own namespace (Pass or Deny)
  cat <<YAML
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: $CNP}
spec:
  tier: Admin
  priority: 10
  subject:
    pods:
      namespaceSelector: {matchLabels: {lg-cnp-test: $NS}}
      podSelector: {matchLabels: {app: loki-mode}}
  egress:
  - name: accept-dns
    action: Accept
    to:
    - pods:
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
        podSelector: {matchLabels: {k8s-app: kube-dns}}
    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {number: 53}}}]
  - name: own-namespace
    action: $1
    to: [{namespaces: {matchLabels: {lg-cnp-test: $NS}}}]
  - name: deny-everything-else
    action: Deny
    to: [{networks: ["0.0.0.0/0", "::/0"]}]
YAML
}
cnp Deny | k apply -f - >/dev/null && ok "the API server accepts the Admin-tier ClusterNetworkPolicy (schema, CEL)" ||
  fatal "applying the ClusterNetworkPolicy"
got=$(audit)
[[ " $got " != *" egress-policy-mismatch "* && " $got " != *" egress-unrestricted "* ]] &&
  ok "live audit lists the ClusterNetworkPolicy: the Admin Deny keeps the promise whatever allow-all says" ||
  bad "live audit ignores the Admin tier" "$got"$'\n'"$(cat "$TMP/err")"

"$AUDIT" explain deployment/agent -n "$NS" --to 1.1.1.1:443 -f json >"$TMP/explain.json" 2>"$TMP/err"
python3 - "$TMP/explain.json" "$CNP" <<'PY' && ok "live explain: denied by the Admin tier, the NetworkPolicy never consulted" || bad "live explain" "$(cat "$TMP/explain.json" "$TMP/err")"
import json, sys
j = json.load(open(sys.argv[1]))
e = j["egress"]
assert j["verdict"] == "denied", j
assert e["tier"] == "Admin" and e["policy"] == "ClusterNetworkPolicy " + sys.argv[2], e
assert "allow-all is never consulted" in e["reason"], e
PY

cnp Pass | k apply -f - >/dev/null || fatal "updating the ClusterNetworkPolicy"
got=$(audit)
[[ " $got " == *" egress-policy-mismatch "* ]] &&
  ok "an Admin Pass hands the agent's own namespace to allow-all: the promise is broken again" || bad "Pass not followed" "$got"
k delete networkpolicy allow-all -n "$NS" >/dev/null
got=$(audit)
[[ " $got " == *" cluster-pass-unisolated "* ]] &&
  ok "no NetworkPolicy isolates the agent: cluster-pass-unisolated" || bad "no cluster-pass-unisolated" "$got"
summary
