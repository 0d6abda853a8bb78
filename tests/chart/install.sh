#!/usr/bin/env bash
# charts/loki-guard installed into the real kube-apiserver of tests/cluster/up.
# The test cluster has no nodes, so the chart's Deployment never runs a pod;
# instead the chart's own objects are used by a local loki-webhook: the
# serving certificate from the chart's Secret, the policy from its ConfigMap,
# and a token of its ServiceAccount (`kubectl create token`), with the webhook
# configurations pointed at it by `webhook.url` (what the value is for).
#
#   tests/cluster/with-cluster-env tests/chart/install.sh build/bin/loki-webhook
set -uo pipefail
WEBHOOK=${1:?usage: install.sh path/to/loki-webhook}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
HELM=${HELM:-$(command -v helm)}
[ -x "$HELM" ] || { echo "no helm in PATH (tests/cluster/build-tools.sh builds it)"; exit 1; }
k() { "$KUBECTL" "$@"; }
TMP=$(mktemp -d)
REL=lg$$
NS=lg-chart-$$          # release namespace
APP=lg-agents-$$        # a protected namespace
PORT=$(free_port)
# The protected-namespace label value of this run (the chart's default is
# "true", checked by template.sh): webhooks of other tests running at the same
# time never see this test's namespaces, nor this one theirs.
MARK=chart-$$
WPID=
stop_webhook() { if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; WPID=; fi; }
cleanup() {
  stop_webhook
  "$HELM" uninstall "$REL" -n "$NS" >/dev/null 2>&1
  k delete namespace "$NS" "$APP" --wait=false >/dev/null 2>&1
  [ -n "$made_slice" ] && k delete endpointslice kubernetes -n default >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# The test API server advertises 127.0.0.1, which an EndpointSlice may not
# hold, so it runs without the endpoint reconciler. Give it the `kubernetes`
# EndpointSlice a real cluster has (a documentation address) so the chart's
# lookup of the API server endpoints is exercised.
made_slice=
if ! k get endpointslice kubernetes -n default >/dev/null 2>&1; then
  k apply -f - >/dev/null <<EOF && made_slice=1
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints: [{addresses: [192.0.2.10], conditions: {ready: true}}]
ports: [{name: https, port: 6443, protocol: TCP}]
EOF
fi

# The reports CRDs (the chart installs them only with reports.installCRDs): from the pinned module.
crd_args=()
for f in $("$ROOT/tests/cluster/report-crds.sh" openreports 2>"$TMP/crds.log"); do crd_args+=(-f "$f"); done
{ [ ${#crd_args[@]} = 4 ] && k apply --server-side --force-conflicts "${crd_args[@]}" &&
  k wait --for condition=established --timeout=60s crd/reports.openreports.io; } >>"$TMP/crds.log" 2>&1 &&
  ok "openreports.io CRDs installed" || bad "CRDs" "$(cat "$TMP/crds.log")"

# --- install -----------------------------------------------------------------
out=$("$HELM" install "$REL" "$ROOT/charts/loki-guard" -n "$NS" --create-namespace \
  --set webhook.url="https://127.0.0.1:$PORT" --set 'certificates.ipSANs={127.0.0.1}' \
  --set-string "webhook.namespaceSelector.matchLabels.loki-guard\.io/enforce=$MARK" 2>&1) &&
  ok "helm install" || bad "helm install" "$out"
grep -q "kubectl label namespace <ns> loki-guard.io/enforce=$MARK" <<<"$out" && ok "NOTES say how to protect a namespace" ||
  bad "NOTES" "$out"
FULL=$REL-loki-guard
for obj in deployment/$FULL service/$FULL serviceaccount/$FULL configmap/$FULL secret/$FULL-tls secret/$FULL-ca \
  poddisruptionbudget/$FULL networkpolicy/$FULL; do
  k get -n "$NS" "$obj" >/dev/null 2>&1 && ok "$obj exists" || bad "$obj missing"
done
for obj in clusterrole/$FULL clusterrolebinding/$FULL validatingwebhookconfiguration/$FULL \
  mutatingwebhookconfiguration/$FULL; do
  k get "$obj" >/dev/null 2>&1 && ok "$obj exists" || bad "$obj missing"
done

# The NetworkPolicy's egress names the API server's endpoint addresses, found
# by `lookup` of the kubernetes EndpointSlice at install time.
want=$(k get endpointslice kubernetes -n default -o jsonpath='{.endpoints[*].addresses[*]}')
got=$(k get networkpolicy "$FULL" -n "$NS" -o jsonpath='{.spec.egress[0].to[*].ipBlock.cidr}')
ports=$(k get networkpolicy "$FULL" -n "$NS" -o jsonpath='{.spec.egress[0].ports[*].port}')
[ -n "$want" ] && [ "$got" = "$want/32" ] && [ "$ports" = "443 6443" ] &&
  ok "webhook egress limited to the API server endpoints ($got on $ports)" ||
  bad "API server egress" "endpoints: $want; policy: $got on $ports"

# --- certificates ------------------------------------------------------------
k get validatingwebhookconfiguration "$FULL" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d >"$TMP/ca.crt"
k get secret "$FULL-tls" -n "$NS" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$TMP/tls.crt"
k get secret "$FULL-tls" -n "$NS" -o jsonpath='{.data.tls\.key}' | base64 -d >"$TMP/tls.key"
check "the serving certificate verifies against every webhook's caBundle" \
  bash -c "openssl verify -CAfile '$TMP/ca.crt' '$TMP/tls.crt' &&
    [ \$(k() { '$KUBECTL' \"\$@\"; }; { k get validatingwebhookconfiguration '$FULL' -o jsonpath='{.webhooks[*].clientConfig.caBundle}';
         echo; k get mutatingwebhookconfiguration '$FULL' -o jsonpath='{.webhooks[*].clientConfig.caBundle}'; } |
         tr ' ' '\n' | sort -u | grep -c .) = 1 ]"
sans=$(openssl x509 -in "$TMP/tls.crt" -noout -ext subjectAltName 2>/dev/null)
grep -q "DNS:$FULL.$NS.svc" <<<"$sans" && grep -q "IP Address:127.0.0.1" <<<"$sans" &&
  ok "SANs name the Service and the ipSANs value" || bad "SANs" "$sans"
k get secret "$FULL-tls" -n "$NS" -o jsonpath='{.data}' | grep -q '"ca.key"\|"tls.key":.*"tls.key"' &&
  bad "the CA key must not be in the Secret the pod mounts" || ok "the CA key is not in the serving Secret"

# --- webhook configuration shape --------------------------------------------
k get validatingwebhookconfiguration "$FULL" -o json >"$TMP/vwc.json"
k get mutatingwebhookconfiguration "$FULL" -o json >"$TMP/mwc.json"
check "webhook configurations: v1 reviews, sideEffects None, Equivalent, timeouts, exclusions, objectSelector" \
  python3 - "$TMP/vwc.json" "$TMP/mwc.json" "$NS" "$PORT" <<'PY'
import json, sys
v, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ns, port = sys.argv[3], sys.argv[4]
names = [w["name"] for w in v["webhooks"]]
assert names == ["pods.validate.loki-guard.io", "workloads.validate.loki-guard.io",
                 "networkpolicies.validate.loki-guard.io", "clusternetworkpolicies.validate.loki-guard.io"], names
for w in v["webhooks"] + m["webhooks"]:
    assert w["admissionReviewVersions"] == ["v1"], w["name"]
    assert w["sideEffects"] == "None" and w["matchPolicy"] == "Equivalent", w["name"]
    assert w["failurePolicy"] == "Fail" and w["timeoutSeconds"] == 5, w["name"]
    assert w["clientConfig"]["url"].startswith(f"https://127.0.0.1:{port}/"), w["clientConfig"]
    sel = w["namespaceSelector"]
    if w["name"] == "clusternetworkpolicies.validate.loki-guard.io":
        # Cluster-scoped objects: the chart sets none, the API server stores its default (everything).
        assert sel == {} and w["rules"][0]["scope"] == "Cluster", w
        continue
    assert sel["matchLabels"] == {"loki-guard.io/enforce": "chart-" + ns.split("-")[-1]}, sel
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [ns, "kube-system"]} \
        in sel["matchExpressions"], sel
pods = v["webhooks"][0]
assert pods["objectSelector"] == {"matchLabels": {"app": "loki-mode"}}, pods
assert v["webhooks"][1].get("objectSelector") in (None, {}), "workloads are matched by template, not own labels"
mw = m["webhooks"][0]
assert mw["reinvocationPolicy"] == "IfNeeded" and mw["clientConfig"]["url"].endswith("/mutate"), mw
PY

# --- RBAC: the chart's ServiceAccount is enough for the webhook, and no more --
SA=system:serviceaccount:$NS:$FULL
TOKEN=$(k create token "$FULL" -n "$NS" --duration=1h)
cat >"$TMP/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$LOKI_CLUSTER_SERVER", certificate-authority: "$LOKI_CLUSTER_CA"}}]
users: [{name: sa, user: {token: "$TOKEN"}}]
contexts: [{name: c, context: {cluster: c, user: sa}}]
current-context: c
EOF
k get configmap "$FULL" -n "$NS" -o jsonpath='{.data.policy\.yaml}' >"$TMP/policy.yaml"
# The background-audit flags as the chart's Deployment passes them (interval shortened for the test),
# the Lease in the release namespace as POD_NAMESPACE gives it in the pod.
AUDIT_ARGS=$(k get deployment "$FULL" -n "$NS" -o json | python3 -c '
import json, sys
a = json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]["args"]
print(" ".join(x for x in a if x.startswith(("--background-audit", "--audit-resync", "--report-api"))))')
start_webhook() {
  # shellcheck disable=SC2086
  POD_NAME=$FULL-test POD_NAMESPACE=$NS "$WEBHOOK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.crt" \
    --tls-key "$TMP/tls.key" --config "$TMP/policy.yaml" --kubeconfig "$TMP/sa.kubeconfig" $AUDIT_ARGS \
    --audit-interval=1s >>"$TMP/webhook.log" 2>&1 &
  WPID=$!
  wait_https "https://127.0.0.1:$PORT/readyz" "$TMP/ca.crt" 150
}
start_webhook && ok "loki-webhook with the chart's certificate, config and ServiceAccount token: cache synced (/readyz)" ||
  bad "webhook not ready with the chart's RBAC" "$(tail -20 "$TMP/webhook.log")"
