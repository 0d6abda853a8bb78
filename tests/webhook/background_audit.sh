#!/usr/bin/env bash
# The webhook's background audit (issue 20) against the real kube-apiserver of
# tests/cluster/up: the openreports.io CRDs installed from the pinned module,
# two loki-webhook replicas electing a leader on a Lease, reports that follow
# pods and NetworkPolicies within seconds, each written once (counted from the
# API server: every resourceVersion of the report is recorded by a watch),
# fail-over to the other replica without rewriting, the same findings as
# `loki-audit`, a namespace's label change re-auditing the namespaces whose
# policies select it by label, a ServiceAccount's automountServiceAccountToken
# settling service-account-token as `loki-audit` does, and a 5,000-pod
# namespace re-audited within the bound.
#
#   tests/cluster/with-cluster-env tests/webhook/background_audit.sh build/bin/loki-webhook build/bin/loki-audit
#
# LOKI_AUDIT_SCALE_PODS (default 5000; 0 skips the scale part).
set -uo pipefail
WEBHOOK=${1:?usage: background_audit.sh path/to/loki-webhook path/to/loki-audit}
AUDIT=${2:?usage: background_audit.sh path/to/loki-webhook path/to/loki-audit}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=40
k() { "$KUBECTL" "$@"; }
TMP=$(mktemp -d)
RUN=$$
NS=lg-audit-$RUN         # the agents
BIG=lg-audit-big-$RUN    # the 5,000-pod namespace
LEASE_NS=lg-audit-lease-$RUN
DNS_NS=lg-audit-dns-$RUN  # an agent whose DNS depends on kube-system's labels
DNS_LABEL=lg-audit-dns-r$RUN
SCALE=${LOKI_AUDIT_SCALE_PODS:-5000}
PKI=$LOKI_CLUSTER_DIR/pki
declare -A PID PORT
WATCH=
stop_replica() { if [ -n "${PID[$1]:-}" ]; then kill "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; PID[$1]=; fi; }
cleanup() {
  stop_replica a
  stop_replica b
  [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null
  k label namespace kube-system "$DNS_LABEL-" >/dev/null 2>&1
  k delete adminnetworkpolicy "lg-audit-tiers-$RUN" >/dev/null 2>&1
  k delete namespace "$NS" "$BIG" "$LEASE_NS" "$DNS_NS" --wait=false >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

install_crds() {
  local f args=()
  for f in $("$ROOT/tests/cluster/report-crds.sh" openreports); do args+=(-f "$f"); done
  [ ${#args[@]} = 4 ] && k apply --server-side --force-conflicts "${args[@]}" &&
    k wait --for condition=established --timeout=60s crd/reports.openreports.io crd/clusterreports.openreports.io
}
install_crds >"$TMP/crds.log" 2>&1 && ok "openreports.io CRDs installed from the pinned reports-api module" ||
  fatal "CRDs: $(cat "$TMP/crds.log")"
# AdminNetworkPolicy (network-policy-api v1alpha1), before the replicas start: their discovery finds it served.
install_anp_crds() {
  local f
  for f in $("$ROOT/tests/cluster/report-crds.sh" netpol-v1alpha1); do k apply --server-side -f "$f" || return 1; done
  k wait --for condition=established --timeout=60s crd/adminnetworkpolicies.policy.networking.k8s.io
}
install_anp_crds >"$TMP/anp-crds.log" 2>&1 && ok "AdminNetworkPolicy CRD installed from the pinned network-policy-api module" ||
  fatal "ANP CRD: $(cat "$TMP/anp-crds.log")"
k create namespace "$NS" >/dev/null && k create namespace "$LEASE_NS" >/dev/null
sign_serving_cert "$PKI/ca.crt" "$PKI/ca.key" "$TMP/tls"
# Agents of this run only: other tests' pods in the shared cluster are not this run's agents.
cat >"$TMP/config.yaml" <<EOF
selector: app=loki-mode,audit-run=r$RUN
exemptNamespaces: [kube-system]
EOF
start_replica() {  # name
  PORT[$1]=$(free_port)
  POD_NAME=replica-$1 "$WEBHOOK" --listen "127.0.0.1:${PORT[$1]}" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
    --config "$TMP/config.yaml" --kubeconfig "$KUBECONFIG" --background-audit --audit-interval 1s \
    --lease-namespace "$LEASE_NS" >>"$TMP/$1.log" 2>&1 &
  PID[$1]=$!
  wait_https "https://127.0.0.1:${PORT[$1]}/readyz" "$PKI/ca.crt" 150
}
metric() {  # replica name-with-labels
  curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:${PORT[$1]}/metrics" | awk -v m="$2" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
holder() { k get lease loki-guard-audit -n "$LEASE_NS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
until_true() {  # seconds command...: polls every 0.2 s; prints the seconds it took
  local limit=$1 t0 i
  shift
  t0=$(date +%s.%N)
  for i in $(seq 1 $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then python3 -c "import time; print(f'{time.time() - $t0:.1f}')"; return 0; fi
    sleep 0.2
  done
  return 1
}

start_replica a && start_replica b && ok "two replicas ready (policy caches synced)" ||
  fatal "replicas not ready: $(tail -5 "$TMP/a.log" "$TMP/b.log")"
secs=$(until_true 20 bash -c "[ -n \"\$('$KUBECTL' get lease loki-guard-audit -n '$LEASE_NS' -o jsonpath='{.spec.holderIdentity}')\" ]") &&
  ok "one replica took the Lease $LEASE_NS/loki-guard-audit in ${secs}s: $(holder)" || fatal "nobody holds the lease"
LEADER=$(holder)
LEADER=${LEADER#replica-}
FOLLOWER=$([ "$LEADER" = a ] && echo b || echo a)
[ "$(metric "$LEADER" loki_audit_leader)" = 1 ] && [ "$(metric "$FOLLOWER" loki_audit_leader)" = 0 ] &&
  ok "loki_audit_leader: 1 on replica-$LEADER, 0 on replica-$FOLLOWER" || bad "leader gauge"

# Every version of the report, as the API server stores it (a write that changes nothing makes no new version).
k get reports -n "$NS" -w --output-watch-events -o jsonpath='{.type} {.object.metadata.resourceVersion}{"\n"}' \
  >"$TMP/versions.txt" 2>/dev/null &
WATCH=$!
sleep 1

# --- an agent whose egress is shadowed ----------------------------------------
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate, namespace: $NS}
spec:
  podSelector: {matchLabels: {egress: restricted}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ingress-only, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Ingress]
---
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: $NS, labels: {app: loki-mode, audit-run: r$RUN}}
spec: {containers: [{name: agent, image: loki:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: loki-mode, audit-run: r$RUN}}
  template:
    metadata: {labels: {app: loki-mode, audit-run: r$RUN}}
    spec: {containers: [{name: agent, image: loki:1}]}
EOF
report_has() {  # result rule kind/name [absent]   (REPORT_NS: another namespace than $NS)
  k get report loki-guard -n "${REPORT_NS:-$NS}" -o json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
want = (sys.argv[1], sys.argv[2], sys.argv[3])
got = {(x["result"], x["policy"], o["kind"] + "/" + o["name"]) for x in r["results"] for o in x["resources"]}
sys.exit(0 if (want in got) != (sys.argv[4] == "absent") else 1)' "$1" "$2" "$3" "${4:-present}"
}
secs=$(until_true 30 report_has fail egress-shadowed Pod/solo) &&
  ok "the shadowed agent is in its namespace's report after ${secs}s" ||
  bad "no egress-shadowed result for Pod/solo" "$(k get report loki-guard -n "$NS" -o yaml 2>&1 | head -40)"
k get reports -A 2>&1 | grep -qE "^$NS +loki-guard" && ok "kubectl get reports -A lists $NS/loki-guard" ||
  bad "kubectl get reports -A" "$(k get reports -A 2>&1)"
secs=$(until_true 60 report_has fail egress-shadowed Deployment/agent) &&
  ok "the Deployment's pods are reported once, on the Deployment (as loki-audit groups them), after ${secs}s" ||
  bad "no result on Deployment/agent" "$(k get report loki-guard -n "$NS" -o yaml 2>&1 | head -60)"
sleep 3  # settled: both Deployment pods seen

# The report `loki-audit -f report` prints for this namespace: the same results and summary (timestamps aside).
"$AUDIT" --namespace "$NS" --config "$TMP/config.yaml" -f report >"$TMP/cli.yaml" 2>"$TMP/cli.err"
k get report loki-guard -n "$NS" -o json >"$TMP/report.json"
check "the webhook's report is loki-audit -f report's for the namespace" python3 - "$TMP/cli.yaml" "$TMP/report.json" "$NS" <<'PY'
import json, sys, yaml
cli = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("metadata", {}).get("namespace") == sys.argv[3]]
rep = json.load(open(sys.argv[2]))
def norm(r):
    res = [{k: v for k, v in x.items() if k != "timestamp"} for x in r["results"]]
    return sorted(json.dumps(x, sort_keys=True) for x in res), r["summary"]
assert len(cli) == 1, f"loki-audit printed {len(cli)} reports for the namespace"
a, b = norm(cli[0]), norm(rep)
assert a == b, "loki-audit:\n" + "\n".join(a[0]) + f"\n{a[1]}\nwebhook:\n" + "\n".join(b[0]) + f"\n{b[1]}"
PY

# --- labelling it removes the result; deleting the isolating policy brings it back --
k label pod solo -n "$NS" egress=restricted >/dev/null
secs=$(until_true 30 report_has fail egress-shadowed Pod/solo absent) &&
  ok "labelling the pod egress=restricted removes its result after ${secs}s" || bad "result not removed"
report_has pass egress-shadowed Pod/solo && ok "... and it passes egress-shadowed now" || bad "no pass result"
k delete networkpolicy isolate -n "$NS" >/dev/null
secs=$(until_true 30 report_has fail egress-unrestricted Pod/solo) &&
  ok "deleting the NetworkPolicy that isolated it brings its open egress back after ${secs}s" ||
  bad "no egress-unrestricted after the delete" "$(k get report loki-guard -n "$NS" -o yaml | head -40)"

# --- writes: once per change, by the leader only, no flapping -------------------
sleep 4  # more than the interval with nothing changing
w1=$(metric "$LEADER" 'loki_audit_report_writes_total{result="applied"}')
v1=$(grep -cE '^(ADDED|MODIFIED) ' "$TMP/versions.txt")
sleep 4
w2=$(metric "$LEADER" 'loki_audit_report_writes_total{result="applied"}')
v2=$(grep -cE '^(ADDED|MODIFIED) ' "$TMP/versions.txt")
fw=$(metric "$FOLLOWER" 'loki_audit_report_writes_total{result="applied"}')
errs=$(metric "$LEADER" 'loki_audit_report_writes_total{result="error"}')
echo "     writes: leader applied $w1, follower $fw, errors $errs; report versions seen by the watch: $v1"
[ "$v1" = "$w1" ] && [ "$w1" -ge 3 ] && [ "$w1" -le 8 ] && ok "every write of the leader is one new report version ($w1 for 4-5 changes)" ||
  bad "writes $w1 vs versions $v1" "$(cat "$TMP/versions.txt")"
[ "$fw" = 0 ] && [ "$errs" = 0 ] && ok "the follower wrote nothing; no conflicts or errors" || bad "follower writes $fw, errors $errs"
[ "$w2" = "$w1" ] && [ "$v2" = "$v1" ] && ok "no flapping: nothing written while nothing changes" ||
  bad "writes while idle: $w1 -> $w2, versions $v1 -> $v2"
grep -q '"level":"error"\|forbidden' "$TMP/a.log" "$TMP/b.log" && bad "errors in the replicas' logs" \
  "$(grep -h 'error\|forbidden' "$TMP/a.log" "$TMP/b.log" | head -5)" || ok "no errors in the replicas' logs"

# --- fail-over: the leader stops (releases the Lease); the other takes over without rewriting --
stop_replica "$LEADER"
secs=$(until_true 10 bash -c "[ \"\$('$KUBECTL' get lease loki-guard-audit -n '$LEASE_NS' -o jsonpath='{.spec.holderIdentity}')\" = replica-$FOLLOWER ]") &&
  ok "replica-$LEADER released the Lease on SIGTERM; replica-$FOLLOWER took it after ${secs}s" ||
  bad "no take-over" "holder: $(holder)"
sleep 3
# The new leader lists the stored reports before its first evaluation and writes
# none of them again while nothing changed (each rewrite would be a new version
# for every report consumer to process).
rewrites=$(metric "$FOLLOWER" 'loki_audit_report_writes_total{result="applied"}')
[ "$rewrites" = 0 ] && grep -Eq '"msg":"background audit: leading; existing reports read","reports":[1-9]' "$TMP/$FOLLOWER.log" &&
  ok "the new leader read the stored report and did not rewrite it" ||
  bad "new leader rewrote $rewrites report(s)" "$(grep -h 'leading\|report written' "$TMP/$FOLLOWER.log" | tail -5)"
k label pod solo -n "$NS" egress- >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate, namespace: $NS}
spec:
  podSelector: {matchLabels: {egress: restricted}}
  policyTypes: [Egress]
EOF
secs=$(until_true 30 report_has fail egress-shadowed Pod/solo) &&
  ok "the new leader updates the report ($secs s)" || bad "new leader does not write"
k delete deployment agent -n "$NS" >/dev/null && k delete pod solo -n "$NS" --wait=false >/dev/null
secs=$(until_true 60 bash -c "! '$KUBECTL' get report loki-guard -n '$NS' >/dev/null 2>&1") &&
  ok "no agents left: the report is deleted after ${secs}s" || bad "report not deleted"
kill "$WATCH" 2>/dev/null
WATCH=

# --- a namespace's labels change: namespaces whose policies select it by label are re-audited --
# k8s.io/api networking/v1 NetworkPolicyPeer: "namespaceSelector selects namespaces using cluster-scoped labels.
# ... If podSelector is also set, then the NetworkPolicyPeer as a whole selects the pods matching podSelector in
# the namespaces selected by namespaceSelector." The agent in $DNS_NS may send DNS to kube-dns only while
# kube-system carries $DNS_LABEL=true (an AdminNetworkPolicy without rules selects it, so the tiers' verdict
# decides DNS). Removing that label from kube-system changes nothing in $DNS_NS, yet its agent loses DNS.
k create namespace "$DNS_NS" >/dev/null
k label namespace kube-system "$DNS_LABEL=true" >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: lg-audit-tiers-$RUN}
spec:
  priority: 77
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: $DNS_NS}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: $DNS_NS}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {$DNS_LABEL: "true"}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: $DNS_NS, labels: {app: loki-mode, audit-run: r$RUN}}
spec: {containers: [{name: agent, image: loki:1}]}
EOF
secs=$(REPORT_NS=$DNS_NS until_true 30 report_has pass dns-blocked Pod/agent) &&
  ok "$DNS_NS's agent may send DNS while kube-system is labelled $DNS_LABEL=true (${secs}s)" ||
  bad "no dns-blocked pass for $DNS_NS/agent" "$(k get report loki-guard -n "$DNS_NS" -o yaml 2>&1 | head -40)"
sleep 2  # settled: the next evaluation is the label's
k label namespace kube-system "$DNS_LABEL-" >/dev/null
secs=$(REPORT_NS=$DNS_NS until_true 30 report_has fail dns-blocked Pod/agent) &&
  ok "kube-system's label removed: $DNS_NS's report has dns-blocked for its agent after ${secs}s" ||
  bad "$DNS_NS not re-audited after kube-system's label change" \
    "$(k get report loki-guard -n "$DNS_NS" -o yaml 2>&1 | head -40)"
k delete adminnetworkpolicy "lg-audit-tiers-$RUN" >/dev/null

# --- a ServiceAccount's automountServiceAccountToken settles service-account-token, as in loki-audit --
# "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken value"
# (Kubernetes docs, Configure Service Accounts for Pods): an agent that leaves the field unset under a
# ServiceAccount with false mounts no token; the ServiceAccount flipped to true, it would again.
sa_objects() {  # automount
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: no-token, namespace: $DNS_NS}
automountServiceAccountToken: $1
---
apiVersion: v1
kind: Pod
metadata: {name: sa-agent, namespace: $DNS_NS, labels: {app: loki-mode, audit-run: r$RUN}}
spec: {serviceAccountName: no-token, containers: [{name: agent, image: loki:1}]}
EOF
}
sa_objects false | k apply -f - >/dev/null
secs=$(REPORT_NS=$DNS_NS until_true 30 report_has pass service-account-token Pod/sa-agent) &&
  REPORT_NS=$DNS_NS report_has fail service-account-token Pod/sa-agent absent &&
  REPORT_NS=$DNS_NS report_has fail service-account-token Pod/agent &&
  ok "ServiceAccount with automountServiceAccountToken: false: its agent passes service-account-token (${secs}s)" ||
  bad "service-account-token on sa-agent" "$(k get report loki-guard -n "$DNS_NS" -o yaml 2>&1 | head -60)"
sa_objects true | k apply -f - >/dev/null
secs=$(REPORT_NS=$DNS_NS until_true 30 report_has fail service-account-token Pod/sa-agent) &&
  ok "the ServiceAccount flipped to true: the namespace is re-audited, sa-agent fails again after ${secs}s" ||
  bad "no re-audit after the ServiceAccount change" "$(k get report loki-guard -n "$DNS_NS" -o yaml 2>&1 | head -60)"

# --- a namespace with $SCALE pods ---------------------------------------------
if [ "$SCALE" -gt 0 ]; then
  k create namespace "$BIG" >/dev/null
  t0=$(date +%s)
  k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: fleet, namespace: $BIG}
