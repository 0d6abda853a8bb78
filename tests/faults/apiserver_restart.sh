#!/usr/bin/env bash
# Fault test: kube-apiserver goes away under a running loki-webhook, then comes back.
#
#   apiserver_restart.sh path/to/loki-webhook
#
# Stops ONLY kube-apiserver (etcd and the controller-manager keep running),
# so it runs on a cluster of its own, never the shared CTest one:
#   LOKI_FAULTS_CLUSTER_DIR  state dir of that cluster (default: a temp dir).
#       If a cluster already runs there it is reused and left running;
#       otherwise one is started on free loopback ports and removed at exit.
# Checks:
#   - /readyz turns 503 with the reason within READY_BOUND s of the stop,
#   - a policy-dependent review (agent pod, LOKI_NETWORK_EGRESS_POLICY=none)
#     POSTed to /validate is denied "NetworkPolicy state is unknown ...
#     cacheUnavailable: deny" (the default), and the webhook keeps answering
#     (zero failed HTTP requests during the outage),
#   - a deny-all-egress policy is created DURING the outage through a second
#     kube-apiserver on the same etcd (an HA control plane where the
#     webhook's API server is the one that went away),
#   - after the restart /readyz is 200 again within RECOVER_BOUND s, the
#     webhook logged the failed watch and the re-list (and counts it in
#     loki_webhook_policy_cache_relists_total), and the policy created during
#     the outage is enforced: the same review is now allowed, kubectl apply
#     admits the agent and refuses one the policy does not select.
# Prints the measured times and request counts.
set -uo pipefail
WEBHOOK=${1:?usage: apiserver_restart.sh path/to/loki-webhook}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
READY_BOUND=${READY_BOUND:-15}      # s from the stop to /readyz 503
RECOVER_BOUND=${RECOVER_BOUND:-45}  # s from kube-apiserver ready to /readyz 200 (reflector backoff <= 30 s)
OUTAGE=${OUTAGE:-8}                 # s the API server stays down
TMP=$(mktemp -d)
TAG=apirestart-$$
NS=lg-$TAG

# ---- our own cluster --------------------------------------------------------
CDIR=${LOKI_FAULTS_CLUSTER_DIR:-$TMP/cluster}
mkdir -p "$CDIR"
CDIR=$(cd "$CDIR" && pwd -P)
SHARED=$(cd "$ROOT/build" 2>/dev/null && pwd -P)/cluster
if [ "$CDIR" = "$SHARED" ] || { [ -n "${LOKI_CLUSTER_DIR:-}" ] && [ -d "$LOKI_CLUSTER_DIR" ] &&
  [ "$CDIR" = "$(cd "$LOKI_CLUSTER_DIR" && pwd -P)" ]; }; then
  echo "apiserver_restart.sh: refusing to stop the API server of the shared cluster $CDIR;" \
    "set LOKI_FAULTS_CLUSTER_DIR to a dir of its own" >&2
  exit 2
fi
unset KUBECONFIG KUBECTL LOKI_CLUSTER_SERVER LOKI_CLUSTER_CA
export LOKI_CLUSTER_DIR=$CDIR
OWN_CLUSTER=1
if [ -f "$CDIR/env" ] && "$ROOT/tests/cluster/component" status kube-apiserver >/dev/null 2>&1; then
  OWN_CLUSTER=0  # already running: reuse, leave it running
