#!/usr/bin/env bash
# loki-webhook at cluster scale through the real kube-apiserver (issue 19).
# One run, one fresh cluster of tests/cluster/up:
#   1. empty: only the reviewed namespace exists; start loki-webhook, time
#      start -> /readyz 200 (its policy cache listed and watching), its RSS;
#      then rounds of server-side dry-run pod creations (?dryRun=All calls the
#      admission webhooks and stores nothing, so the cluster stays as it is)
#      alternating without the webhook registered (the API server's own cost,
#      the floor) and with it (validating + mutating for pods in the labelled
#      namespace, as the chart registers them); the webhook's own
#      request-duration histogram over its rounds from /metrics.
#   2. fill: NAMESPACES namespaces, POLICIES NetworkPolicies, PODS pods (each
#      with status.podIP(s) through the status subresource: the cache keeps the
#      IPs), created with parallel requests (bench/cluster_scale_tool.py fill).
#   3. full: the same measurements as 1 with a newly started webhook.
#   4. with WEBHOOK_BEFORE=path/to/old/loki-webhook: sync time and RSS of the
#      old and the new binary against the full cluster, interleaved.
# Usage: bench/webhook_cluster_scale_bench.sh [NAMESPACES] [PODS] [POLICIES]
# Env: WEBHOOK (build/bin/loki-webhook), WEBHOOK_BEFORE, REVIEWS per round (200),
# ROUNDS (3), THREADS for the fill (16), LOKI_CLUSTER_DIR (build/bench-scale-cluster),
# LOKI_APISERVER_PORT/LOKI_ETCD_PORT/... (tests/cluster/README.md), KEEP_CLUSTER=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAMESPACES=${1:-2000}
PODS=${2:-20000}
POLICIES=${3:-4000}
REVIEWS=${REVIEWS:-200}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-16}
WEBHOOK=${WEBHOOK:-$ROOT/build/bin/loki-webhook}
WEBHOOK_BEFORE=${WEBHOOK_BEFORE:-}
TOOL=$ROOT/bench/cluster_scale_tool.py
export LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR:-$ROOT/build/bench-scale-cluster}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
TMP=$(mktemp -d)
WPID=
HOME_NS=tenant-$((NAMESPACES / 2))  # the reviewed namespace: one tenant among the others
log() { echo "bench: $*" >&2; }
k() { "$KUBECTL" "$@"; }
stop_webhook() {
  if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null || true; wait "$WPID" 2>/dev/null || true; fi
  WPID=
}
cleanup() {
  stop_webhook
  [ -n "${KUBECTL:-}" ] && k delete validatingwebhookconfiguration,mutatingwebhookconfiguration loki-guard-scale \
    --ignore-not-found >/dev/null 2>&1
  [ "${KEEP_CLUSTER:-0}" = 1 ] || "$ROOT/tests/cluster/down" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# A fresh cluster: the empty phase must see nothing but the defaults.
"$ROOT/tests/cluster/down" >/dev/null 2>&1 || true
"$ROOT/tests/cluster/up" >/dev/null
# shellcheck source=/dev/null
source "$LOKI_CLUSTER_DIR/env"
export LOKI_CLUSTER_SERVER ADMIN_TOKEN LOKI_CLUSTER_CA

# The webhook's serving certificate for 127.0.0.1, signed by the cluster CA (as tests/webhook/e2e.sh).
PKI=$LOKI_CLUSTER_DIR/pki
openssl req -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.csr" -subj /CN=loki-webhook 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TMP/ext"
openssl x509 -req -in "$TMP/tls.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 1 \
  -extfile "$TMP/ext" -out "$TMP/tls.crt" 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'selector: app=loki-mode\nexemptNamespaces: [kube-system]\n' >"$TMP/config.yaml"
CA_B64=$(base64 -w0 <"$PKI/ca.crt")

# The reviewed namespace, labelled as the generator labels tenants, plus the
# label the webhook registration selects.
i=$((NAMESPACES / 2))
k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $HOME_NS
  labels: {team: team-$((i % 200)), env: $(case $((i % 3)) in 0) echo prod;; 1) echo staging;; *) echo dev;; esac), tenant: t$i, loki-guard.io/enforce: bench}
