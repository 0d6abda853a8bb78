#!/usr/bin/env bash
# loki-webhook end to end: the real kube-apiserver of tests/cluster/up calls
# the webhook over TLS (url: https://127.0.0.1:PORT, our CA as caBundle), and
# objects are created with kubectl apply exactly as users do.
set -uo pipefail
WEBHOOK=${1:?usage: e2e.sh path/to/loki-webhook}
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
NS=lg-hook-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
k() { "$KUBECTL" "$@"; }
WPID=
stop_webhook() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null; WPID=; }
cleanup() {
  stop_webhook
  k delete validatingwebhookconfiguration loki-guard-e2e-$$ >/dev/null 2>&1
  k delete mutatingwebhookconfiguration loki-guard-e2e-$$ >/dev/null 2>&1
  k delete namespace "$NS" "$NS-pss" "$NS-psa" --wait=false >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# Serving certificate for 127.0.0.1, signed by the test cluster's CA.
PKI=$LOKI_CLUSTER_DIR/pki
openssl req -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.csr" -subj /CN=loki-webhook 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$TMP/ext"
openssl x509 -req -in "$TMP/tls.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 1 \
  -extfile "$TMP/ext" -out "$TMP/tls.crt" 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/config.yaml" <<EOF
selector: app=loki-mode
exemptNamespaces: [kube-system]
EOF
start_webhook() {
  "$WEBHOOK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" \
    --config "${1:-$TMP/config.yaml}" --kubeconfig "$KUBECONFIG" >>"$TMP/webhook.log" 2>&1 &
  WPID=$!
  for i in $(seq 1 100); do
    curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
start_webhook && ok "webhook ready (policy cache synced)" || bad "webhook not ready" "$(tail -20 "$TMP/webhook.log")"

k create namespace "$NS" >/dev/null
# A label value of this run only: webhooks of tests running at the same time
# (the chart test registers its own) never see each other's namespaces.
k label namespace "$NS" loki-guard.io/enforce=e2e-$$ >/dev/null
CA_B64=$(base64 -w0 <"$PKI/ca.crt")
register() {  # failurePolicy
  cat <<EOF | k apply -f - >/dev/null
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: loki-guard-e2e-$$}
webhooks:
- name: validate.loki-guard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: $1
  matchPolicy: Equivalent
  timeoutSeconds: 5
  namespaceSelector: {matchLabels: {loki-guard.io/enforce: "e2e-$$"}}
  clientConfig: {url: "https://127.0.0.1:$PORT/validate", caBundle: $CA_B64}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers]}
  - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, replicasets, statefulsets, daemonsets]}
  - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs]}
  - {apiGroups: [networking.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE, DELETE], resources: [networkpolicies]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: loki-guard-e2e-$$}
webhooks:
- name: mutate.loki-guard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: $1
  matchPolicy: Equivalent
  reinvocationPolicy: IfNeeded
  timeoutSeconds: 5
  namespaceSelector: {matchLabels: {loki-guard.io/enforce: "e2e-$$"}}
  clientConfig: {url: "https://127.0.0.1:$PORT/mutate", caBundle: $CA_B64}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
EOF
}
register Fail
sleep 1  # webhook configurations take effect asynchronously in the API server

# The webhook decides on what its watches have delivered, a moment after
# kubectl returns: wait until a server-side dry run (which calls the webhook,
# sideEffects: None) is refused, then do the real thing.
until_refused() {  # pattern kubectl-args...
  local pattern=$1
  shift
  for i in $(seq 1 75); do
    if ! k "$@" --dry-run=server >"$TMP/dry.out" 2>&1 && grep -qE -- "$pattern" "$TMP/dry.out"; then return 0; fi
    sleep 0.2
  done
  return 0  # the real request below reports the failure
}

apply() {  # name want(ok|deny) yaml-file [pattern]
  k apply -f "$3" >"$TMP/apply.out" 2>&1
  local rc=$?
  if [ "$2" = ok ] && [ $rc -eq 0 ]; then ok "$1"
  elif [ "$2" = deny ] && [ $rc -ne 0 ] && grep -qE -- "${4:-loki-guard denied}" "$TMP/apply.out"; then ok "$1"
  else bad "$1 (kubectl exit $rc)" "$(cat "$TMP/apply.out")"; fi
}

cat >"$TMP/hostnet.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: hostnet, namespace: $NS, labels: {app: loki-mode}}
spec:
  hostNetwork: true
  containers: [{name: agent, image: loki:1}]
EOF
apply "a hostNetwork pod is refused with our message" deny "$TMP/hostnet.yaml" "host-network.*NetworkPolicy does not apply"

cat >"$TMP/deny-all.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: $NS}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
EOF
apply "a deny-all-egress policy is admitted" ok "$TMP/deny-all.yaml"

