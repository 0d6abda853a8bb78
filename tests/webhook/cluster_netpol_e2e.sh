#!/usr/bin/env bash
# Issue 21 end to end: the real kube-apiserver refuses an AdminNetworkPolicy /
# ClusterNetworkPolicy change that would open a running agent's egress, with
# loki-guard's message, and admits harmless ones.
#
# The CRDs come from their Go modules (tests/cluster/report-crds.sh: network-policy-api
# v0.3.0 for ClusterNetworkPolicy, v0.1.x for AdminNetworkPolicy and
# BaselineAdminNetworkPolicy v1alpha1), so the API server's schema and CEL rules
# validate every policy written here. The webhook is registered exactly as the
# chart renders it (`helm template` with webhook.url): its cluster-scoped entry,
# its serving certificate and its policy config.
#
#   tests/webhook/cluster_netpol_e2e.sh path/to/loki-webhook [path/to/helm]
set -uo pipefail
WEBHOOK=${1:?usage: cluster_netpol_e2e.sh path/to/loki-webhook [helm]}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HELM=${2:-${HELM:-$(command -v helm || true)}}
[ -x "$HELM" ] || { echo "no helm (tests/cluster/build-tools.sh builds it)"; exit 1; }
TMP=$(mktemp -d)
NS=lg-cnpw-$$
VWC=loki-guard-cnp-e2e-$$
CNP=lg-cnpw-$$
ANP=lg-anpw-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
k() { "$KUBECTL" "$@"; }
WPID=
cleanup() {
  # The registration goes first: with failurePolicy Fail and the webhook gone,
  # the API server would refuse the deletions below.
  k delete validatingwebhookconfiguration "$VWC" >/dev/null 2>&1
  [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
  k delete clusternetworkpolicy "$CNP" --ignore-not-found >/dev/null 2>&1
  k delete adminnetworkpolicy "$ANP" --ignore-not-found >/dev/null 2>&1
  [ -n "${BANP_OURS:-}" ] && k delete baselineadminnetworkpolicy default --ignore-not-found >/dev/null 2>&1
  k delete namespace "$NS" --wait=false >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# ---- CRDs -------------------------------------------------------------------------
source "$ROOT/tests/cluster/versions.env"
for set in netpol netpol-v1alpha1; do
  for f in $("$ROOT/tests/cluster/report-crds.sh" "$set"); do
    k apply --server-side -f "$f" >/dev/null || fatal "applying $f"
  done
done
k wait --for condition=established --timeout=60s crd/clusternetworkpolicies.policy.networking.k8s.io \
  crd/adminnetworkpolicies.policy.networking.k8s.io crd/baselineadminnetworkpolicies.policy.networking.k8s.io >/dev/null &&
  ok "CRDs established: ClusterNetworkPolicy ($NETWORK_POLICY_API_VERSION), AdminNetworkPolicy + BaselineAdminNetworkPolicy ($NETWORK_POLICY_API_V1ALPHA1_VERSION)" ||
  fatal "CRDs not established"
# The BaselineAdminNetworkPolicy is a singleton ("default"): never take over one we did not create.
k get baselineadminnetworkpolicy default >/dev/null 2>&1 && fatal "a BaselineAdminNetworkPolicy 'default' exists already"

# ---- running agent pods, isolated by nothing but the cluster tiers ------------------
k create namespace "$NS" >/dev/null
k label namespace "$NS" lg-cnpw-test="$NS" >/dev/null
for i in 0 1; do
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: agent-$i, namespace: $NS, labels: {app: loki-mode}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: agent
    image: loki:1
    env: [{name: LOKI_NETWORK_EGRESS_POLICY, value: none}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
YAML
done >"$TMP/pods.yaml"
k apply -f "$TMP/pods.yaml" >/dev/null || fatal "creating the agent pods"
# No kubelet runs here: the status subresource makes them Running with an IP, as a kubelet would.
for i in 0 1; do
  k patch pod "agent-$i" -n "$NS" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.7.1$i\",\"podIPs\":[{\"ip\":\"10.244.7.1$i\"}]}}" >/dev/null ||
    fatal "patching agent-$i's status"
done
[ "$(k get pods -n "$NS" -o jsonpath='{.items[*].status.phase}')" = "Running Running" ] &&
  ok "two agent pods Running with pod IPs" || fatal "agent pods not Running"

# ---- the webhook, as the chart renders it -------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Chart defaults, except where the webhook runs (webhook.url, the certificate's IP SAN).
"$HELM" template lg "$ROOT/charts/loki-guard" -n loki-guard --set webhook.url="https://127.0.0.1:$PORT" \
  --set 'certificates.ipSANs={127.0.0.1}' >"$TMP/chart.yaml" 2>"$TMP/helm.err" || fatal "helm template: $(cat "$TMP/helm.err")"
python3 - "$TMP/chart.yaml" "$TMP" "$VWC" <<'PY' || fatal "rendered chart"
import base64, json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out, name = sys.argv[2], sys.argv[3]
def one(kind, suffix=""):
    (d,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == "lg-loki-guard" + suffix]
    return d
tls = one("Secret", "-tls")["data"]
for f in ("tls.crt", "tls.key"):
    open(f"{out}/{f}", "wb").write(base64.b64decode(tls[f]))
open(f"{out}/ca.crt", "wb").write(base64.b64decode(one("Secret", "-ca")["data"]["tls.crt"]))
open(f"{out}/policy.yaml", "w").write(one("ConfigMap")["data"]["policy.yaml"])
vwc = one("ValidatingWebhookConfiguration")
# Only the cluster-scoped entry: the namespaced ones would need the release namespace.
hooks = [w for w in vwc["webhooks"] if w["name"] == "clusternetworkpolicies.validate.loki-guard.io"]
assert len(hooks) == 1, "chart defaults render no cluster network policy webhook"
vwc = {"apiVersion": vwc["apiVersion"], "kind": vwc["kind"], "metadata": {"name": name}, "webhooks": hooks}
json.dump(vwc, open(f"{out}/vwc.json", "w"), indent=1)
PY
python3 - "$TMP/vwc.json" <<'PY' && ok "chart defaults: a cluster-scoped entry for the three kinds, CREATE/UPDATE/DELETE, failurePolicy Fail" ||
import json, sys
(w,) = json.load(open(sys.argv[1]))["webhooks"]
assert w["failurePolicy"] == "Fail" and "namespaceSelector" not in w, w
(r,) = w["rules"]
assert r["scope"] == "Cluster" and r["operations"] == ["CREATE", "UPDATE", "DELETE"], r
assert set(r["resources"]) == {"clusternetworkpolicies", "adminnetworkpolicies", "baselineadminnetworkpolicies"}, r
PY
  bad "rendered cluster webhook entry" "$(cat "$TMP/vwc.json")"

"$WEBHOOK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
  --config "$TMP/policy.yaml" --kubeconfig "$KUBECONFIG" >>"$TMP/webhook.log" 2>&1 &
WPID=$!
ready=
for _ in $(seq 1 150); do
  # The chart's CA, as the API server trusts it through caBundle.
  curl -sf --cacert "$TMP/ca.crt" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && { ready=1; break; }
  sleep 0.1
done
[ -n "$ready" ] && ok "webhook ready (policy cache synced)" || fatal "webhook not ready: $(tail -20 "$TMP/webhook.log")"
k apply -f "$TMP/vwc.json" >/dev/null || fatal "registering the webhook"

# ---- helpers ---------------------------------------------------------------------------
# The webhook decides on what its watches have delivered a moment after
# kubectl returns, and configurations take effect asynchronously in the API
# server: a server-side dry run (sideEffects: None) is retried until it gives
# the expected answer, then the real request is made and judged.
MSG="would leave running loki-mode pods with open egress"
expect() {  # name want(ok|deny) kubectl-args... ; the request is read from $TMP/req.yaml for apply
  local name=$1 want=$2 rc
  shift 2
  for _ in $(seq 1 75); do
    k "$@" --dry-run=server >"$TMP/dry.out" 2>&1
    rc=$?
    if [ "$want" = ok ] && [ $rc -eq 0 ]; then break; fi
    if [ "$want" = deny ] && [ $rc -ne 0 ] && grep -q "$MSG" "$TMP/dry.out"; then break; fi
    sleep 0.2
  done
  k "$@" >"$TMP/out" 2>&1
  rc=$?
  if [ "$want" = ok ] && [ $rc -eq 0 ]; then
    ok "$name"
  elif [ "$want" = deny ] && [ $rc -ne 0 ] && grep -q 'admission webhook "clusternetworkpolicies.validate.loki-guard.io" denied' "$TMP/out" &&
    grep -q "$MSG: $NS/agent-0, $NS/agent-1" "$TMP/out"; then
    ok "$name"
    grep -E 'denied the request|^\[' "$TMP/out" | sed 's/^/     /'  # what kubectl users see
  else
    bad "$name (kubectl exit $rc)" "$(cat "$TMP/out")"
  fi
}

cnp() {  # action of the catch-all egress rule (Deny or Pass), priority
  cat <<YAML
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: $CNP}
spec:
  tier: Admin
  priority: ${2:-10}
  subject:
    namespaces: {matchLabels: {lg-cnpw-test: $NS}}
  egress:
  - name: accept-dns
    action: Accept
    to:
    - pods:
        namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
        podSelector: {matchLabels: {k8s-app: kube-dns}}
    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {number: 53}}}]
  - name: everything-else
    action: $1
    to: [{networks: ["0.0.0.0/0", "::/0"]}]