fi
WPID=
LOADPID=
BPID=
cleanup() {
  [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null && wait "$LOADPID" 2>/dev/null
  [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
  [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
  if [ -n "${KUBECTL:-}" ]; then
    "$KUBECTL" delete validatingwebhookconfiguration "loki-guard-$TAG" --request-timeout=10s >/dev/null 2>&1
    "$KUBECTL" delete namespace "$NS" --wait=false --request-timeout=10s >/dev/null 2>&1
  fi
  if [ "$OWN_CLUSTER" = 1 ]; then "$ROOT/tests/cluster/down" >/dev/null 2>&1; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$OWN_CLUSTER" = 1 ] && [ ! -f "$CDIR/ports" ]; then
  # Explicit free ports: never the defaults the shared cluster may be using.
  export LOKI_ETCD_PORT=$(free_port) LOKI_ETCD_PEER_PORT=$(free_port)
  export LOKI_APISERVER_PORT=$(free_port) LOKI_KCM_PORT=$(free_port)
fi
if ! "$ROOT/tests/cluster/up" >"$TMP/up.log" 2>&1; then
  bad "own cluster up in $CDIR" "$(tail -30 "$TMP/up.log")"
  summary
  exit 1
fi
# shellcheck disable=SC1091
source "$CDIR/env"
PATH="$LOKI_K8S_BIN:$PATH"
k() { "$KUBECTL" --request-timeout=20s "$@"; }
ok "own cluster $LOKI_CLUSTER_SERVER (state $CDIR)"

# ---- the webhook --------------------------------------------------------------
PKI=$LOKI_CLUSTER_DIR/pki
CA=$PKI/ca.crt
sign_serving_cert "$CA" "$PKI/ca.key" "$TMP/tls"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
cat >"$TMP/config.yaml" <<EOF
selector: app=loki-mode
exemptNamespaces: [kube-system]
EOF
"$WEBHOOK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
  --config "$TMP/config.yaml" --kubeconfig "$KUBECONFIG" >>"$TMP/webhook.log" 2>&1 &
WPID=$!
wait_https "$URL/readyz" "$CA" 150 && ok "webhook ready (cache synced)" ||
  bad "webhook not ready" "$(tail -20 "$TMP/webhook.log")"

k create namespace "$NS" >/dev/null
k label namespace "$NS" "loki-guard.io/enforce=$TAG" >/dev/null
register_pod_webhook "loki-guard-$TAG" "$TAG" "$URL/validate" "$CA" 5

agent_pod() {  # name labels
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {$2}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: agent
    image: loki:1
    env: [{name: LOKI_NETWORK_EGRESS_POLICY, value: none}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
}
agent_pod agent "app: loki-mode, role: agent" >"$TMP/agent.yaml"
agent_pod stray "app: loki-mode" >"$TMP/stray.yaml"

# The AdmissionReview the API server would send for agent.yaml.
python3 - "$NS" >"$TMP/review.json" <<'PY'
import json, sys, uuid
# The same object as agent.yaml.
obj = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "agent", "namespace": sys.argv[1], "labels": {"app": "loki-mode", "role": "agent"}},
       "spec": {"automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "agent", "image": "loki:1",
                                "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "none"}],
                                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                    "capabilities": {"drop": ["ALL"]}}}]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                              "resource": {"group": "", "version": "v1", "resource": "pods"},
                              "namespace": sys.argv[1], "name": "agent", "operation": "CREATE",
                              "userInfo": {"username": "fault-test"}, "object": obj}}))
PY
# review OUT: POST the review to /validate; prints "HTTP-code allowed|denied|error stale|fresh"
# (stale: denied because the NetworkPolicy state is unknown).
review() {
  local code
  code=$(curl -s --max-time 5 --cacert "$CA" -o "$1" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$TMP/review.json" "$URL/validate" 2>/dev/null)
  python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))["response"]
    stale = "state is unknown" in r.get("status", {}).get("message", "")
    print(sys.argv[2], "allowed" if r["allowed"] else "denied", "stale" if stale else "fresh")
except Exception:
    print(sys.argv[2], "error", "-")' "$1" "${code:-000}"
}
msg_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response"]["status"]["message"])' "$1" 2>/dev/null; }

# Before the fault: no policy, so the agent that promises no egress is refused on the policy itself.
r=$(review "$TMP/before.json")
[ "$r" = "200 denied fresh" ] &&
  ok "before: the agent is refused on the NetworkPolicies (no deny-all yet)" ||
  bad "before: review gave '$r'" "$(head -c 1500 "$TMP/before.json")"

# ---- a second kube-apiserver on the same etcd (HA control plane) ---------------------
# Same flags as the first (read from its command line), its own port and serving-cert dir. The webhook only
# knows the first one; the second is how the cluster keeps changing while the first is down.
B_PORT=$(free_port)
apid=$("$ROOT/tests/cluster/component" status kube-apiserver)
mapfile -d '' api_args <"/proc/$apid/cmdline"
b_args=()
for a in "${api_args[@]}"; do
  case "$a" in
    --secure-port=*) b_args+=("--secure-port=$B_PORT") ;;
    --cert-dir=*) b_args+=("--cert-dir=$TMP/apiserver-b-certs") ;;
    *) b_args+=("$a") ;;
  esac
done
"${b_args[@]}" >"$TMP/apiserver-b.log" 2>&1 &
BPID=$!
kb() { "$KUBECTL" --request-timeout=20s --server="https://127.0.0.1:$B_PORT" "$@"; }
for _ in $(seq 1 600); do
  kb get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.1
