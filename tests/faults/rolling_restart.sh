#!/usr/bin/env bash
# Fault test: rolling restart of two loki-webhook replicas under load.
#
#   rolling_restart.sh path/to/loki-webhook     (through tests/cluster/with-cluster-env)
#
# Replicas A and B listen on two loopback ports behind tests/faults/tcp_balancer.py
# (round robin over ready backends, the other one on a connect failure), whose
# address is the webhook URL registered with the real API server (failurePolicy:
# Fail). While a loop creates small pods with `kubectl apply`, A is restarted
# (SIGTERM, wait for the exit, start, wait for /readyz), then B.
# Expected: zero failed applies, each replica exits 0 within --shutdown-grace.
# Does not touch the API server: fine on the shared CTest cluster.
set -uo pipefail
WEBHOOK=${1:?usage: rolling_restart.sh path/to/loki-webhook}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
GRACE=${GRACE:-5}           # --shutdown-grace of the replicas
SETTLE=${SETTLE:-2}         # s between the restarts (the balancer probes every 0.2 s)
WORKERS=${WORKERS:-3}       # parallel kubectl apply loops
ROUNDS=${ROUNDS:-2}         # times A then B are restarted
TMP=$(mktemp -d)
TAG=rolling-$$
NS=lg-$TAG
PKI=$LOKI_CLUSTER_DIR/pki
CA=$PKI/ca.crt
k() { "$KUBECTL" --request-timeout=30s "$@"; }

declare -A PID PORT
LBPID=
LOADPIDS=
cleanup() {
  for p in $LOADPIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for r in A B; do [ -n "${PID[$r]:-}" ] && kill "${PID[$r]}" 2>/dev/null && wait "${PID[$r]}" 2>/dev/null; done
  [ -n "$LBPID" ] && kill "$LBPID" 2>/dev/null && wait "$LBPID" 2>/dev/null
  k delete validatingwebhookconfiguration "loki-guard-$TAG" >/dev/null 2>&1
  k delete namespace "$NS" --wait=false >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

sign_serving_cert "$CA" "$PKI/ca.key" "$TMP/tls"
cat >"$TMP/config.yaml" <<EOF
selector: app=loki-mode
exemptNamespaces: [kube-system]
EOF
PORT[A]=$(free_port)
PORT[B]=$(free_port)
LB=$(free_port)

start_replica() {  # A|B
  "$WEBHOOK" --listen "127.0.0.1:${PORT[$1]}" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
    --config "$TMP/config.yaml" --kubeconfig "$KUBECONFIG" --shutdown-grace "$GRACE" \
    >>"$TMP/webhook-$1.log" 2>&1 &
  PID[$1]=$!
  wait_https "https://127.0.0.1:${PORT[$1]}/readyz" "$CA" 300
}
for r in A B; do
  start_replica $r && ok "replica $r ready on port ${PORT[$r]}" || bad "replica $r not ready" "$(tail -10 "$TMP/webhook-$r.log")"
done
python3 "$HERE/tcp_balancer.py" --listen "$LB" --backend "127.0.0.1:${PORT[A]}" --backend "127.0.0.1:${PORT[B]}" \
  --ca "$CA" --stats "$TMP/lb-stats.json" >"$TMP/lb.log" 2>&1 &
LBPID=$!
wait_https "https://127.0.0.1:$LB/readyz" "$CA" 100 && ok "balancer on port $LB" || bad "balancer" "$(cat "$TMP/lb.log")"

k create namespace "$NS" >/dev/null
k label namespace "$NS" "loki-guard.io/enforce=$TAG" >/dev/null
register_pod_webhook "loki-guard-$TAG" "$TAG" "https://127.0.0.1:$LB/validate" "$CA" 10

pod() {  # name [hostNetwork]
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {app: loki-mode}}
spec:
  ${2:+hostNetwork: true}
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: agent
    image: loki:1
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
}
# The webhook is in the path: a hostNetwork pod is refused (waits for the
# configuration to take effect in the API server).
pod probe yes >"$TMP/hostnet.yaml"
for _ in $(seq 1 50); do
  if ! k apply --dry-run=server -f "$TMP/hostnet.yaml" >"$TMP/probe.out" 2>&1 &&
    grep -q "loki-guard denied" "$TMP/probe.out"; then break; fi
  sleep 0.2