cat >"$TMP/plain.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: $NS, labels: {app: loki-mode}}
spec:
  containers: [{name: agent, image: loki:1, env: [{name: API_TOKEN, value: s3cr3t-value-do-not-log}]}]
EOF
apply "an under-hardened pod is admitted (patched)" ok "$TMP/plain.yaml"
k get pod plain -n "$NS" -o json >"$TMP/plain.json"
python3 - "$TMP/plain.json" <<'PY' && ok "kubectl get shows the patched fields" || bad "patched fields" "$(head -c 2000 "$TMP/plain.json")"
import json, sys
p = json.load(open(sys.argv[1]))
s = p["spec"]; sc = s["securityContext"]; c = s["containers"][0]
assert sc["seccompProfile"]["type"] == "RuntimeDefault" and sc["runAsNonRoot"] is True and sc["runAsUser"] == 1000
assert s["automountServiceAccountToken"] is False
assert c["securityContext"]["readOnlyRootFilesystem"] is True and c["securityContext"]["allowPrivilegeEscalation"] is False
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
assert {"name": "loki-tmp", "mountPath": "/tmp"} in c["volumeMounts"]
assert any(v["name"] == "loki-tmp" and v["emptyDir"]["medium"] == "Memory" for v in s["volumes"])
assert "seccompProfile" in p["metadata"]["annotations"]["loki-guard.io/patched"]
PY

cat >"$TMP/sidecar.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: sidecar, namespace: $NS}
spec:
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      containers:
      - {name: agent, image: loki:1}
      - name: metrics
        image: metrics:1
        ports: [{containerPort: 1080, hostPort: 1080}]
EOF
apply "a Deployment with a hostPort sidecar is refused at kubectl apply" deny "$TMP/sidecar.yaml" "hostPort 1080"

# Issue 18: escape routes of an otherwise fully hardened agent pod are refused
# with the rule and the field (as kubectl spells it) in kubectl's error.
hardened_pod() {  # name namespace extra-pod-spec-lines extra-container-sc extra-container-lines
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $2, labels: {app: loki-mode}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: {type: RuntimeDefault}}
${3:-}
  containers:
  - name: agent
    image: loki:1
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}${4:-}}
${5:-}
EOF
}
hardened_pod docker-sock "$NS" "  volumes: [{name: sock, hostPath: {path: /var/run/docker.sock, type: Socket}}]" "" \
  "    volumeMounts: [{name: sock, mountPath: /var/run/docker.sock}]" >"$TMP/docker-sock.yaml"
apply "a hardened pod mounting /var/run/docker.sock is refused (rule and field named)" deny "$TMP/docker-sock.yaml" \
  "\[host-path-runtime-socket\] .*/var/run/docker.sock.*\(spec\.volumes\[0\]\.hostPath\.path\)"
hardened_pod spc-t "$NS" "" ", seLinuxOptions: {type: spc_t}" >"$TMP/spc-t.yaml"
apply "a hardened pod with seLinuxOptions.type spc_t is refused (rule and field named)" deny "$TMP/spc-t.yaml" \
  "\[selinux-options\] .*spc_t.*\(spec\.containers\[0\]\.securityContext\.seLinuxOptions\.type\)"