done
kb get --raw /readyz >/dev/null 2>&1 && ok "second kube-apiserver on 127.0.0.1:$B_PORT (same etcd) ready" ||
  bad "second kube-apiserver not ready" "$(tail -20 "$TMP/apiserver-b.log")"

# Load during the whole fault: one policy-dependent review every 0.2 s.
(
  while :; do
    printf '%s %s\n' "$(date +%s%N)" "$(review "$TMP/load.json")"
    sleep 0.2
  done
) >"$TMP/load.log" 2>/dev/null &
LOADPID=$!
sleep 1

# ---- stop kube-apiserver only -----------------------------------------------------
t_stop=$(date +%s%N)
"$ROOT/tests/cluster/component" stop kube-apiserver 2>"$TMP/stop.log"
t_stopped=$(date +%s%N)
"$ROOT/tests/cluster/component" status etcd >/dev/null && curl -fsS --max-time 2 "$LOKI_ETCD_URL/health" >/dev/null &&
  ! "$ROOT/tests/cluster/component" status kube-apiserver >/dev/null &&
  ok "kube-apiserver stopped in $(( (t_stopped - t_stop) / 1000000 )) ms, etcd still running" ||
  bad "stop kube-apiserver only" "$(cat "$TMP/stop.log")"

t_503=
for _ in $(seq 1 $((READY_BOUND * 10))); do
  code=$(curl -s --max-time 2 --cacert "$CA" -o "$TMP/readyz.txt" -w '%{http_code}' "$URL/readyz")
  if [ "$code" = 503 ]; then t_503=$(date +%s%N); break; fi
  sleep 0.1
done
if [ -n "$t_503" ] && grep -qE "(watch of|cache of) .*(interrupted|not synced)" "$TMP/readyz.txt"; then
  ok "/readyz 503 $(( (t_503 - t_stopped) / 1000000 )) ms after kube-apiserver exited: $(head -c 200 "$TMP/readyz.txt")"
else
  bad "/readyz not 503 with a reason within ${READY_BOUND}s (last: $code)" "$(cat "$TMP/readyz.txt")"
fi

r=$(review "$TMP/during.json")
m=$(msg_of "$TMP/during.json")
if [ "$r" = "200 denied stale" ] && printf '%s' "$m" | grep -q "NetworkPolicy state is unknown" &&
  printf '%s' "$m" | grep -q "cacheUnavailable: deny"; then
  ok "during: the policy-dependent review is denied: $(printf '%s' "$m" | grep -o 'NetworkPolicy state is unknown[^;]*;[^)]*)' | head -c 300)"
else
  bad "during: review gave '$r'" "$(head -c 1500 "$TMP/during.json")"
fi
if curl -sf --max-time 2 --cacert "$CA" "$URL/healthz" >/dev/null; then ok "during: /healthz still 200 (no restart by liveness)"; else bad "/healthz failed during the outage"; fi

# ---- during: the cluster changes behind the webhook's back -------------------------
cat >"$TMP/deny-all.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: $NS}
spec:
  podSelector: {matchLabels: {role: agent}}
  policyTypes: [Egress]
EOF
if kb apply -f "$TMP/deny-all.yaml" >"$TMP/np.out" 2>&1; then
  ok "during: deny-all-egress created through the second API server"
else
  bad "create deny-all-egress through the second API server" "$(cat "$TMP/np.out")"
fi
r=$(review "$TMP/during2.json")
[ "$r" = "200 denied stale" ] && ok "during: still denied as stale (the webhook cannot know about the new policy)" ||
  bad "during (after the policy): review gave '$r'" "$(head -c 800 "$TMP/during2.json")"

sleep "$OUTAGE"

# ---- start it again ---------------------------------------------------------------
t_start=$(date +%s%N)
"$ROOT/tests/cluster/component" start kube-apiserver 2>"$TMP/start.log" ||
  bad "kube-apiserver restart" "$(tail -20 "$TMP/start.log")"
t_api=$(date +%s%N)
t_200=
for _ in $(seq 1 $((RECOVER_BOUND * 10))); do
  code=$(curl -s --max-time 2 --cacert "$CA" -o "$TMP/readyz.txt" -w '%{http_code}' "$URL/readyz")
  if [ "$code" = 200 ]; then t_200=$(date +%s%N); break; fi
  sleep 0.1
