#!/usr/bin/env bash
# loki-audit against the real kube-apiserver of tests/cluster/up: pagination,
# ownerReferences grouping, RBAC errors, exec credential plugins, KUBECONFIG
# merging, a wrong CA, in-cluster config, the fourth seed's shadowed egress,
# and Argo Rollouts (a CRD) listed where the API serves them.
# Objects are created with kubectl apply, exactly as users do.
set -uo pipefail
AUDIT=${1:?usage: test_audit.sh path/to/loki-audit}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
NS=lg-audit-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
k() { "$KUBECTL" "$@"; }
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
cleanup_ns() { k delete namespace "$@" --wait=false >/dev/null 2>&1 || true; }
trap 'cleanup_ns $NS ${NS}-models ${NS}-escape; rm -rf "$TMP"' EXIT

# ---- a namespace with 55 agent pods and a bare hostNetwork pod --------------
k create namespace "$NS" >/dev/null
cat >"$TMP/agents.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agents
  namespace: $NS
spec:
  replicas: 55
  selector:
    matchLabels: {app: loki-mode, fleet: a}
  template:
    metadata:
      labels: {app: loki-mode, fleet: a}
    spec:
      containers:
      - name: agent
        image: loki:1
---
apiVersion: v1
kind: Pod
metadata:
  name: bare-hostnet
  namespace: $NS
  labels: {app: loki-mode}
spec:
  hostNetwork: true
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: agent
    image: loki:1
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
k apply -f "$TMP/agents.yaml" >/dev/null
for i in $(seq 1 120); do
  n=$(k get pods -n "$NS" -l fleet=a --no-headers 2>/dev/null | wc -l)
  [ "$n" -ge 55 ] && break
  sleep 0.5
done
[ "$n" -ge 55 ] && ok "controller-manager created $n pods" || bad "only $n pods were created"

run "audit with --chunk-size 7 finds problems" 1 "$AUDIT" --namespace "$NS" --chunk-size 7 --timing -f json
cp "$TMP/out" "$TMP/audit.json"
has "paginated: 55+ pods in pages of 7" "$TMP/err" "pages"
python3 - "$TMP/audit.json" "$TMP/err" <<'PY' && ok "findings grouped once per Deployment, naming its pods" || bad "grouping" "$(head -c 3000 "$TMP/audit.json")"
import json, re, sys
f = json.load(open(sys.argv[1]))["findings"]
err = open(sys.argv[2]).read()
pages = int(re.search(r"(\d+) pages", err).group(1))
assert pages >= 9, f"expected >= 9 pages with --chunk-size 7, got {pages}"
wr = [x for x in f if x["rule"] == "writable-root-fs"]
deps = [x for x in wr if x["object"]["kind"] == "Deployment" and x["object"]["name"] == "agents"]
assert len(deps) == 1, wr
assert "55 pods" in deps[0]["message"], deps[0]["message"]
assert deps[0]["file"].endswith("/namespaces/" + deps[0]["object"]["namespace"] + "/deployments/agents")
assert not [x for x in f if x["object"]["kind"] in ("ReplicaSet",)], "pods must be reported on the Deployment"
hn = [x for x in f if x["rule"] == "host-network"]
assert len(hn) == 1 and hn[0]["object"] == {"apiVersion": "v1", "kind": "Pod", "namespace": hn[0]["object"]["namespace"], "name": "bare-hostnet"}, hn
PY
run "--all-pods and -A work" 1 "$AUDIT" -A --all-pods -f json
python3 -c "import json,sys; d=json.load(open('$TMP/out')); assert d['summary']['objects'] > 55" && ok "-A sees the cluster" || bad "-A"

# ---- usage and connection errors ------------------------------------------------
run "unknown namespace" 2 "$AUDIT" --namespace does-not-exist-$$
has "unknown namespace message" "$TMP/err" "namespace \"does-not-exist-$$\" not found"
sed "s#server: .*#server: https://127.0.0.1:1#" "$KUBECONFIG" >"$TMP/refused.kubeconfig"
run "connection refused" 2 "$AUDIT" --kubeconfig "$TMP/refused.kubeconfig" -n "$NS"
has "connection refused message" "$TMP/err" "cannot connect to the API server at https://127.0.0.1:1"
run "missing kubeconfig" 2 "$AUDIT" --kubeconfig "$TMP/nope" -n "$NS"
has "missing kubeconfig message" "$TMP/err" "no such file"
run "unknown context" 2 "$AUDIT" --context nope -n "$NS"
has "unknown context message" "$TMP/err" "context \"nope\" not found"

