#!/usr/bin/env bash
# loki-audit as a kubectl plugin, against the real kube-apiserver of
# tests/cluster/up: the build tree's kubectl-loki_audit symlink, put first in
# PATH, is found by `kubectl plugin list`, and `kubectl loki-audit --namespace NS`
# prints the same report with the same exit code as `loki-audit --namespace NS`.
#
#   tests/cluster/with-cluster-env tests/integrations/kubectl_plugin.sh build/bin/loki-audit build/bin/kubectl-loki_audit
set -uo pipefail
AUDIT=$(realpath "${1:?usage: kubectl_plugin.sh path/to/loki-audit path/to/kubectl-loki_audit}")
PLUGIN=$(realpath -s "${2:?usage: kubectl_plugin.sh path/to/loki-audit path/to/kubectl-loki_audit}")
: "${KUBECONFIG:?run through tests/cluster/with-cluster-env}"
: "${KUBECTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
NS=lg-plugin-$$
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
k() { "$KUBECTL" "$@"; }
trap 'k delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# The build tree's plugin link: a relative symlink to loki-audit beside it.
if [ -L "$PLUGIN" ] && [ "$(readlink "$PLUGIN")" = loki-audit ] && [ "$(realpath "$PLUGIN")" = "$AUDIT" ]; then
  ok "$(basename "$PLUGIN") -> loki-audit in the build tree"
else
  bad "build-tree plugin link" "$(ls -l "$PLUGIN" 2>&1)"
fi

# A directory first in PATH holding the plugin (a link to the build tree's link).
mkdir -p "$TMP/plugins"
ln -s "$PLUGIN" "$TMP/plugins/kubectl-loki_audit"
export PATH="$TMP/plugins:$PATH"
k plugin list >"$TMP/list" 2>"$TMP/list.err"
if grep -qx "$TMP/plugins/kubectl-loki_audit" "$TMP/list"; then
  ok "kubectl plugin list shows $TMP/plugins/kubectl-loki_audit"
else
  bad "kubectl plugin list" "$(cat "$TMP/list" "$TMP/list.err")"
fi
if grep -q "kubectl-loki_audit" "$TMP/list.err"; then
  bad "kubectl plugin list warns about the plugin" "$(cat "$TMP/list.err")"
else
  ok "kubectl plugin list has no warning about it"
fi

# A namespace with a hostNetwork loki-mode pod (Pending: the cluster has no nodes).
k create namespace "$NS" >/dev/null || bad "create namespace $NS"
cat >"$TMP/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: hostnet-agent
  namespace: $NS
  labels: {app: loki-mode}
spec:
  hostNetwork: true
  containers:
  - name: agent
    image: loki:1
EOF
# The ServiceAccount admission plugin needs the namespace's default ServiceAccount,
# which kube-controller-manager creates a moment after the namespace.
for _ in $(seq 1 60); do
  k apply -f "$TMP/pod.yaml" >"$TMP/apply" 2>&1 && break
  sleep 0.5
done
k get pod -n "$NS" hostnet-agent >/dev/null 2>&1 && ok "pod $NS/hostnet-agent created" ||
  bad "pod not created" "$(cat "$TMP/apply")"

# The same command both ways: identical stdout, stderr and exit code.
same() {  # name, then the arguments
  local name=$1
  shift
  "$AUDIT" "$@" >"$TMP/direct.out" 2>"$TMP/direct.err"
  local d=$?
  k loki-audit "$@" >"$TMP/plugin.out" 2>"$TMP/plugin.err"
  local p=$?
  LAST_EXIT=$p
  # The object count includes every namespace of the cluster (namespaceSelector
  # peers), which tests running alongside create and delete between the two runs.
  local norm='s/[0-9]+ objects/N objects/; s/"objects": ?[0-9]+/"objects": N/'
  if [ "$d" = "$p" ] && cmp -s <(sed -E "$norm" "$TMP/direct.out") <(sed -E "$norm" "$TMP/plugin.out") &&
    cmp -s "$TMP/direct.err" "$TMP/plugin.err"; then
    ok "$name: kubectl loki-audit == loki-audit (exit $p)"
  else
    bad "$name: exit $p vs $d" "$(diff "$TMP/direct.out" "$TMP/plugin.out"; diff "$TMP/direct.err" "$TMP/plugin.err")"
  fi
}
same "--namespace $NS" --namespace "$NS"
grep -q "error \[host-network\]" "$TMP/plugin.out" && grep -q "hostnet-agent" "$TMP/plugin.out" &&
  ok "the plugin reports the hostNetwork pod" || bad "no host-network finding" "$(cat "$TMP/plugin.out" "$TMP/plugin.err")"
[ "$LAST_EXIT" = 1 ] && ok "findings: exit 1" || bad "exit $LAST_EXIT for a namespace with findings"
same "--namespace $NS -f json" --namespace "$NS" -f json
python3 - "$TMP/plugin.out" "$NS" <<'PY' && ok "JSON: host-network on Pod $NS/hostnet-agent" || bad "JSON report" "$(head -c 2000 "$TMP/plugin.out")"
import json, sys
d = json.load(open(sys.argv[1]))
hn = [f for f in d["findings"] if f["rule"] == "host-network"]
assert hn and hn[0]["object"]["name"] == "hostnet-agent" and hn[0]["object"]["namespace"] == sys.argv[2], hn
PY
same "--namespace $NS --fail-on none" --namespace "$NS" --fail-on none
same "unknown namespace (exit 2)" --namespace "does-not-exist-$$"
same "lint through the plugin" lint --color never "$ROOT/manifests/examples/broken/host-network-model-backend.yaml"

# Help names the plugin the way it is invoked.
k loki-audit --help >"$TMP/help" 2>&1
grep -q "Usage: kubectl loki-audit" "$TMP/help" && ok "kubectl loki-audit --help names kubectl loki-audit" ||
  bad "plugin help" "$(head -5 "$TMP/help")"

k delete namespace "$NS" --wait=false >/dev/null 2>&1 && ok "namespace $NS deleted" || bad "delete namespace $NS"
summary