grep -q '"level":"error"\|forbidden' "$TMP/webhook.log" && bad "webhook logged errors" "$(grep -m5 'error\|forbidden' "$TMP/webhook.log")" ||
  ok "no RBAC errors in the webhook's log"
for verb_res in "get secrets" "list secrets" "watch secrets" "create pods" "delete pods" "update networkpolicies" \
  "create validatingwebhookconfigurations" "list configmaps" "get nodes"; do
  # shellcheck disable=SC2086
  [ "$(k auth can-i $verb_res --as="$SA" -A 2>/dev/null)" = no ] && ok "ServiceAccount cannot $verb_res" ||
    bad "ServiceAccount can $verb_res"
done
# Every resource permission the ServiceAccount holds, beyond the self-review
# APIs every authenticated user gets: exactly the reads the cache needs.
k auth can-i --list --as="$SA" -n "$APP" >"$TMP/can-i.txt" 2>&1
got=$(awk 'NR > 1 && $1 !~ /^\[/ && $1 !~ /^self.*reviews/ {match($0, /\[[^]]*\]$/); print $1, substr($0, RSTART)}' "$TMP/can-i.txt" | sort | tr '\n' ';')
want=$(sort <<'EOF' | tr '\n' ';'
ciliumnetworkpolicies.cilium.io [get list watch]
clusternetworkpolicies.policy.networking.k8s.io [get list watch]
adminnetworkpolicies.policy.networking.k8s.io [get list watch]
baselineadminnetworkpolicies.policy.networking.k8s.io [get list watch]
namespaces [get list watch]
networkpolicies.networking.k8s.io [get list watch]
pods [get list watch]
serviceaccounts [get list watch]
reports.openreports.io [list create patch delete]
replicasets.apps [get]
deployments.apps [get]
statefulsets.apps [get]
daemonsets.apps [get]
jobs.batch [get]
cronjobs.batch [get]
replicationcontrollers [get]
EOF
)
[ "$got" = "$want" ] &&
  ok "can-i --list: get/list/watch on what the cache watches; list/create/patch/delete on reports; get on workload owners" ||
  bad "ServiceAccount permissions" "$(cat "$TMP/can-i.txt")"