done
grep -q "loki-guard denied" "$TMP/probe.out" && ok "the API server calls the webhook through the balancer" ||
  bad "webhook not in the path" "$(cat "$TMP/probe.out")"

# Load: WORKERS loops, each creating pod-W-1, pod-W-2, ... one kubectl apply
# after the other; one line per apply.
for w in $(seq 1 "$WORKERS"); do
  (
    i=0
    while :; do
      i=$((i + 1))
      t0=$(date +%s%N)
      if pod "pod-$w-$i" | k apply -f - >"$TMP/apply-$w-$i.out" 2>&1; then
        echo "$w-$i ok $(( ($(date +%s%N) - t0) / 1000000 ))"
        rm -f "$TMP/apply-$w-$i.out"
      else
        echo "$w-$i FAIL $(( ($(date +%s%N) - t0) / 1000000 ))"
      fi
    done
  ) >"$TMP/load-$w.log" 2>/dev/null &
  LOADPIDS="$LOADPIDS $!"
done
sleep "$SETTLE"

for r in $(for _ in $(seq 1 "$ROUNDS"); do echo A B; done); do
  t0=$(date +%s%N)
  kill -TERM "${PID[$r]}"
  wait "${PID[$r]}"
  rc=$?
  PID[$r]=
  exit_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ "$rc" = 0 ] && [ "$exit_ms" -le $((GRACE * 1000 + 1000)) ]; then
    ok "replica $r: SIGTERM -> exit 0 in $exit_ms ms (--shutdown-grace $GRACE)"
  else
    bad "replica $r: exit $rc after $exit_ms ms (grace ${GRACE}s)" "$(tail -5 "$TMP/webhook-$r.log")"
  fi
  t1=$(date +%s%N)
  if start_replica "$r"; then
    ok "replica $r restarted, /readyz 200 after $(( ($(date +%s%N) - t1) / 1000000 )) ms"
  else
    bad "replica $r did not become ready" "$(tail -10 "$TMP/webhook-$r.log")"
  fi
  sleep "$SETTLE"
done
for p in $LOADPIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
LOADPIDS=
# An apply killed mid-way is not counted: only complete lines.
cat "$TMP"/load-*.log | grep -E '^[0-9]+-[0-9]+ (ok|FAIL) [0-9]+$' >"$TMP/load.log"
kill -TERM "$LBPID"
wait "$LBPID" 2>/dev/null
LBPID=

applies=$(wc -l <"$TMP/load.log")
failed=$(grep -c ' FAIL ' "$TMP/load.log")
stats=$(python3 - "$TMP/load.log" <<'PY'
import sys
ms = sorted(int(l.split()[2]) for l in open(sys.argv[1]) if len(l.split()) == 3)
if ms:
    print(f"apply latency p50 {ms[len(ms)//2]} ms, p99 {ms[min(len(ms)-1, len(ms)*99//100)]} ms, max {ms[-1]} ms")
PY
)
if [ "$applies" -gt 0 ] && [ "$failed" = 0 ]; then
  ok "$applies kubectl applies during the rolling restart, 0 failed ($stats)"
else
  first=$(grep ' FAIL ' "$TMP/load.log" | head -1 | cut -d' ' -f1)
  bad "$failed of $applies applies failed" "$(cat "$TMP/apply-$first.out" 2>/dev/null)"
fi
# Every pod that kubectl reported created exists (an apply cut off by the
# end of the load may have created one more, never fewer).
k get pods -n "$NS" -o name | sed 's|^pod/||' | sort >"$TMP/existing.txt"
awk '$2 == "ok" {print "pod-" $1}' "$TMP/load.log" | sort >"$TMP/reported.txt"
missing=$(comm -23 "$TMP/reported.txt" "$TMP/existing.txt" | wc -l)
[ "$missing" = 0 ] && ok "all $(wc -l <"$TMP/reported.txt") pods reported created exist" ||
  bad "$missing pods reported created are missing" "$(comm -23 "$TMP/reported.txt" "$TMP/existing.txt" | head)"
both=$(cat "$TMP"/webhook-A.log "$TMP"/webhook-B.log | grep -c '"msg":"admission decision"')
echo "balancer: $(cat "$TMP/lb-stats.json" 2>/dev/null); admission decisions logged by A+B: $both"
grep -q '"retried": [1-9]\|"connect_failures": [1-9]' "$TMP/lb-stats.json" 2>/dev/null &&
  echo "(connect failures were retried on the other replica by the balancer)"
summary
