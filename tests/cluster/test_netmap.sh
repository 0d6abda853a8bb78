#!/usr/bin/env bash
# loki-audit netmap --cluster and explain (same live loader) against the real
# kube-apiserver of tests/cluster/up: live pods stand for their workloads, an
# ipBlock egress rule is decided by a pod IP set through the status subresource
# (no kubelet, so pods stay Pending without one), the context's namespace, an
# unknown namespace, and a namespace-scoped user that cannot list kube-system.
#
#   tests/cluster/with-cluster-env tests/cluster/test_netmap.sh build/bin/loki-audit
set -uo pipefail
AUDIT=${1:?usage: test_netmap.sh path/to/loki-audit}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
: "${LOKI_RESTRICTED_KUBECONFIG:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
TMP=$(mktemp -d)
NS=lg-netmap-$$
k() { "$KUBECTL" "$@"; }
trap 'k delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1; rm -rf "$TMP"' EXIT
run() {  # name want_exit cmd...  (stdout in $TMP/out, stderr in $TMP/err)
  local name=$1 want=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want" "$(cat "$TMP/err" "$TMP/out")"; fi
}
has() {  # name file pattern
  if grep -qE -- "$3" "$2"; then ok "$1"; else bad "$1: no /$3/ in $2" "$(cat "$2")"; fi
}

# ---- an agent Deployment, a bare pod "web" and their policies -------------------
IMG="example/app@sha256:$(printf '0%.0s' $(seq 64))"
k create namespace "$NS" >/dev/null
cat >"$TMP/objects.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      containers: [{name: agent, image: "$IMG"}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: $NS, labels: {app: web}}
spec:
  containers: [{name: web, image: "$IMG", ports: [{containerPort: 80}]}]
---
# Only the pod network: whether web is reachable depends on its live IP.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent-egress, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.244.1.0/24}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: loki-mode}}}]
    ports: [{port: 80, protocol: TCP}]
EOF
if k apply -f "$TMP/objects.yaml" >"$TMP/apply.log" 2>&1; then ok "kubectl apply"; else bad "kubectl apply" "$(cat "$TMP/apply.log")"; fi
n=0
for _ in $(seq 1 120); do
  n=$(k get pods -n "$NS" -l app=loki-mode --no-headers 2>/dev/null | wc -l)
  [ "$n" -ge 1 ] && break
  sleep 0.5
done
[ "$n" -ge 1 ] && ok "controller-manager created the agent pod" || bad "no agent pod was created"

# Without an IP the ipBlock rule cannot be settled.
run "netmap --cluster before web has an IP" 0 "$AUDIT" netmap --cluster -n "$NS" -f json
python3 - "$TMP/out" <<'PY' && ok "agent to web is conditional without web's IP" || bad "conditional before the IP" "$(head -c 3000 "$TMP/out")"
import json, sys
c = [x for x in json.load(open(sys.argv[1]))["connections"] if x["from"].startswith("Pod ") and x["to"].endswith("/web")]
assert len(c) == 1 and c[0]["verdict"] == "conditional", c
PY

if k patch pod web -n "$NS" --subresource=status --type=merge \
  -p '{"status":{"podIP":"10.244.1.7","podIPs":[{"ip":"10.244.1.7"}]}}' >"$TMP/patch.log" 2>&1 &&
  [ "$(k get pod web -n "$NS" -o jsonpath='{.status.podIPs[0].ip}')" = 10.244.1.7 ]; then
  ok "web's podIPs set through the status subresource"
else
  bad "kubectl patch --subresource=status" "$(cat "$TMP/patch.log")"
fi