# The audit Lease: in the release namespace only, and only the one named loki-guard-audit is updatable.
lease_ok=1
for want_can in "yes create leases -n $NS" "yes get leases/loki-guard-audit -n $NS" "yes update leases/loki-guard-audit -n $NS" \
  "no update leases/other -n $NS" "no delete leases/loki-guard-audit -n $NS" "no create leases -n $APP" \
  "no watch reports.openreports.io -A" "no update reports.openreports.io -A"; do
  read -r expect verb res rest <<<"$want_can"
  # shellcheck disable=SC2086
  [ "$(k auth can-i "$verb" "$res" $rest --as="$SA" 2>/dev/null)" = "$expect" ] || { lease_ok=; bad "can-i $verb $res $rest: not $expect"; }
done
[ -n "$lease_ok" ] && ok "leases: create, and get/update of loki-guard-audit, in the release namespace only; no watch/update on reports"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$LOKI_CLUSTER_CA" -H "Authorization: Bearer $TOKEN" \
  "$LOKI_CLUSTER_SERVER/api/v1/secrets")
[ "$code" = 403 ] && ok "the token itself is refused Secrets (HTTP 403)" || bad "token reading secrets: HTTP $code"

# --- admission through the real API server ----------------------------------
k create namespace "$APP" >/dev/null && k label namespace "$APP" loki-guard.io/enforce=$MARK >/dev/null
k label namespace "$NS" loki-guard.io/enforce=$MARK >/dev/null  # the release namespace stays excluded anyway
sleep 1  # webhook configurations and namespace labels reach the API server's informers asynchronously
pod() {  # name namespace labels-json hostNetwork
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":%s},"spec":{"hostNetwork":%s,"containers":[{"name":"agent","image":"loki:1"}]}}' "$@"
}
apply() {  # name want(ok|deny) json [pattern]
  local out rc
  out=$(k apply -f - <<<"$3" 2>&1)
  rc=$?
  if [ "$2" = ok ] && [ $rc -eq 0 ]; then ok "$1"
  elif [ "$2" = deny ] && [ $rc -ne 0 ] && grep -qE -- "${4:-loki-guard}" <<<"$out"; then ok "$1"
  else bad "$1 (kubectl exit $rc)" "$out"; fi
}
apply "a hostNetwork agent in a protected namespace is refused" deny \
  "$(pod hostnet "$APP" '{"app":"loki-mode"}' true)" "host-network"