YAML
}
anp() {  # action (Deny or Pass), priority
  cat <<YAML
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: $ANP}
spec:
  priority: ${2:-20}
  subject:
    namespaces: {matchLabels: {lg-cnpw-test: $NS}}
  egress:
  - name: everything
    action: $1
    to: [{networks: ["0.0.0.0/0", "::/0"]}]
YAML
}
action_of() {  # resource name -> the catch-all rule's action as stored
  k get "$1" "$2" -o jsonpath='{.spec.egress[-1:].action}'
}

# ---- ClusterNetworkPolicy (v1beta1) -------------------------------------------------------
cnp Deny >"$TMP/req.yaml"
expect "CNP: creating the Admin Deny that isolates the agents is admitted" ok apply -f "$TMP/req.yaml"
cnp Pass >"$TMP/req.yaml"
# "ClusterNetworkPolicyRuleActionPass skips rules with lower precedence in the current
# tier and continues processing in the next tier. For example, if an Admin tier CNP uses
# Pass action, NetworkPolicy evaluation will happen next." (network-policy-api v0.3.0,
# apis/v1beta1); no NetworkPolicy selects the agents, so their egress is open.
expect "CNP: Deny -> Pass with no NetworkPolicy isolating the agents is refused by the API server" deny apply -f "$TMP/req.yaml"
[ "$(action_of clusternetworkpolicy "$CNP")" = Deny ] && ok "CNP: the stored policy still says Deny" ||
  bad "CNP changed despite the refusal" "$(k get clusternetworkpolicy "$CNP" -o yaml)"