spec:
  replicas: $SCALE
  selector: {matchLabels: {app: loki-mode, audit-run: r$RUN}}
  template:
    metadata: {labels: {app: loki-mode, audit-run: r$RUN}}
    spec: {containers: [{name: agent, image: loki:1}]}
EOF
  until_true 900 bash -c "[ \"\$('$KUBECTL' get deployment fleet -n '$BIG' -o jsonpath='{.status.replicas}')\" = $SCALE ]" >/dev/null &&
    ok "$SCALE pods created by the controller-manager in $(($(date +%s) - t0)) s" || bad "pods not created"
  until_true 60 bash -c "'$KUBECTL' get report loki-guard -n '$BIG' -o json | grep -q '($SCALE pods)'" >/dev/null &&
    ok "the report names all $SCALE pods of the Deployment" || bad "report of the big namespace" "$(k get report loki-guard -n "$BIG" -o yaml 2>&1 | head -20)"
  L=${FOLLOWER}
  c0=$(metric "$L" loki_audit_evaluation_duration_seconds_count)
  s0=$(metric "$L" loki_audit_evaluation_duration_seconds_sum)
  # One change that affects every pod of the namespace: an egress policy that isolates them all.
  k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: $BIG}
spec: {podSelector: {}, policyTypes: [Egress]}
EOF
  no_open_egress() {
    k get report loki-guard -n "$BIG" -o json | python3 -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(1 if any(x["result"] == "fail" and x["policy"] == "egress-unrestricted" for x in r["results"]) else 0)'
  }
  secs=$(until_true 30 no_open_egress)
  rc=$?
  c1=$(metric "$L" loki_audit_evaluation_duration_seconds_count)
  s1=$(metric "$L" loki_audit_evaluation_duration_seconds_sum)
  eval_s=$(python3 -c "c=$c1-$c0; print(f'{($s1-$s0)/c:.3f}' if c else 'n/a')")
  rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/${PID[$L]}/status")
  hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/${PID[$L]}/status")
  echo "     $SCALE pods: report updated ${secs:-never} s after the policy change (interval 1 s);" \
    "evaluation ${eval_s} s per namespace ($((c1 - c0)) evaluations); leader RSS ${rss} MiB (peak ${hwm} MiB)"
  [ $rc -eq 0 ] && python3 -c "import sys; sys.exit(0 if float('$secs') <= 10 else 1)" &&
    ok "$SCALE-pod namespace re-audited within 10 s of the change (${secs} s)" || bad "re-audit of $SCALE pods: ${secs:-timeout}"
  [ "$hwm" -le 256 ] && ok "leader peak RSS ${hwm} MiB <= 256 MiB (the chart's memory limit)" || bad "peak RSS ${hwm} MiB"
fi

summary