apply "a plain agent is admitted" ok "$(pod plain "$APP" '{"app":"loki-mode"}' false)"
k get pod plain -n "$APP" -o jsonpath='{.spec.securityContext.seccompProfile.type} {.spec.containers[0].securityContext.readOnlyRootFilesystem}' |
  grep -q "RuntimeDefault true" && ok "the mutating webhook patched it (seccomp, read-only root)" ||
  bad "not patched" "$(k get pod plain -n "$APP" -o yaml | head -60)"
# The background audit with the chart's RBAC: the local replica holds the Lease and writes the namespace's report.
until_report() {
  local i
  for i in $(seq 1 150); do
    k get reports -A 2>/dev/null | grep -qE "^$APP +loki-guard" && return 0
    sleep 0.2
  done
  return 1
}
until_report && ok "kubectl get reports -A lists $APP/loki-guard (background audit with the chart's RBAC)" ||
  bad "no report in $APP" "$(k get reports -A 2>&1; grep -i 'audit\|lease' "$TMP/webhook.log" | tail -5)"
[ "$(k get lease loki-guard-audit -n "$NS" -o jsonpath='{.spec.holderIdentity}')" = "$FULL-test" ] &&
  ok "the Lease $NS/loki-guard-audit is held by the replica (POD_NAME)" || bad "lease holder"
apply "a pod outside the agent selector is not reviewed (objectSelector)" ok "$(pod other "$APP" '{"app":"web"}' true)"
apply "the release namespace is never reviewed" ok "$(pod agent "$NS" '{"app":"loki-mode"}' true)"
apply "a Deployment whose template breaks the rules is refused" deny \
  "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"namespace\":\"$APP\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"loki-mode\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"loki-mode\"}},\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"loki:1\",\"ports\":[{\"containerPort\":80,\"hostPort\":80}]}]}}}}" \
  "host-port"