# ---- a wrong CA is reported as such ----------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.key" -out "$TMP/other.crt" -days 1 -subj /CN=other-ca 2>/dev/null
SERVER=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
cat >"$TMP/wrongca.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: $SERVER, certificate-authority: other.crt}
users:
- name: u
  user: {token: $ADMIN_TOKEN}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
EOF
run "wrong CA" 2 "$AUDIT" --kubeconfig "$TMP/wrongca.kubeconfig" -n "$NS"
has "wrong CA message names the CA file" "$TMP/err" "unknown authority.*other.crt"
sed "s#certificate-authority: other.crt#certificate-authority: $LOKI_CLUSTER_CA, tls-server-name: wrong.example.com#" "$TMP/wrongca.kubeconfig" >"$TMP/name.kubeconfig"
run "certificate name mismatch" 2 "$AUDIT" --kubeconfig "$TMP/name.kubeconfig" -n "$NS"
has "name mismatch message" "$TMP/err" "not valid for \"wrong.example.com\""

# ---- 401 and 403 -----------------------------------------------------------------
sed "s#token: $ADMIN_TOKEN#token: not-a-valid-token#; s#other.crt#$LOKI_CLUSTER_CA#" "$TMP/wrongca.kubeconfig" >"$TMP/badtoken.kubeconfig"
run "rejected token" 2 "$AUDIT" --kubeconfig "$TMP/badtoken.kubeconfig" -n "$NS"
has "401 message names the user" "$TMP/err" "rejected the credentials of user \"u\""
# The restricted user may read pods and workloads, not NetworkPolicies.
cat >"$TMP/rbac.yaml" <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: audit-partial, namespace: $NS}
rules:
- apiGroups: [""]
  resources: [pods, namespaces]
  verbs: [get, list]
- apiGroups: [apps, batch]
  resources: ["*"]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: audit-partial, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: audit-partial}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: restricted}
EOF
k apply -f "$TMP/rbac.yaml" >/dev/null
run "restricted user without list on networkpolicies" 2 "$AUDIT" --kubeconfig "$LOKI_RESTRICTED_KUBECONFIG" -n "$NS"
has "403 names the verb and resource" "$TMP/err" "forbidden \(403\).*networkpolicies"
has "403 shows the RBAC rule that would allow it" "$TMP/err" 'apiGroups: \["networking.k8s.io"\]'

# ---- exec credential plugin ----------------------------------------------------
cat >"$TMP/plugin.sh" <<EOF
#!/bin/sh
# Proves KUBERNETES_EXEC_INFO arrives, then prints an ExecCredential.
echo "\$KUBERNETES_EXEC_INFO" > "$TMP/exec-info.json"
echo "\$PLUGIN_GREETING" > "$TMP/exec-env.txt"
cat <<JSON
{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
 "status": {"token": "$ADMIN_TOKEN", "expirationTimestamp": "2099-01-01T00:00:00Z"}}
JSON
EOF
chmod +x "$TMP/plugin.sh"
cat >"$TMP/exec.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: $SERVER, certificate-authority: $LOKI_CLUSTER_CA}
users:
- name: via-plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      env: [{name: PLUGIN_GREETING, value: hello}]
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: ctx
  context: {cluster: c, user: via-plugin, namespace: $NS}
current-context: ctx
EOF
run "exec plugin authenticates (context namespace used)" 1 "$AUDIT" --kubeconfig "$TMP/exec.kubeconfig" -f json
has "KUBERNETES_EXEC_INFO passed to the plugin" "$TMP/exec-info.json" '"kind":"ExecCredential".*"server"'
has "plugin env passed" "$TMP/exec-env.txt" "hello"
sed 's#command: ./plugin.sh#command: gke-gcloud-auth-plugin-missing\n      installHint: "Install it with: gcloud components install gke-gcloud-auth-plugin"#' "$TMP/exec.kubeconfig" >"$TMP/missing.kubeconfig"
run "missing exec plugin" 2 "$AUDIT" --kubeconfig "$TMP/missing.kubeconfig"
has "installHint shown" "$TMP/err" "gcloud components install"
cat >"$TMP/gcp.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: $SERVER}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: ctx, context: {cluster: c, user: g}}]
current-context: ctx
EOF
run "legacy auth-provider gcp" 2 "$AUDIT" --kubeconfig "$TMP/gcp.kubeconfig"
has "gcp message points at gke-gcloud-auth-plugin" "$TMP/err" "gke-gcloud-auth-plugin"