cat >"$TMP/git-repo.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: git-repo, namespace: $NS}
spec:
  selector: {matchLabels: {app: loki-mode}}
  template:
    metadata: {labels: {app: loki-mode}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      volumes: [{name: repo, gitRepo: {repository: "https://github.com/example/agent-task.git"}}]
      containers:
      - name: agent
        image: loki:1
        volumeMounts: [{name: repo, mountPath: /work}]
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
apply "a Deployment whose template has a gitRepo volume is refused (rule and field named)" deny "$TMP/git-repo.yaml" \
  "\[git-repo-volume\] .*CVE-2024-10220.*\(spec\.template\.spec\.volumes\[0\]\.gitRepo\)"
for n in docker-sock spc-t; do
  k get pod "$n" -n "$NS" >/dev/null 2>&1 && bad "pod $n exists after the refusal"
done
k get deployment git-repo -n "$NS" >/dev/null 2>&1 && bad "deployment git-repo exists after the refusal"

# A namespace where Kubernetes' own Pod Security Admission enforces restricted
# too: the restricted-compliant hardened pod passes both, unpatched.
k create namespace "$NS-pss" >/dev/null
k label namespace "$NS-pss" loki-guard.io/enforce=e2e-$$ pod-security.kubernetes.io/enforce=restricted >/dev/null
hardened_pod restricted "$NS-pss" "" "" >"$TMP/restricted.yaml"
apply "a restricted-compliant hardened pod is admitted (by loki-guard and by PSA restricted)" ok "$TMP/restricted.yaml"
if k get pod restricted -n "$NS-pss" -o jsonpath='{.metadata.annotations}' | grep -q "loki-guard.io/patched"; then
  bad "the restricted-compliant pod was patched"
else
  ok "the restricted-compliant pod was not patched"
fi
# A root pod-level runAsUser that every container overrides: PSA restricted
# refuses it (check_runAsUser.go), loki-guard's mutating webhook replaces it
# (it reaches only containers added later), so the pod is admitted by both.
sed -e 's/name: restricted,/name: pod-root,/' -e 's/runAsUser: 1000, runAsGroup/runAsUser: 0, runAsGroup/' \
  -e 's/capabilities: {drop: \[ALL\]}}/capabilities: {drop: [ALL]}, runAsUser: 2000}/' "$TMP/restricted.yaml" >"$TMP/pod-root.yaml"
k create namespace "$NS-psa" >/dev/null  # PSA restricted only, no loki-guard
k label namespace "$NS-psa" pod-security.kubernetes.io/enforce=restricted >/dev/null
sed "s/namespace: $NS-pss/namespace: $NS-psa/" "$TMP/pod-root.yaml" >"$TMP/pod-root-psa.yaml"
apply "without loki-guard, PSA restricted refuses it (the pod's runAsUser=0)" deny "$TMP/pod-root-psa.yaml" \
  'violates PodSecurity "restricted.*runAsUser=0.*pod must not set runAsUser=0'
apply "pod-level runAsUser 0 overridden by every container: patched, then admitted by PSA restricted" ok "$TMP/pod-root.yaml"
[ "$(k get pod pod-root -n "$NS-pss" -o jsonpath='{.spec.securityContext.runAsUser}/{.spec.containers[0].securityContext.runAsUser}')" = 1000/2000 ] \
  && ok "the pod-level runAsUser was set to 1000, the container's 2000 kept" \
  || bad "pod-root runAsUser" "$(k get pod pod-root -n "$NS-pss" -o yaml)"

# The fourth seed: deny-all-egress selects role=backend, the pod has app=llm-api only.
until_refused "loki-guard denied" delete networkpolicy deny-all-egress -n "$NS"
if k delete networkpolicy deny-all-egress -n "$NS" >/dev/null 2>&1; then
  bad "deleting the policy that isolates a running agent was allowed"
else
  ok "deleting the policy that isolates a running agent is refused"
fi
cat >"$TMP/seed4-policies.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend-deny-egress, namespace: $NS}
spec:
  podSelector: {matchLabels: {role: backend}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-orchestrator, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: llm-api}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: orchestrator}}}]}]
EOF
k apply -f "$TMP/seed4-policies.yaml" >/dev/null
# Scope the namespace-wide policy away from llm-api so only the seed's pair applies to it.
cat >"$TMP/deny-all-narrow.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
EOF
k apply -f "$TMP/deny-all-narrow.yaml" >/dev/null
seed4_pod() {  # labels
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: llm-api, namespace: $NS, labels: {$1}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: model
    image: llm-api:3
    env: [{name: LOKI_NETWORK_EGRESS_POLICY, value: none}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
}
seed4_pod "app: llm-api" >"$TMP/seed4-bad.yaml"
until_refused "backend-deny-egress selects role=backend" apply -f "$TMP/seed4-bad.yaml"
apply "the shadowed-egress pod is refused with the near miss" deny "$TMP/seed4-bad.yaml" "backend-deny-egress selects role=backend.*has no label role"
seed4_pod "app: llm-api, role: backend" >"$TMP/seed4-good.yaml"
apply "with the label fixed it is admitted" ok "$TMP/seed4-good.yaml"

# Secrets and env values never reach the log.
if grep -q "s3cr3t-value-do-not-log" "$TMP/webhook.log"; then bad "an env value was logged"; else ok "no env value in the log"; fi
grep -q '"decision":"deny"' "$TMP/webhook.log" && grep -q '"uid":' "$TMP/webhook.log" && ok "one JSON log line per decision" \
  || bad "decision log lines" "$(tail -5 "$TMP/webhook.log")"
curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt"
grep -q 'loki_webhook_requests_total{decision="deny",endpoint="/validate",kind="Pod"}' "$TMP/metrics.txt" \
  && grep -q 'loki_webhook_policy_cache_synced 1' "$TMP/metrics.txt" && ok "metrics count decisions and cache state" \
  || bad "metrics" "$(grep loki_webhook "$TMP/metrics.txt" | head -20)"

# SIGTERM: in-flight reviews finish, the process exits 0 within the grace period.
t0=$(date +%s%N)
kill -TERM "$WPID"
wait "$WPID"
rc=$?
WPID=
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] && grep -q '"msg":"stopped"' "$TMP/webhook.log" && ok "SIGTERM: clean exit in ${ms} ms" \
  || bad "SIGTERM exit $rc" "$(tail -5 "$TMP/webhook.log")"

