#!/usr/bin/env bash
# charts/loki-guard offline: helm lint and helm template for every values file
# in charts/loki-guard/ci/, the rendered webhook passing loki-audit's own
# checks, bad values refused with a clear message, the README values table and
# manifests/install/ in sync with the chart.
#
#   tests/chart/template.sh build/bin/loki-audit [path/to/helm]
set -uo pipefail
AUDIT=${1:?usage: template.sh path/to/loki-audit [helm]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
HELM=${2:-${HELM:-$(command -v helm || true)}}
[ -x "$HELM" ] || { echo "no helm (tests/cluster/build-tools.sh builds it)"; exit 1; }
CHART=$ROOT/charts/loki-guard
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
for values in "$CHART"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  check "helm lint --strict ($name)" "$HELM" lint --strict "$CHART" -f "$values"
  if ! "$HELM" template lg "$CHART" -n loki-guard -f "$values" >"$TMP/$name.yaml" 2>"$TMP/$name.err"; then
    bad "helm template ($name)" "$(cat "$TMP/$name.err")"
    continue
  fi
  ok "helm template ($name)"
  # The webhook's own pod and NetworkPolicy meet every rule (--all-pods: checked
  # as strictly as an agent); suppressed findings must carry a reason.
  "$AUDIT" lint --all-pods -f json "$TMP/$name.yaml" >"$TMP/$name.json"
  rc=$?
  check "loki-audit lint --all-pods: no findings ($name, exit $rc)" python3 - "$TMP/$name.json" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
open_ = [f for f in d["findings"] if not f.get("suppressed")]
assert sys.argv[2] == "0" and not open_, json.dumps(open_, indent=1)[:3000]
PY
done

# Shapes that differ per mode.
kinds() { grep -E '^kind: ' "$TMP/$1.yaml" | sort | uniq -c | awk '{printf "%s%s ", $1, $3}'; }
[ "$(kinds selfsigned)" = "1ClusterRole 1ClusterRoleBinding 1ConfigMap 1Deployment 1MutatingWebhookConfiguration 1NetworkPolicy 1PodDisruptionBudget 1Role 1RoleBinding 2Secret 1Service 1ServiceAccount 1ValidatingWebhookConfiguration " ] &&
  ok "selfSigned renders the CA and serving Secrets" || bad "selfSigned kinds" "$(kinds selfsigned)"
grep -q "kind: Issuer" "$TMP/certmanager.yaml" && bad "certManager with issuerRef must not create Issuers" ||
  ok "certManager with issuerRef uses it (no Issuer chain)"
grep -q "name: corp-ca" "$TMP/certmanager.yaml" && [ "$(grep -c 'cert-manager.io/inject-ca-from' "$TMP/certmanager.yaml")" = 2 ] &&
  ! grep -q caBundle "$TMP/certmanager.yaml" && ok "certManager: inject-ca-from on both configurations, no caBundle" ||
  bad "certManager rendering" "$(grep -n 'inject-ca\|caBundle\|corp-ca' "$TMP/certmanager.yaml")"
grep -q "caBundle: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" "$TMP/existingsecret.yaml" &&
  grep -q "secretName: loki-guard-tls" "$TMP/existingsecret.yaml" && ! grep -q "^kind: Secret" "$TMP/existingsecret.yaml" &&
  ok "existingSecret: mounts the given Secret, caBundle from values" || bad "existingSecret rendering"
check "url mode: every clientConfig is the URL; selector and settings reach the config" python3 - "$TMP/url.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
hooks = [w for d in docs if d["kind"].endswith("WebhookConfiguration") for w in d["webhooks"]]
# + workloads.mutate (mutation.workloads), + the cluster-scoped clusternetworkpolicies.validate
assert len(hooks) == 6, [w["name"] for w in hooks]
for w in hooks:
    assert "service" not in w["clientConfig"] and w["clientConfig"]["url"].startswith("https://127.0.0.1:9443/"), w
    assert w["failurePolicy"] == "Ignore"
    if w["name"] == "clusternetworkpolicies.validate.loki-guard.io":
        assert "namespaceSelector" not in w, w  # cluster-scoped: it would select nothing
        continue
    sel = w["namespaceSelector"]
    assert sel["matchLabels"] == {"loki-guard.io/enforce": "true"}, sel
    assert sel["matchExpressions"] == [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                        "values": ["loki-guard", "kube-system"]}], sel