# ---- KUBECONFIG with two files merges as kubectl does ---------------------------
mkdir -p "$TMP/a" "$TMP/b"
cp "$LOKI_CLUSTER_CA" "$TMP/b/ca.crt"
cat >"$TMP/a/config" <<EOF
apiVersion: v1
kind: Config
users: [{name: admin-token, user: {token: $ADMIN_TOKEN}}]
contexts: [{name: merged, context: {cluster: from-b, user: admin-token, namespace: $NS}}]
current-context: merged
EOF
cat >"$TMP/b/config" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: from-b, cluster: {server: $SERVER, certificate-authority: ca.crt}}]
users: [{name: admin-token, user: {token: wrong-token-second-file-loses}}]
contexts: [{name: other, context: {cluster: from-b, user: admin-token}}]
current-context: other
EOF
run "KUBECONFIG=a:b merges (first file wins, relative CA path from b)" 1 env KUBECONFIG="$TMP/a/config:$TMP/b/config" "$AUDIT" -f json
python3 -c "import json; d=json.load(open('$TMP/out')); assert any(f['object']['name']=='agents' for f in d['findings'])" \
  && ok "merged context audited the right namespace" || bad "merged context"
run "kubectl agrees on the merged context" 0 env KUBECONFIG="$TMP/a/config:$TMP/b/config" "$KUBECTL" config current-context
has "kubectl current-context" "$TMP/out" "^merged$"

# ---- in-cluster config -------------------------------------------------------------
mkdir -p "$TMP/sa"
cp "$LOKI_CLUSTER_CA" "$TMP/sa/ca.crt"
printf '%s' "$ADMIN_TOKEN" >"$TMP/sa/token"
printf '%s' "$NS" >"$TMP/sa/namespace"
HOSTPORT=${SERVER#https://}
run "in-cluster config (service account token and CA)" 1 env -u KUBECONFIG HOME="$TMP" LOKI_INCLUSTER_DIR="$TMP/sa" \
  KUBERNETES_SERVICE_HOST="${HOSTPORT%:*}" KUBERNETES_SERVICE_PORT="${HOSTPORT##*:}" "$AUDIT" -f json
has "in-cluster audit used the pod's namespace" "$TMP/out" "\"namespace\": \"$NS\""

# ---- issue 18: escape routes on live pods (no webhook in this namespace) ----------
ENS=${NS}-escape
k create namespace "$ENS" >/dev/null
escape_pod() {  # name extra-pod-spec-lines extra-container-sc pod-runAsUser
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $ENS, labels: {app: loki-mode}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: ${4:-1000}, seccompProfile: {type: RuntimeDefault}}
${2:-}
  containers:
  - name: agent
    image: loki:1
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}${3:-}}
---
EOF
}
{
  escape_pod docker-sock "  volumes: [{name: sock, hostPath: {path: /var/run/docker.sock, type: Socket}}]"
  escape_pod spc-t "" ", seLinuxOptions: {type: spc_t}"
  escape_pod pod-root "" ", runAsUser: 2000" 0
  escape_pod clean
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: git-repo, namespace: $ENS}
spec:
  selector: {matchLabels: {app: loki-mode, fleet: git}}
  template:
    metadata: {labels: {app: loki-mode, fleet: git}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      volumes: [{name: repo, gitRepo: {repository: "https://github.com/example/agent-task.git"}}]
      containers:
      - name: agent
        image: loki:1
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
} >"$TMP/escape.yaml"
k apply -f "$TMP/escape.yaml" >"$TMP/apply.out" 2>&1 && ok "escape-route pods created without a webhook" \
  || bad "kubectl apply of the escape-route pods" "$(cat "$TMP/apply.out")"
for i in $(seq 1 60); do
  [ "$(k get pods -n "$ENS" -l fleet=git --no-headers 2>/dev/null | wc -l)" -ge 1 ] && break
  sleep 0.5
done
run "escape routes found on live pods" 1 "$AUDIT" --namespace "$ENS" -f json
python3 - "$TMP/out" <<'PY' && ok "docker.sock, spc_t, gitRepo and the pod-level runAsUser 0 reported, objects named" || bad "escape-route findings" "$(cat "$TMP/out")"
import json, sys
f = [x for x in json.load(open(sys.argv[1]))["findings"] if x["rule"] not in ("egress-unrestricted",)]
by = {}
for x in f:
    by.setdefault((x["object"]["kind"], x["object"]["name"]), set()).add(x["rule"])