done
# At once, before anything else touches the cluster: the policy created during the outage is in the decision.
r=$(review "$TMP/recovered.json")
[ "$r" = "200 allowed fresh" ] &&
  ok "recovered: the review is allowed at the first try (deny-all-egress created during the outage is enforced)" ||
  bad "recovered: review gave '$r'" "$(head -c 1500 "$TMP/recovered.json")"
api_ms=$(( (t_api - t_start) / 1000000 ))
if [ -n "$t_200" ]; then
  ok "recovered: kube-apiserver ready ${api_ms} ms after start; webhook /readyz 200 $(( (t_200 - t_api) / 1000000 )) ms later ($(( (t_200 - t_stop) / 1000000 )) ms after the stop)"
else
  bad "webhook /readyz not 200 within ${RECOVER_BOUND}s of the API server being ready" "$(cat "$TMP/readyz.txt"; tail -5 "$TMP/webhook.log")"
fi
sleep 1
kill "$LOADPID" 2>/dev/null
wait "$LOADPID" 2>/dev/null
LOADPID=
# Load: every request answered (HTTP 200 with a review): denied while there was no policy or the cache was
# stale, allowed once the recovered cache had the policy.
total=$(wc -l <"$TMP/load.log")
http_fail=$(grep -cvE ' 200 (denied|allowed) ' "$TMP/load.log")
stale=$(grep -c ' 200 denied stale$' "$TMP/load.log")
[ "${total:-0}" -gt 0 ] && [ "${http_fail:-1}" = 0 ] &&
  ok "load: $total reviews over the fault, $http_fail failed HTTP requests, $stale denied as stale" ||
  bad "load: $total reviews, $http_fail failed" "$(grep -v ' 200 ' "$TMP/load.log" | head -10)"

# ---- after: the cache's own account of the outage ----------------------------------
grep -q '"msg":"policy cache: list/watch failed, retrying","resource":"networkpolicies.networking.k8s.io"' \
  "$TMP/webhook.log" && grep -q '"msg":"policy cache: re-listed","resource":"networkpolicies.networking.k8s.io"' \
  "$TMP/webhook.log" && ok "webhook log: the failed watch and the re-list of networkpolicies" ||
  bad "webhook log lacks the watch failure / re-list lines" "$(grep 'policy cache' "$TMP/webhook.log" | head -10)"
metrics=$(curl -s --max-time 5 --cacert "$CA" "$URL/metrics")
relists=$(sed -n 's/^loki_webhook_policy_cache_relists_total{resource="networkpolicies"} //p' <<<"$metrics")
errors=$(sed -n 's/^loki_webhook_policy_cache_watch_errors_total{reason="error",resource="networkpolicies"} //p' \
  <<<"$metrics")
[ "${relists:-0}" -ge 1 ] 2>/dev/null && [ "${errors:-0}" -ge 1 ] 2>/dev/null &&
  ok "metrics: networkpolicies re-listed ${relists}x after ${errors} failed list/watch(es)" ||
  bad "metrics: relists '${relists:-}' errors '${errors:-}'" "$(grep policy_cache <<<"$metrics")"

if k apply -f "$TMP/agent.yaml" >"$TMP/apply.out" 2>&1; then
  ok "after: the agent selected by deny-all-egress is admitted at kubectl apply"
else
  bad "after: agent refused" "$(cat "$TMP/apply.out")"
fi
if k apply -f "$TMP/stray.yaml" >"$TMP/apply.out" 2>&1; then
  bad "after: an agent the policy does not select was admitted"
elif grep -qE "loki-guard denied" "$TMP/apply.out" && grep -qE "deny-all-egress selects role=agent" "$TMP/apply.out"; then
  ok "after: an agent outside the policy is refused with the near miss"
else
  bad "after: stray refused for another reason" "$(cat "$TMP/apply.out")"
fi
grep -q '"decision":"deny"' "$TMP/webhook.log" && ! grep -qv '^{' "$TMP/webhook.log" &&
  ok "webhook log: JSON lines only" || bad "webhook log" "$(grep -v '^{' "$TMP/webhook.log" | head -5)"

echo "apiserver-restart: kube-apiserver SIGTERM->exit $(( (t_stopped - t_stop) / 1000000 )) ms;" \
  "webhook /readyz 503 $(( (${t_503:-0} - t_stopped) / 1000000 )) ms after the exit;" \
  "outage ${OUTAGE}s; kube-apiserver start->ready ${api_ms} ms; webhook /readyz 200 $(( (${t_200:-0} - t_api) / 1000000 )) ms after that;" \
  "$total reviews under load: $http_fail failed HTTP, $stale denied as stale"
summary
