#!/usr/bin/env bash
# Renders manifests/install/loki-guard.yaml from charts/loki-guard for users
# without Helm (tests/chart/template.sh fails when the file drifts from the chart).
#
#   scripts/render-install.sh            # rewrite manifests/install/loki-guard.yaml
#   scripts/render-install.sh OUT.yaml   # write elsewhere (the drift test)
#
# The plain YAML uses certificates.mode=certManager: a CA generated into a
# file in this repository would give every user the same CA key. Without
# cert-manager, install with Helm (selfSigned mode generates a CA per cluster).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/manifests/install/loki-guard.yaml}"
helm="${HELM:-$(command -v helm || true)}"
[[ -x "$helm" ]] || helm="$("$root/tests/cluster/build-tools.sh" 2>/dev/null | tail -1)/helm"
mkdir -p "$(dirname "$out")"
{
  cat <<'HDR'
# loki-guard: plain install YAML, rendered from charts/loki-guard by
# scripts/render-install.sh (do not edit; change the chart and re-render).
#
#   kubectl apply -f https://.../manifests/install/loki-guard.yaml
#   kubectl label namespace <ns> loki-guard.io/enforce=true
#
# Needs cert-manager (certificates.mode=certManager). The webhook's own
# NetworkPolicy allows the API server ports to any address because the API
# server's addresses are not known here: edit the ipBlock in to narrow it, or
# install with Helm, which looks them up.
---
apiVersion: v1
kind: Namespace
metadata:
  name: loki-guard
  labels:
    # The webhook's pods meet the restricted Pod Security Standard.
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
HDR
  "$helm" template loki-guard "$root/charts/loki-guard" --namespace loki-guard \
    --set certificates.mode=certManager --kube-version 1.30.0
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