def msg(kind, name, rule):
    return " ".join(x["message"] for x in f if x["object"]["kind"] == kind and x["object"]["name"] == name and x["rule"] == rule)
assert by.get(("Pod", "docker-sock")) >= {"host-path-runtime-socket", "host-path-volume"}, by
assert "/var/run/docker.sock" in msg("Pod", "docker-sock", "host-path-runtime-socket")
assert by.get(("Pod", "spc-t")) == {"selinux-options"}, by
assert "spc_t" in msg("Pod", "spc-t", "selinux-options")
assert by.get(("Pod", "pod-root")) == {"run-as-root"}, by
assert "added later" in msg("Pod", "pod-root", "run-as-root")
assert by.get(("Deployment", "git-repo")) == {"git-repo-volume"}, by  # grouped on the owner, not its pods
assert ("Pod", "clean") not in by, by
PY
run "text report names the objects" 1 "$AUDIT" --namespace "$ENS"
has "text: Pod docker-sock with the socket" "$TMP/out" "docker-sock"
has "text: host-path-runtime-socket finding" "$TMP/out" "\[host-path-runtime-socket\].*/var/run/docker.sock"

# ---- the fourth seed end to end: egress shadowed by a label mismatch -------------
MNS=${NS}-models
sed "s/name: models$/name: $MNS/; s/namespace: models$/namespace: $MNS/" "$ROOT/manifests/examples/broken/shadowed-egress.yaml" >"$TMP/seed4.yaml"
k apply -f "$TMP/seed4.yaml" >/dev/null || bad "kubectl apply of the seed" "$(k apply -f "$TMP/seed4.yaml" 2>&1)"
for i in $(seq 1 60); do
  [ "$(k get pods -n "$MNS" -l app=llm-api --no-headers 2>/dev/null | wc -l)" -ge 1 ] && break
  sleep 0.5