# ---- netmap --cluster -----------------------------------------------------------
run "netmap --cluster -n NS -f json" 0 "$AUDIT" netmap --cluster -n "$NS" -f json
python3 - "$TMP/out" "$NS" <<'PY' && ok "netmap --cluster: live pods stand for their workloads, ipBlock decided by the pod IP" || bad "netmap --cluster json" "$(head -c 3000 "$TMP/out")"
import json, sys
j, ns = json.load(open(sys.argv[1])), sys.argv[2]
assert j["namespace"] == ns
pods = {p["id"]: p for p in j["pods"]}
agents = [i for i in pods if i.startswith(f"Pod {ns}/agent-")]
assert len(agents) == 1 and pods[agents[0]]["agent"], pods
assert f"Deployment {ns}/agent" not in pods, "the Deployment must be represented by its live pod"
assert pods[f"Pod {ns}/web"]["ips"] == ["10.244.1.7"] and not pods[f"Pod {ns}/web"]["agent"], pods
c = {(x["from"], x["to"]): x for x in j["connections"]}
aw = c[(agents[0], f"Pod {ns}/web")]
assert aw["verdict"] == "allowed" and aw["text"] == "TCP/80", aw  # ipBlock holds web's IP; web's ingress: port 80
assert c[(agents[0], "internet")]["verdict"] == "denied"
assert c[(agents[0], "metadata")]["verdict"] == "denied"
PY
if grep -q "note: namespace kube-system" "$TMP/err"; then
  bad "admin may list kube-system: no note expected" "$(cat "$TMP/err")"
else
  ok "admin: kube-system listed without a note"
fi

# Text, in the kubeconfig context's namespace (no -n).
cp "$KUBECONFIG" "$TMP/ns.kubeconfig"
k config set-context --current --namespace "$NS" --kubeconfig "$TMP/ns.kubeconfig" >/dev/null
run "netmap --cluster text (the context's namespace)" 0 "$AUDIT" netmap --cluster --kubeconfig "$TMP/ns.kubeconfig" --color never
has "text header names the namespace" "$TMP/out" "^Namespace $NS: pods or workloads 2, agents \(\*\) 1"
has "text row: agent to web TCP/80, internet and metadata denied" "$TMP/out" \
  '^\[1\] Pod/agent-[a-z0-9-]+ \* +=  +TCP/80 +denied +denied'
has "text row: web (not egress-isolated) reaches the internet" "$TMP/out" '^\[2\] Pod/web +all +=  +allowed !'

# ---- explain through the same loader ------------------------------------------
run "explain deployment/agent --to pod/web:80" 0 "$AUDIT" explain deployment/agent -n "$NS" --to pod/web:80
has "explain: allowed by both policies" "$TMP/out" "^To pod/web:80: ALLOWED"
run "explain deployment/agent --to pod/web:8080 (web's ingress denies)" 1 \
  "$AUDIT" explain deployment/agent -n "$NS" --to pod/web:8080
has "explain: denied by web's ingress" "$TMP/out" "ingress-isolated by NetworkPolicy $NS/web-ingress"

# ---- errors and a namespace-scoped user ------------------------------------------
run "netmap --cluster: unknown namespace" 2 "$AUDIT" netmap --cluster -n "does-not-exist-$$"
has "unknown namespace message" "$TMP/err" "namespace \"does-not-exist-$$\" not found"
# User "restricted" may read this namespace only; the DNS column's kube-system is then optional.
cat >"$TMP/rbac.yaml" <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: netmap-reader, namespace: $NS}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, replicationcontrollers]
  verbs: [get, list]
- apiGroups: [apps, batch]
  resources: ["*"]
  verbs: [get, list]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: netmap-reader, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: netmap-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: restricted}
EOF
k apply -f "$TMP/rbac.yaml" >/dev/null
run "restricted: cannot list kube-system" 1 "$KUBECTL" --kubeconfig "$LOKI_RESTRICTED_KUBECONFIG" get pods -n kube-system
run "restricted: netmap --cluster still maps its namespace" 0 \
  "$AUDIT" netmap --cluster --kubeconfig "$LOKI_RESTRICTED_KUBECONFIG" -n "$NS" -f json
has "restricted: kube-system forbidden is a note" "$TMP/err" "note: namespace kube-system not listed \(forbidden \(403\)"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['pods']) == 2, j['pods']" "$TMP/out" &&
  ok "restricted: both pods mapped" || bad "restricted: pods" "$(head -c 3000 "$TMP/out")"

summary