cm = next(d for d in docs if d["kind"] == "ConfigMap")
cfg = yaml.safe_load(cm["data"]["policy.yaml"])
assert cfg["selector"] == "app=loki-mode,tier in (agent,sandbox),!legacy", cfg["selector"]
assert cfg["mode"] == "warn" and cfg["requireEgressIsolation"] is True
assert cfg["exemptNamespaces"] == ["loki-guard", "kube-system"], cfg
assert cfg["mutation"] == {"runAsUser": 2000, "workloads": True}
assert cfg["rules"]["runtime-class-not-sandboxed"] == {"enabled": True}, cfg["rules"]
assert cfg["sandboxRuntimeClasses"] == ["gvisor", "kata*"], cfg
pods = hooks[0]
assert pods["objectSelector"]["matchExpressions"][0] == {"key": "tier", "operator": "In", "values": ["agent", "sandbox"]}
np = next(d for d in docs if d["kind"] == "NetworkPolicy")
assert np["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}], np["spec"]["egress"]
assert "annotations" not in np["metadata"], "no suppression when the API server CIDRs are known"
PY
# The rendered policy config is one loki-webhook accepts (same parser as --config).
python3 -c 'import sys,yaml; [print(d["data"]["policy.yaml"]) for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"]=="ConfigMap"]' \
  "$TMP/url.yaml" >"$TMP/policy.yaml"
check "the rendered policy config is valid (loki-audit lint --config)" "$AUDIT" lint --config "$TMP/policy.yaml" "$ROOT/manifests/examples/hardened"

# Bad values fail at install time and say where and why.
refused() {  # name pattern helm-args...
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$HELM" template lg "$CHART" "$@" 2>&1); then bad "$name: accepted" "$(head -5 <<<"$out")"
  elif grep -qF -- "$pattern" <<<"$out"; then ok "$name"
  else bad "$name: unclear error" "$out"; fi
}
refused "failurePolicy must be Fail or Ignore" "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'" \
  --set webhook.failurePolicy=Sometimes
refused "timeoutSeconds at most 30 (the API server's limit)" "at '/webhook/timeoutSeconds': maximum: got 60, want 30" \
  --set webhook.timeoutSeconds=60
refused "a misspelt key is refused" "additional properties 'webhok' not allowed" --set webhok.port=9443
refused "an unknown certificate mode" "at '/certificates/mode': value must be one of" --set certificates.mode=vault
refused "existingSecret needs a name and a caBundle" "at '/certificates/existingSecret/name': minLength" \
  --set certificates.mode=existingSecret
refused "selector operators are the Kubernetes ones" "value must be one of 'In', 'NotIn', 'Exists', 'DoesNotExist'" \
  --set 'policy.agentSelector.matchExpressions[0].key=a' --set 'policy.agentSelector.matchExpressions[0].operator=Equals'
refused "policy.mode is enforce, warn or dry-run" "at '/policy/mode'" --set policy.mode=audit
refused "webhook.url must be https without a path" "at '/webhook/url'" --set webhook.url=http://example.com/validate
refused "the image digest is a sha256" "at '/image/digest'" --set image.digest=latest
refused "ipSANs are IP addresses" "at '/certificates/ipSANs/0'" --set 'certificates.ipSANs={localhost}'
refused "privileged webhook ports are refused" "at '/webhook/port'" --set webhook.port=443

# Background audit (issue 20): args, the Lease identity, and RBAC for exactly what it uses.
"$HELM" template lg "$CHART" -n loki-guard >"$TMP/audit-on.yaml" 2>&1 || bad "helm template (defaults)" "$(cat "$TMP/audit-on.yaml")"
"$HELM" template lg "$CHART" -n loki-guard --set backgroundAudit.enabled=false >"$TMP/audit-off.yaml" 2>&1
"$HELM" template lg "$CHART" -n loki-guard --set backgroundAudit.reportApi=wgpolicy --set backgroundAudit.interval=3s \
  >"$TMP/audit-wg.yaml" 2>&1
check "backgroundAudit: args, POD_NAME/POD_NAMESPACE, report and lease RBAC (and none when disabled)" \
  python3 - "$TMP/audit-on.yaml" "$TMP/audit-off.yaml" "$TMP/audit-wg.yaml" <<'PY'
import sys, yaml
def docs(p): return [d for d in yaml.safe_load_all(open(p)) if d]
def one(ds, kind): return next(d for d in ds if d["kind"] == kind)
on, off, wg = docs(sys.argv[1]), docs(sys.argv[2]), docs(sys.argv[3])
c = one(on, "Deployment")["spec"]["template"]["spec"]["containers"][0]
assert {"--background-audit", "--audit-interval=10s", "--audit-resync=10m", "--report-api=openreports"} <= set(c["args"]), c["args"]
env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}, env
rules = one(on, "ClusterRole")["rules"]
# The policy cache's reflectors: read-only, whatever the audit says (ServiceAccounts: their automountServiceAccountToken).
for ds in (on, off):
    core = [r for r in one(ds, "ClusterRole")["rules"] if r["apiGroups"] == [""] and "serviceaccounts" in r["resources"]]
    assert core == [{"apiGroups": [""], "resources": ["namespaces", "pods", "serviceaccounts"],
                     "verbs": ["get", "list", "watch"]}], core