done
run "seed 4: shadowed egress found on the live pods" 1 "$AUDIT" --namespace "$MNS" --all-pods -f json
python3 - "$TMP/out" <<'PY' && ok "egress-shadowed names the policy and the missing label, on the Deployment" || bad "egress-shadowed" "$(cat "$TMP/out")"
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
sh = [x for x in f if x["rule"] == "egress-shadowed"]
assert len(sh) == 1, sh
m = sh[0]["message"]
assert "deny-all-egress" in m and "role" in m, m
assert sh[0]["object"]["kind"] == "Deployment" and sh[0]["object"]["name"] == "llm-api", sh[0]["object"]
PY
# Issue 22: two replicas, one finding of the Deployment (messages that named each pod grouped),
# named as kubectl does and located "live" in the text output; a ServiceAccount's
# automountServiceAccountToken: false honoured for pods that leave the field unset.
k scale deployment/llm-api -n "$MNS" --replicas=2 >/dev/null
cat >"$TMP/sa.yaml" <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: no-token, namespace: $MNS}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sa-inherits, namespace: $MNS}
spec:
  selector: {matchLabels: {app: sa-inherits}}
  template:
    metadata: {labels: {app: sa-inherits}}
    spec:
      serviceAccountName: no-token
      containers: [{name: agent, image: loki:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sa-overrides, namespace: $MNS}
spec:
  selector: {matchLabels: {app: sa-overrides}}
  template:
    metadata: {labels: {app: sa-overrides}}
    spec:
      serviceAccountName: no-token
      automountServiceAccountToken: true
      containers: [{name: agent, image: loki:1}]
EOF
k apply -f "$TMP/sa.yaml" >/dev/null || bad "kubectl apply of the ServiceAccount case" "$(k apply -f "$TMP/sa.yaml" 2>&1)"
for i in $(seq 1 60); do
  [ "$(k get pods -n "$MNS" --no-headers 2>/dev/null | wc -l)" -ge 4 ] && break
  sleep 0.5
done
run "issue 22: live audit, text" 1 "$AUDIT" --namespace "$MNS" --all-pods --color never
has "live object named as kubectl does" "$TMP/out" "^deployment/llm-api -n $MNS \(apps/v1, live\)$"
has "located live" "$TMP/out" "^  live: error \[egress-shadowed\]"
if grep -q "/apis/apps/v1/namespaces/.*:0" "$TMP/out"; then bad "pseudo-file in the text output" "$(cat "$TMP/out")"; else ok "no pseudo-file in the text output"; fi
run "issue 22: live audit, JSON" 1 "$AUDIT" --namespace "$MNS" --all-pods -f json
python3 - "$TMP/out" <<'PY' && ok "one finding per workload and rule listing both pods; ServiceAccount default honoured" || bad "issue 22 live" "$(cat "$TMP/out")"
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
sh = [x for x in f if x["rule"] == "egress-shadowed" and x["object"]["name"] == "llm-api"]
assert len(sh) == 1, sh
assert sh[0]["message"].count("llm-api-") >= 2 and "[pods: " in sh[0]["message"], sh[0]["message"]
for rule in {x["rule"] for x in f}:
    per = [x for x in f if x["rule"] == rule and x["object"]["name"] == "llm-api" and x["container"] is None]
    assert len(per) <= 1, per
tok = {x["object"]["name"] for x in f if x["rule"] == "service-account-token"}
assert "sa-inherits" not in tok and "sa-overrides" in tok, tok
PY
k delete -f "$TMP/sa.yaml" --wait=false >/dev/null 2>&1
k scale deployment/llm-api -n "$MNS" --replicas=1 >/dev/null
run "explain against the cluster: the shadowed pod reaches the internet" 0 "$AUDIT" explain deployment/llm-api -n "$MNS" --to 1.1.1.1:443
has "explain names the near miss" "$TMP/out" "role"
k label pods -n "$MNS" -l app=llm-api role=backend >/dev/null
POD=$(k get pods -n "$MNS" -l app=llm-api -o jsonpath='{.items[0].metadata.name}')
run "explain against the cluster: the labelled pod is isolated" 1 "$AUDIT" explain "pod/$POD" -n "$MNS" --to 1.1.1.1:443
run "seed 4: with the label the finding is gone" 0 "$AUDIT" --namespace "$MNS" --all-pods -f json --fail-on none
python3 -c "import json,sys; f=json.load(open('$TMP/out'))['findings']; sys.exit(1 if [x for x in f if x['rule'] in ('egress-shadowed','egress-unrestricted')] else 0)" \
  && ok "no egress finding after labelling" || bad "egress finding remains" "$(cat "$TMP/out")"

# ---- Argo Rollouts (a CRD): listed where served, template checked ---------------
RNS=${NS}-rollouts
trap 'cleanup_ns $NS ${NS}-models $RNS; k delete crd rollouts.argoproj.io --wait=false >/dev/null 2>&1; rm -rf "$TMP"' EXIT
cat >"$TMP/rollout-crd.yaml" <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout, shortNames: [ro]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
k apply -f "$TMP/rollout-crd.yaml" >/dev/null
k wait --for condition=established --timeout=60s crd/rollouts.argoproj.io >/dev/null || bad "rollouts CRD not established"
k create namespace "$RNS" >/dev/null
cat >"$TMP/rollout.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary-agent, namespace: $RNS}
spec:
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      hostNetwork: true
      containers: [{name: agent, image: "loki:1"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: audit-no-rollouts, namespace: $RNS}
rules:
- {apiGroups: [""], resources: [pods, namespaces, replicationcontrollers], verbs: [get, list]}
- {apiGroups: [apps, batch], resources: ["*"], verbs: [get, list]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: audit-no-rollouts, namespace: $RNS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: audit-no-rollouts}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: restricted}
EOF
k apply -f "$TMP/rollout.yaml" >/dev/null || bad "kubectl apply of the Rollout" "$(k apply -f "$TMP/rollout.yaml" 2>&1)"
run "a Rollout's template is audited (no controller: no live pods)" 1 "$AUDIT" --namespace "$RNS" -f json
python3 - "$TMP/out" <<'PY' && ok "host-network found on the Rollout, from its template" || bad "Rollout audit" "$(cat "$TMP/out")"
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
hn = [x for x in f if x["rule"] == "host-network"]
assert len(hn) == 1 and hn[0]["object"]["kind"] == "Rollout" and hn[0]["object"]["name"] == "canary-agent", hn
assert "no live pods" in hn[0]["message"], hn[0]["message"]
ns = hn[0]["object"]["namespace"]
assert hn[0]["file"].endswith("/apis/argoproj.io/v1alpha1/namespaces/" + ns + "/rollouts/canary-agent"), hn[0]["file"]
PY
run "a user who may not list rollouts still gets the audit" 0 "$AUDIT" --kubeconfig "$LOKI_RESTRICTED_KUBECONFIG" -n "$RNS" --fail-on none
has "forbidden rollouts are a note" "$TMP/err" 'note: cannot list rollouts.argoproj.io \(forbidden\)'

summary