EOF
for _ in $(seq 1 300); do k get serviceaccount default -n "$HOME_NS" >/dev/null 2>&1 && break; sleep 0.2; done
# Its agents' egress isolated (the generated policies of the full phase add allows), so the review
# is admitted in both phases (a denial would measure the error path).
k create -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agents-deny-egress, namespace: $HOME_NS}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Egress]
EOF

register() {
  k apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: loki-guard-scale}
webhooks:
- name: validate.loki-guard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  matchPolicy: Equivalent
  timeoutSeconds: 10
  namespaceSelector: {matchLabels: {loki-guard.io/enforce: bench}}
  clientConfig: {url: "https://127.0.0.1:$PORT/validate", caBundle: $CA_B64}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers]}
  - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, replicasets, statefulsets, daemonsets]}
  - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs]}
  - {apiGroups: [networking.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE, DELETE], resources: [networkpolicies]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: loki-guard-scale}
webhooks:
- name: mutate.loki-guard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  matchPolicy: Equivalent
  reinvocationPolicy: IfNeeded
  timeoutSeconds: 10
  namespaceSelector: {matchLabels: {loki-guard.io/enforce: bench}}
  clientConfig: {url: "https://127.0.0.1:$PORT/mutate", caBundle: $CA_B64}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
EOF
}
unregister() { k delete validatingwebhookconfiguration,mutatingwebhookconfiguration loki-guard-scale --ignore-not-found >/dev/null; }

# Starts a webhook binary (in this shell: WPID); writes "sync_seconds rss_kb hwm_kb" to
# $TMP/started once /readyz answers 200.
start_webhook() {  # binary logfile
  local t0
  t0=$(date +%s.%N)
  "$1" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
    --config "$TMP/config.yaml" --kubeconfig "$KUBECONFIG" >>"$2" 2>&1 &
  WPID=$!
  local sync
  sync=$(python3 "$TOOL" ready --url "https://127.0.0.1:$PORT" --ca "$PKI/ca.crt" --t0 "$t0" --timeout 600)
  sleep 1  # let the lists' freed JSON settle
  echo "$sync $(awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{print r, h}' "/proc/$WPID/status")" >"$TMP/started"
}

# One phase: webhook start (sync, RSS), then ROUNDS x (floor, webhook) review rounds.
measure() {  # label
  local label=$1
  unregister
  start_webhook "$WEBHOOK" "$TMP/webhook-$label.log"
  read -r sync rss hwm <"$TMP/started"
  log "$label: synced in $sync s, RSS $((rss / 1024)) MB (peak $((hwm / 1024)) MB)"
  grep '"policy cache: synced"' "$TMP/webhook-$label.log" | sed 's/^/  /' >&2 || true
  : >"$TMP/reviews-$label.jsonl"
  for r in $(seq 1 "$ROUNDS"); do
    unregister
    python3 "$TOOL" reviews --namespace "$HOME_NS" -n "$REVIEWS" --webhook no --out "$TMP/reviews-$label.jsonl"
    register
    python3 "$TOOL" reviews --namespace "$HOME_NS" -n "$REVIEWS" --webhook yes --out "$TMP/reviews-$label.jsonl" \
      --metrics "https://127.0.0.1:$PORT" --webhook-ca "$PKI/ca.crt"
  done
  unregister
  local rss_after
  rss_after=$(awk '/^VmRSS:/{print $2}' "/proc/$WPID/status")
  stop_webhook
  python3 "$TOOL" stats "$TMP/reviews-$label.jsonl" >"$TMP/stats-$label.json"
  log "$label: $(cat "$TMP/stats-$label.json")"
  echo "{\"sync_s\": $sync, \"rss_kb\": $rss, \"hwm_kb\": $hwm, \"rss_after_reviews_kb\": $rss_after}" >"$TMP/start-$label.json"
}

measure empty
log "filling: $NAMESPACES namespaces, $POLICIES NetworkPolicies, $PODS pods ($THREADS threads)"
python3 "$TOOL" fill --namespaces "$NAMESPACES" --pods "$PODS" --policies "$POLICIES" --threads "$THREADS" \
  >"$TMP/fill.json"
measure full