# Every log line (decisions, server, TLS, the Kubernetes client) is one JSON
# object with time, level and msg or a decision, whatever component wrote it.
python3 - "$TMP/webhook.log" <<'PY' && ok "every log line is a JSON object" || bad "log lines are not all JSON" "$(head -c 1500 "$TMP/webhook.log")"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) > 5
for l in lines:
    d = json.loads(l)
    assert isinstance(d, dict) and "time" in d and "level" in d and ("msg" in d or "decision" in d), l
assert any(d.startswith("webhook server: listening") for d in (json.loads(l).get("msg", "") for l in lines))
PY

# ServiceAccounts: "The pod spec takes precedence over the service account if both specify a
# automountServiceAccountToken value" (Kubernetes docs, Configure Service Accounts for Pods). A pod that leaves
# the field unset under a ServiceAccount with automountServiceAccountToken: false gets no token (the API
# server's ServiceAccount admission adds no kube-api-access volume) and no service-account-token warning, as
# `loki-audit` says; with the ServiceAccount flipped to true the next pod gets the token and the warning again.
# (service-account-token warns here, so the verdict is a warning the API server hands to kubectl.)
cat >"$TMP/config-sa.yaml" <<EOF
selector: app=loki-mode
exemptNamespaces: [kube-system]
rules:
  service-account-token: {action: warn}
EOF
start_webhook "$TMP/config-sa.yaml" && ok "webhook restarted (service-account-token: warn)" ||
  bad "webhook not ready" "$(tail -20 "$TMP/webhook.log")"
sa_yaml() {  # automount
  printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: no-token, namespace: %s}\nautomountServiceAccountToken: %s\n' \
    "$NS" "$1"
}
sa_pod() {  # name
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {app: loki-mode}}
spec:
  serviceAccountName: no-token
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: agent
    image: loki:1
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
}
until_warned() {  # want(yes|no) yaml: until the webhook's cache has the ServiceAccount as it now is
  for i in $(seq 1 75); do
    k apply -f "$2" --dry-run=server >"$TMP/dry.out" 2>&1
    if grep -q '\[service-account-token\]' "$TMP/dry.out"; then [ "$1" = yes ] && return 0
    else [ "$1" = no ] && return 0; fi
    sleep 0.2
  done
  return 0  # the real request below reports the failure
}
token_volume() { k get pod "$1" -n "$NS" -o jsonpath='{.spec.volumes[*].name}' | grep -q 'kube-api-access'; }
sa_yaml false | k apply -f - >/dev/null
sa_pod sa-off >"$TMP/sa-off.yaml"
until_warned no "$TMP/sa-off.yaml"
if k apply -f "$TMP/sa-off.yaml" >"$TMP/sa-off.out" 2>&1 && ! grep -q 'service-account-token' "$TMP/sa-off.out" &&
  ! token_volume sa-off && [ -z "$(k get pod sa-off -n "$NS" -o jsonpath='{.spec.automountServiceAccountToken}')" ]; then
  ok "ServiceAccount automountServiceAccountToken: false: no token mounted, no service-account-token warning, nothing patched"
else
  bad "ServiceAccount opting out" "$(cat "$TMP/sa-off.out"; k get pod sa-off -n "$NS" -o yaml 2>&1 | head -40)"
fi
sa_yaml true | k apply -f - >/dev/null
sa_pod sa-on >"$TMP/sa-on.yaml"
until_warned yes "$TMP/sa-on.yaml"
if k apply -f "$TMP/sa-on.yaml" >"$TMP/sa-on.out" 2>&1 &&
  grep -q 'Warning: \[service-account-token\] pod mounts a ServiceAccount token by default' "$TMP/sa-on.out" &&
  token_volume sa-on; then
  ok "ServiceAccount flipped to true: the next pod gets the token and the service-account-token warning again"
else
  bad "ServiceAccount flipped to true" "$(cat "$TMP/sa-on.out"; k get pod sa-on -n "$NS" -o yaml 2>&1 | head -40)"
fi
stop_webhook

# With the webhook down: failurePolicy Fail refuses, Ignore admits.
sed "s/name: plain/name: while-down/" "$TMP/plain.yaml" >"$TMP/down.yaml"
apply "webhook down + failurePolicy Fail: refused" deny "$TMP/down.yaml" "failed calling webhook"
register Ignore
sleep 1
apply "webhook down + failurePolicy Ignore: admitted" ok "$TMP/down.yaml"

summary