assert {"apiGroups": ["openreports.io"], "resources": ["reports"], "verbs": ["list", "create", "patch", "delete"]} in rules, rules
assert not any("watch" in r["verbs"] and "reports" in r["resources"] for r in rules)
role = one(on, "Role")
assert role["metadata"]["namespace"] == "loki-guard"
assert role["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                         {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                          "resourceNames": ["loki-guard-audit"], "verbs": ["get", "update"]}], role["rules"]
assert one(on, "RoleBinding")["roleRef"]["name"] == role["metadata"]["name"]
c_off = one(off, "Deployment")["spec"]["template"]["spec"]["containers"][0]
assert not any(a.startswith("--background-audit") or a.startswith("--audit") for a in c_off["args"]), c_off["args"]
assert not any(d["kind"] in ("Role", "RoleBinding") for d in off)
assert not any("reports" in r["resources"] or "replicasets" in r["resources"] for r in one(off, "ClusterRole")["rules"])
c_wg = one(wg, "Deployment")["spec"]["template"]["spec"]["containers"][0]
assert "--report-api=wgpolicy" in c_wg["args"] and "--audit-interval=3s" in c_wg["args"]
assert {"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["list", "create", "patch", "delete"]} \
    in one(wg, "ClusterRole")["rules"]
PY
# The alert's rule ids are exactly the rules whose findings mean open egress.
"$AUDIT" rules -f json >"$TMP/rules.json"
"$HELM" template lg "$CHART" -n loki-guard --set monitoring.prometheusRule.enabled=true \
  --set monitoring.dashboard.enabled=true >"$TMP/monitoring.yaml" 2>&1
check "monitoring: PrometheusRule on the egressOpen rules (loki-audit rules), dashboard ConfigMap with valid JSON" \
  python3 - "$TMP/monitoring.yaml" "$TMP/rules.json" <<'PY'
import json, re, sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = json.load(open(sys.argv[2]))
rules = rules["rules"] if isinstance(rules, dict) else rules
egress = sorted(r["id"] for r in rules if r.get("egressOpen"))
pr = next(d for d in ds if d["kind"] == "PrometheusRule")
alert = next(r for g in pr["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LokiGuardAgentEgressOpen")
ids = sorted(re.search(r'rule=~"([^"]+)"', alert["expr"]).group(1).split("|"))
assert ids == egress and egress, (ids, egress)
cm = next(d for d in ds if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
dash = json.loads(cm["data"]["loki-guard.json"])
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
names = set(re.findall(r"\b(loki_[a-z_]+?)(?:_bucket)?\b[{(\[)]", " ".join(exprs)))
known = {"loki_audit_findings", "loki_audit_leader", "loki_audit_evaluation_duration_seconds",
         "loki_audit_report_writes_total", "loki_webhook_requests_total", "loki_webhook_request_duration_seconds"}
assert names and names <= known, names - known
assert ("|".join(egress)) in " ".join(exprs)
PY
# webhook.validateClusterNetworkPolicies: a cluster-scoped entry for policy.networking.k8s.io (on by
# default, failurePolicy from webhook.failurePolicy unless clusterNetworkPolicyFailurePolicy says otherwise).
"$HELM" template lg "$CHART" -n loki-guard >"$TMP/cnp-default.yaml" 2>&1
"$HELM" template lg "$CHART" -n loki-guard --set webhook.validateClusterNetworkPolicies=false >"$TMP/cnp-off.yaml" 2>&1
"$HELM" template lg "$CHART" -n loki-guard --set webhook.failurePolicy=Ignore >"$TMP/cnp-ignore.yaml" 2>&1
"$HELM" template lg "$CHART" -n loki-guard --set webhook.clusterNetworkPolicyFailurePolicy=Ignore >"$TMP/cnp-own.yaml" 2>&1
check "webhook.validateClusterNetworkPolicies (default on) renders a cluster-scoped review of the three cluster policy kinds" \
  python3 - "$TMP/cnp-default.yaml" "$TMP/cnp-off.yaml" "$TMP/cnp-ignore.yaml" "$TMP/cnp-own.yaml" <<'PY'
import sys, yaml
def hooks(path):
    ds = [d for d in yaml.safe_load_all(open(path)) if d]
    return {w["name"]: w for d in ds if d["kind"] == "ValidatingWebhookConfiguration" for w in d["webhooks"]}
on, off, ignore, own = (hooks(p) for p in sys.argv[1:5])
name, np = "clusternetworkpolicies.validate.loki-guard.io", "networkpolicies.validate.loki-guard.io"
assert name in on and name not in off, (list(on), list(off))
w = on[name]
# Cluster-scoped objects have no namespace, so a namespaceSelector would not filter anything.
assert "namespaceSelector" not in w, w
rule = w["rules"][0]
assert rule["apiGroups"] == ["policy.networking.k8s.io"] and rule["scope"] == "Cluster", rule
assert sorted(rule["resources"]) == ["adminnetworkpolicies", "baselineadminnetworkpolicies", "clusternetworkpolicies"]
assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"], rule
# failurePolicy follows the NetworkPolicy entry's unless set on its own.
assert w["failurePolicy"] == on[np]["failurePolicy"] == "Fail", w
assert ignore[name]["failurePolicy"] == ignore[np]["failurePolicy"] == "Ignore"
assert own[name]["failurePolicy"] == "Ignore" and own[np]["failurePolicy"] == "Fail"
PY
refused "clusterNetworkPolicyFailurePolicy is empty, Fail or Ignore" "at '/webhook/clusterNetworkPolicyFailurePolicy'" \
  --set webhook.clusterNetworkPolicyFailurePolicy=Sometimes
# reports.installCRDs: the openreports CRDs of the pinned module, unchanged but for helm's keep policy.
"$HELM" template lg "$CHART" -n loki-guard --set reports.installCRDs=true >"$TMP/crds.yaml" 2>&1
CRDS=$("$ROOT/tests/cluster/report-crds.sh" openreports 2>/dev/null | tr '\n' ' ')
# shellcheck disable=SC2086
check "reports.installCRDs renders the pinned reports-api's Report and ClusterReport CRDs (kept on uninstall)" \
  python3 - "$TMP/crds.yaml" $CRDS <<'PY'
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "CustomResourceDefinition"]
assert sorted(d["metadata"]["name"] for d in ds) == ["clusterreports.openreports.io", "reports.openreports.io"], ds
want = {w["metadata"]["name"]: w for w in (yaml.safe_load(open(p)) for p in sys.argv[2:])}
assert len(want) == 2, "report-crds.sh openreports gave " + " ".join(sys.argv[2:])
for d in ds:
    assert d["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    del d["metadata"]["annotations"]["helm.sh/resource-policy"]
    assert d == want[d["metadata"]["name"]], d["metadata"]["name"]
PY
refused "backgroundAudit.reportApi is openreports or wgpolicy" "at '/backgroundAudit/reportApi'" \
  --set backgroundAudit.reportApi=kyverno
refused "backgroundAudit.interval needs a unit" "at '/backgroundAudit/interval'" --set backgroundAudit.interval=10

check "the chart README's values table matches values.yaml" python3 "$ROOT/tests/chart/values_table.py" "$CHART" --check
HELM=$HELM "$ROOT/scripts/render-install.sh" "$TMP/install.yaml" >/dev/null 2>&1
check "manifests/install/loki-guard.yaml is what the chart renders (scripts/render-install.sh)" \
  diff -u "$ROOT/manifests/install/loki-guard.yaml" "$TMP/install.yaml"
"$AUDIT" lint --all-pods "$ROOT/manifests/install/" >"$TMP/install.lint" 2>&1 &&
  ok "manifests/install passes loki-audit lint --all-pods" || bad "manifests/install lint" "$(cat "$TMP/install.lint")"

summary