expect "CNP: deleting the only isolating policy is refused" deny delete clusternetworkpolicy "$CNP"
cnp Deny 15 >"$TMP/req.yaml"
expect "CNP: a harmless change (priority 10 -> 15) is admitted" ok apply -f "$TMP/req.yaml"
[ "$(k get clusternetworkpolicy "$CNP" -o jsonpath='{.spec.priority}')" = 15 ] && ok "CNP: priority 15 stored" ||
  bad "CNP priority" "$(k get clusternetworkpolicy "$CNP" -o yaml)"

# ---- AdminNetworkPolicy (v1alpha1) --------------------------------------------------------
anp Deny >"$TMP/req.yaml"
expect "ANP: creating an Admin Deny for the same agents is admitted" ok apply -f "$TMP/req.yaml"
# Both kinds are judged together: the ANP keeps the agents isolated without the CNP.
expect "CNP: deleting it while the AdminNetworkPolicy still denies is admitted" ok delete clusternetworkpolicy "$CNP"
anp Pass >"$TMP/req.yaml"
expect "ANP: Deny -> Pass with no NetworkPolicy isolating the agents is refused by the API server" deny apply -f "$TMP/req.yaml"
[ "$(action_of adminnetworkpolicy "$ANP")" = Deny ] && ok "ANP: the stored policy still says Deny" ||
  bad "ANP changed despite the refusal" "$(k get adminnetworkpolicy "$ANP" -o yaml)"
expect "ANP: deleting the only isolating policy is refused" deny delete adminnetworkpolicy "$ANP"
anp Deny 30 >"$TMP/req.yaml"
expect "ANP: a harmless change (priority 20 -> 30) is admitted" ok apply -f "$TMP/req.yaml"

# ---- BaselineAdminNetworkPolicy (v1alpha1) ----------------------------------------------------
cat >"$TMP/banp.yaml" <<YAML
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject:
    namespaces: {matchLabels: {lg-cnpw-test: $NS}}
  egress:
  - name: default-deny
    action: Deny
    to: [{networks: ["0.0.0.0/0", "::/0"]}]
YAML
cp "$TMP/banp.yaml" "$TMP/req.yaml"
BANP_OURS=1
expect "BANP: creating a Baseline Deny for the agents is admitted" ok apply -f "$TMP/req.yaml"
anp Pass 30 >"$TMP/req.yaml"
# "Pass: instructs the selected traffic to skip any remaining ANP rules, and then pass
# execution to any NetworkPolicies that select the pod. If the pod is not selected by any
# NetworkPolicies then execution is passed to any BaselineAdminNetworkPolicies that select
# the pod." (network-policy-api v0.1.7, apis/v1alpha1): the Baseline Deny isolates them.
expect "ANP: Deny -> Pass is admitted once the Baseline denies what no NetworkPolicy does" ok apply -f "$TMP/req.yaml"
expect "BANP: deleting the Baseline that now isolates the agents is refused" deny delete baselineadminnetworkpolicy default

# Decisions are logged per request with the kind.
grep -q '"decision":"deny"' "$TMP/webhook.log" && grep -q 'AdminNetworkPolicy' "$TMP/webhook.log" &&
  ok "the webhook log has the refusals" || bad "decision log" "$(tail -5 "$TMP/webhook.log")"
summary