# Sync time and RSS, old binary against new, interleaved on the full cluster.
: >"$TMP/sync.txt"
if [ -n "$WEBHOOK_BEFORE" ]; then
  for r in 1 2 3; do
    for which in before after; do
      bin=$WEBHOOK
      [ "$which" = before ] && bin=$WEBHOOK_BEFORE
      start_webhook "$bin" "$TMP/webhook-sync-$which.log"
      read -r sync rss hwm <"$TMP/started"
      stop_webhook
      echo "$which $sync $rss $hwm" >>"$TMP/sync.txt"
      log "sync $which: $sync s, RSS $((rss / 1024)) MB, peak $((hwm / 1024)) MB"
    done
  done
fi

python3 - "$TMP" "$NAMESPACES" "$PODS" "$POLICIES" "$REVIEWS" "$ROUNDS" <<'PY' | tee "$OUT/webhook_cluster_scale.md"
import json, statistics, sys
tmp, ns, pods, pols, reviews, rounds = sys.argv[1], *map(int, sys.argv[2:])
st = {p: json.load(open(f"{tmp}/stats-{p}.json")) for p in ("empty", "full")}
sa = {p: json.load(open(f"{tmp}/start-{p}.json")) for p in ("empty", "full")}
fill = json.load(open(f"{tmp}/fill.json"))
def row(name, key, fmt, ratio=True):
    e, f = key(st["empty"], sa["empty"]), key(st["full"], sa["full"])
    r = f"{f / e:.2f}x" if ratio and e else ""
    print(f"| {name} | {fmt(e)} | {fmt(f)} | {r} |")
print(f"| loki-webhook, same run ({ns:,} namespaces, {pods:,} pods, {pols:,} NetworkPolicies) | empty cluster | full cluster | full/empty |")
print("|---|---:|---:|---:|")
row("sync: start -> /readyz 200 (s)", lambda s, a: a["sync_s"], lambda v: f"{v:.2f}")
row("RSS after sync (MB)", lambda s, a: a["rss_kb"] / 1024, lambda v: f"{v:.1f}")
row("peak RSS during sync (MB)", lambda s, a: a["hwm_kb"] / 1024, lambda v: f"{v:.1f}")
for k, label in (("floor", "dry-run pod create, no webhook registered (API server floor)"),
                 ("webhook", "dry-run pod create through validating + mutating loki-webhook")):
    for q in ("p50", "p99"):
        row(f"{label}, {q} (ms)", lambda s, a, k=k, q=q: s[k][f"{q}_ms"], lambda v: f"{v:.2f}")
for q in ("p50", "p99"):
    row(f"webhook's share (with - without), {q} (ms)", lambda s, a, q=q: s["webhook"][f"{q}_ms"] - s["floor"][f"{q}_ms"],
        lambda v: f"{v:.2f}")
for ep in ("validate", "mutate"):
    for q in ("p50", "p99"):
        row(f"webhook's own histogram /{ep}, {q} (ms)", lambda s, a, ep=ep, q=q: s[f"own_{ep}"][f"{q}_ms"],
            lambda v: f"{v:.3f}")
d = (sa["full"]["rss_kb"] - sa["empty"]["rss_kb"]) * 1024
print(f"\nRSS growth empty -> full: {d / 2**20:.1f} MB = {d / pods:,.0f} B per pod with all namespaces and policies"
      f" charged to the pods. Reviews: {rounds} rounds x {reviews} per kind, alternating; one client, keep-alive.")
print(f"Creation (parallel POSTs, then a status PATCH per pod): namespaces {fill['namespaces']['per_second']}/s,"
      f" NetworkPolicies {fill['networkpolicies']['per_second']}/s, pods {fill['pods']['per_second']}/s"
      f" (POST + status PATCH each); {fill['requests_per_second']} requests/s overall, {fill['total_seconds']} s.")
lines = [l.split() for l in open(f"{tmp}/sync.txt") if l.strip()]
if lines:
    med = lambda w, i: statistics.median(float(l[i]) for l in lines if l[0] == w)
    print("\n| full cluster, median of 3 interleaved starts | before | after | after/before |\n|---|---:|---:|---:|")
    for name, i, scale in (("sync: start -> /readyz 200 (s)", 1, 1), ("RSS after sync (MB)", 2, 1024),
                           ("peak RSS during sync (MB)", 3, 1024)):
        b, a = med("before", i) / scale, med("after", i) / scale
        print(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.2f}x |")
PY
