#!/usr/bin/env bash
# Cluster audit benchmark: a namespace with 5,000 pods and 500 NetworkPolicies
# in the real kube-apiserver of tests/cluster/up. Reports loki-audit's API
# time and analysis time (its --timing split), side by side with the floor
# for the same reads: `kubectl get pods,networkpolicies -o json` in the same
# run. Usage: bench/cluster_audit_bench.sh [PODS] [POLICIES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PODS=${1:-5000}
POLICIES=${2:-500}
export LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR:-$ROOT/build/bench-cluster}
"$ROOT/tests/cluster/up" >/dev/null
source "$LOKI_CLUSTER_DIR/env"
AUDIT=$ROOT/build/bin/loki-audit
NS=bench-audit
OUT=$ROOT/bench/out
mkdir -p "$OUT"
if ! "$KUBECTL" get namespace $NS >/dev/null 2>&1; then
  "$KUBECTL" create namespace $NS >/dev/null
  python3 - "$PODS" "$POLICIES" "$NS" >"$OUT/cluster-objects.yaml" <<'PY'
import random, sys
pods, pols, ns = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
for i in range(pods):
    app = "loki-mode" if rng.random() < 0.6 else rng.choice(["web", "api", "cache"])
    role = rng.choice(["backend", "agent", "batch"])
    hardened = rng.random() < 0.5
    print(f"""---
apiVersion: v1
kind: Pod
metadata:
  name: pod-{i}
  namespace: {ns}
  labels: {{app: {app}, role: {role}, team: t{i % 20}}}
spec:
  automountServiceAccountToken: {str(hardened).lower()}
  containers:
  - name: main
    image: registry.example.com/agent:{i % 7}
    env: [{{name: LOKI_NETWORK_EGRESS_POLICY, value: {rng.choice(['none', 'ai-only', 'unrestricted'])}}}]""")
    if hardened:
        print("    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}")
for i in range(pols):
    key, val = rng.choice([("app", "loki-mode"), ("role", "backend"), ("team", f"t{i % 20}")])
    types = rng.choice(["[Egress]", "[Ingress]", "[Ingress, Egress]"])
    print(f"""---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: pol-{i}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{{key}: {val}}}}}
  policyTypes: {types}
  egress:
  - to: [{{ipBlock: {{cidr: 10.{i % 250}.0.0/16}}}}]
    ports: [{{protocol: TCP, port: 443}}]""")
PY
  t0=$(date +%s.%N)
  "$KUBECTL" create -f "$OUT/cluster-objects.yaml" >/dev/null
  echo "created $PODS pods and $POLICIES policies in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kubectl_times=()
audit_api=()
audit_analysis=()
audit_wall=()
for i in 1 2 3; do
  t0=$(date +%s.%N)
  "$KUBECTL" get pods,networkpolicies -n $NS -o json >/dev/null
  kubectl_times+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  t0=$(date +%s.%N)
  "$AUDIT" -n $NS --timing -f json --fail-on none >/dev/null 2>"$OUT/timing.txt"
  audit_wall+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  audit_api+=("$(sed -E 's/.*API ([0-9.e-]+) s.*/\1/' "$OUT/timing.txt")")
  audit_analysis+=("$(sed -E 's/.*analysis ([0-9.e-]+) s.*/\1/' "$OUT/timing.txt")")
done
K=$(printf '%s\n' "${kubectl_times[@]}" | median)
W=$(printf '%s\n' "${audit_wall[@]}" | median)
A=$(printf '%s\n' "${audit_api[@]}" | median)
N=$(printf '%s\n' "${audit_analysis[@]}" | median)
RSS=$( { /usr/bin/time -f '%M' "$AUDIT" -n $NS -f json --fail-on none >/dev/null; } 2>&1 | tail -1)
cat <<MD | tee "$OUT/cluster_audit_bench.md"
| measurement ($PODS pods, $POLICIES NetworkPolicies, median of 3) | seconds | ratio to kubectl get |
|---|---:|---:|
| kubectl get pods,networkpolicies -o json (baseline: the reads alone) | $K | 1.00x |
| loki-audit wall time | $W | $(echo "scale=2; $W / $K" | bc)x |
| loki-audit API time (all lists, pages of 500) | $A | $(echo "scale=2; $A / $K" | bc)x |
| loki-audit analysis time | $N | $(echo "scale=2; $N / $K" | bc)x |

loki-audit peak RSS: $((RSS / 1024)) MB. $(cat "$OUT/timing.txt")
MD
