#!/usr/bin/env bash
# Smoke test of the real test cluster (run tests/cluster/up first):
#  - kubectl apply a Namespace + Deployment (label app=loki-mode)
#  - kube-controller-manager creates a ReplicaSet and a Pod (Pending: no kubelet)
#  - the Pod's controller ownerReference points at that ReplicaSet, and the
#    ReplicaSet's at the Deployment
#  - the restricted token user is authenticated but Forbidden from listing
#    NetworkPolicies; the admin token and admin client cert both work
# Exit status is non-zero on the first failure, with a message saying what.
set -euo pipefail
CLUSTER_PROG=smoke
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ -f "$LOKI_CLUSTER_DIR/env" ]] || cdie "no $LOKI_CLUSTER_DIR/env: start the cluster with tests/cluster/up first"
# shellcheck disable=SC1091
source "$LOKI_CLUSTER_DIR/env"
TIMEOUT="${LOKI_SMOKE_TIMEOUT:-90}"

# shellcheck source=../lib.sh
source "$cluster_repo/tests/lib.sh"
test_prefix="smoke: "
k()  { "$KUBECTL" --kubeconfig "$LOKI_ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }

ns="loki-smoke-$(date +%s)-$$"
cleanup() { k delete namespace "$ns" --wait=false --ignore-not-found >/dev/null 2>&1 || true; }
trap cleanup EXIT

# poll TIMEOUT COMMAND... : prints the command's stdout once it is non-empty.
poll() {
  local deadline=$(( $(date +%s) + $1 )) out; shift
  while :; do
    out="$("$@" 2>/dev/null || true)"
    if [[ -n "$out" ]]; then printf '%s' "$out"; return 0; fi
    (( $(date +%s) < deadline )) || return 1
    sleep 0.5
  done
}

# 1. apply
k apply -f - >/dev/null <<EOF || fatal "kubectl apply of Namespace $ns + Deployment failed"
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    app: loki-mode
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: loki-mode
  namespace: $ns
  labels:
    app: loki-mode
spec:
  replicas: 1
  selector:
    matchLabels:
      app: loki-mode
  template:
    metadata:
      labels:
        app: loki-mode
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
EOF
ok "applied Namespace $ns and Deployment loki-mode"

# 2. ReplicaSet created by the deployment controller
rs="$(poll "$TIMEOUT" k get replicasets -n "$ns" -l app=loki-mode -o 'jsonpath={.items[0].metadata.name}')" \
  || fatal "no ReplicaSet for Deployment $ns/loki-mode after ${TIMEOUT}s (is kube-controller-manager running? see $LOKI_CLUSTER_DIR/logs/kube-controller-manager.log)"
rs_owner="$(k get replicaset -n "$ns" "$rs" -o 'jsonpath={range .metadata.ownerReferences[?(@.controller==true)]}{.kind}/{.name}{end}')"
[[ "$rs_owner" == "Deployment/loki-mode" ]] || fatal "ReplicaSet $rs controller ownerReference is '$rs_owner', want Deployment/loki-mode"
ok "ReplicaSet $rs exists, owned by Deployment/loki-mode"

# 3. Pod created by the replicaset controller, Pending (no scheduler/kubelet)
pod="$(poll "$TIMEOUT" k get pods -n "$ns" -l app=loki-mode -o 'jsonpath={.items[0].metadata.name}')" \
  || fatal "no Pod for ReplicaSet $ns/$rs after ${TIMEOUT}s"
phase="$(k get pod -n "$ns" "$pod" -o 'jsonpath={.status.phase}')"
[[ "$phase" == "Pending" ]] || fatal "Pod $pod phase is '$phase', want Pending (no kubelet in this cluster)"
ok "Pod $pod exists (phase $phase)"

# 4. ownerReferences Pod -> ReplicaSet
pod_owner="$(k get pod -n "$ns" "$pod" -o 'jsonpath={range .metadata.ownerReferences[?(@.controller==true)]}{.apiVersion}/{.kind}/{.name}{end}')"
rs_uid="$(k get replicaset -n "$ns" "$rs" -o 'jsonpath={.metadata.uid}')"
pod_owner_uid="$(k get pod -n "$ns" "$pod" -o 'jsonpath={.metadata.ownerReferences[0].uid}')"
[[ "$pod_owner" == "apps/v1/ReplicaSet/$rs" ]] || fatal "Pod $pod controller ownerReference is '$pod_owner', want apps/v1/ReplicaSet/$rs"
[[ -n "$rs_uid" && "$pod_owner_uid" == "$rs_uid" ]] || fatal "Pod $pod ownerReference uid '$pod_owner_uid' != ReplicaSet uid '$rs_uid'"
ok "Pod $pod ownerReferences -> ReplicaSet $rs (uid $rs_uid)"

# 5. the pod got the namespace's default ServiceAccount (ServiceAccount admission + token controller)
sa="$(k get pod -n "$ns" "$pod" -o 'jsonpath={.spec.serviceAccountName}')"
[[ "$sa" == "default" ]] || fatal "Pod $pod serviceAccountName is '$sa', want default"
ok "Pod $pod runs as ServiceAccount $ns/default"

# 6. restricted user: authenticated, but Forbidden on networkpolicies
set +e
out="$("$KUBECTL" --kubeconfig "$LOKI_RESTRICTED_KUBECONFIG" --request-timeout=10s get networkpolicies -n "$ns" 2>&1)"
rc=$?
set -e
(( rc != 0 )) || fatal "restricted user could list networkpolicies in $ns (want Forbidden): $out"
grep -q 'Forbidden' <<<"$out" || fatal "restricted user: want a Forbidden error, got (exit $rc): $out"
grep -q 'User "restricted"' <<<"$out" || fatal "restricted user: error does not name User \"restricted\" (authentication problem?): $out"
ok "restricted user is Forbidden to list networkpolicies in $ns"

# 7. the admin static token authenticates as a cluster admin too
can="$("$KUBECTL" --kubeconfig "$LOKI_ADMIN_TOKEN_KUBECONFIG" --request-timeout=10s auth can-i '*' '*' --all-namespaces 2>&1 || true)"
[[ "$can" == "yes" ]] || fatal "admin token: 'auth can-i * *' answered '$can', want yes"
ok "admin token has cluster-admin rights"

summary