# --- upgrade: the CA (caBundle) stays, the serving certificate is re-signed ----
ca_before=$(k get validatingwebhookconfiguration "$FULL" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
out=$("$HELM" upgrade "$REL" "$ROOT/charts/loki-guard" -n "$NS" --reuse-values --set webhook.timeoutSeconds=7 2>&1) &&
  ok "helm upgrade" || bad "helm upgrade" "$out"
ca_after=$(k get validatingwebhookconfiguration "$FULL" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
mca_after=$(k get mutatingwebhookconfiguration "$FULL" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
[ -n "$ca_before" ] && [ "$ca_before" = "$ca_after" ] && [ "$ca_before" = "$mca_after" ] &&
  ok "helm upgrade keeps the caBundle (no churn)" || bad "caBundle changed on upgrade"
[ "$(k get validatingwebhookconfiguration "$FULL" -o jsonpath='{.webhooks[0].timeoutSeconds}')" = 7 ] &&
  ok "the upgrade applied the new value" || bad "timeoutSeconds not upgraded"
k get secret "$FULL-tls" -n "$NS" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$TMP/tls2.crt"
check "the re-signed serving certificate verifies against the unchanged CA" \
  openssl verify -CAfile "$TMP/ca.crt" "$TMP/tls2.crt"
cp "$TMP/tls2.crt" "$TMP/tls.crt.new" && k get secret "$FULL-tls" -n "$NS" -o jsonpath='{.data.tls\.key}' | base64 -d >"$TMP/tls.key.new"
mv "$TMP/tls.key.new" "$TMP/tls.key" && mv "$TMP/tls.crt.new" "$TMP/tls.crt"  # the webhook reloads the pair
sleep 1.5
apply "after the upgrade and the certificate reload, refusals still come through" deny \
  "$(pod hostnet2 "$APP" '{"app":"loki-mode"}' true)" "host-network"

# --- uninstall leaves nothing that blocks the cluster -------------------------
stop_webhook
out=$("$HELM" uninstall "$REL" -n "$NS" --wait 2>&1) && ok "helm uninstall" || bad "helm uninstall" "$out"
left=$(k get validatingwebhookconfiguration,mutatingwebhookconfiguration,clusterrole,clusterrolebinding -o name 2>/dev/null | grep "$FULL")
[ -z "$left" ] && ok "no cluster-scoped objects left" || bad "left behind" "$left"
left=$(k get all,configmap,secret,networkpolicy,poddisruptionbudget,serviceaccount -n "$NS" -o name 2>/dev/null |
  grep -v "configmap/kube-root-ca.crt\|serviceaccount/default\|pod/agent")
[ -z "$left" ] && ok "no namespaced objects left" || bad "left behind in $NS" "$left"
apply "with the webhook gone and uninstalled, pods are created normally" ok \
  "$(pod after "$APP" '{"app":"loki-mode"}' false)"

# --- certManager mode: Issuer chain + Certificate, CA injected by cert-manager --
made_crds=
if ! k get crd certificates.cert-manager.io >/dev/null 2>&1; then
  k apply -f "$ROOT/tests/chart/fixtures/cert-manager-crds.yaml" >/dev/null && made_crds=1
  k wait --for condition=established crd/certificates.cert-manager.io crd/issuers.cert-manager.io >/dev/null
fi
REL2=lgcm$$
out=$("$HELM" install "$REL2" "$ROOT/charts/loki-guard" -n "$NS" --create-namespace \
  --set certificates.mode=certManager 2>&1) && ok "helm install (certificates.mode=certManager)" ||
  bad "helm install certManager" "$out"
F2=$REL2-loki-guard
got=$(k get issuer,certificate -n "$NS" -o name 2>/dev/null | sort | tr '\n' ' ')
want="certificate.cert-manager.io/$F2 certificate.cert-manager.io/$F2-ca issuer.cert-manager.io/$F2-ca issuer.cert-manager.io/$F2-selfsigned "
[ "$got" = "$want" ] && ok "cert-manager objects: self-signed Issuer, CA Certificate, CA Issuer, serving Certificate" ||
  bad "cert-manager objects" "$got"
[ "$(k get certificate "$F2" -n "$NS" -o jsonpath='{.spec.secretName}')" = "$F2-tls" ] &&
  ok "the serving Certificate writes the Secret the Deployment mounts" || bad "Certificate secretName"
for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
  a=$(k get "$kind" "$F2" -o jsonpath='{.metadata.annotations.cert-manager\.io/inject-ca-from}')
  [ "$a" = "$NS/$F2" ] && ok "$kind carries cert-manager.io/inject-ca-from: $a" || bad "$kind inject-ca-from: '$a'"
done
echo "note: no cert-manager controller/cainjector runs in the test cluster, so certificate issuance and caBundle injection are cert-manager's part and not exercised here"
"$HELM" uninstall "$REL2" -n "$NS" --wait >/dev/null 2>&1 && [ -z "$(k get issuer,certificate -n "$NS" -o name 2>/dev/null)" ] &&
  ok "helm uninstall removes the cert-manager objects" || bad "cert-manager objects left"
[ -n "$made_crds" ] && k delete -f "$ROOT/tests/chart/fixtures/cert-manager-crds.yaml" >/dev/null 2>&1

summary
