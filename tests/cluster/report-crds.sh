#!/usr/bin/env bash
# Prints the CRD files of the policy report APIs, taken from their pinned Go
# modules (versions.env) through the Go module proxy into the module cache,
# as build-tools.sh takes Kubernetes:
#   report-crds.sh openreports   openreports.io Report + ClusterReport (reports-api)
#   report-crds.sh wgpolicy      wgpolicyk8s.io PolicyReport + ClusterPolicyReport (Kyverno's copy)
#   report-crds.sh netpol        policy.networking.k8s.io ClusterNetworkPolicy (network-policy-api, standard)
#   report-crds.sh netpol-v1alpha1  policy.networking.k8s.io AdminNetworkPolicy + BaselineAdminNetworkPolicy
#                                (network-policy-api v0.1.x, standard); they coexist with ClusterNetworkPolicy
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
case "${1:-openreports}" in
  openreports)
    mod=github.com/openreports/reports-api@$OPENREPORTS_VERSION
    files=(config/crd/openreports.io_reports.yaml config/crd/openreports.io_clusterreports.yaml) ;;
  wgpolicy)
    mod=github.com/kyverno/kyverno@$KYVERNO_VERSION
    files=(config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml
           config/crds/policyreport/wgpolicyk8s.io_clusterpolicyreports.yaml) ;;
  netpol)
    mod=sigs.k8s.io/network-policy-api@$NETWORK_POLICY_API_VERSION
    files=(config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml) ;;
  netpol-v1alpha1)
    mod=sigs.k8s.io/network-policy-api@$NETWORK_POLICY_API_V1ALPHA1_VERSION
    files=(config/crd/standard/policy.networking.k8s.io_adminnetworkpolicies.yaml
           config/crd/standard/policy.networking.k8s.io_baselineadminnetworkpolicies.yaml) ;;
  *) echo "usage: report-crds.sh openreports|wgpolicy|netpol|netpol-v1alpha1" >&2; exit 2 ;;
esac
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=$(cd "$work" && GOFLAGS=-mod=mod "$GO" mod download -json "$mod" |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')
for f in "${files[@]}"; do
  [ -f "$dir/$f" ] || { echo "report-crds: $mod has no $f" >&2; exit 1; }
  echo "$dir/$f"
done
