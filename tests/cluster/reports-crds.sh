#!/usr/bin/env bash
# Installs the openreports.io CRDs (Report, ClusterReport) pinned in
# tests/cluster/tools-reports/go.mod into the test API server: the module is
# fetched with `go mod download` (the Go module proxy, or the module cache),
# as build-tools.sh fetches Kubernetes, and its config/crd/ applied.
#
#   tests/cluster/with-cluster-env tests/cluster/reports-crds.sh   # prints the module dir
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KUBECTL:?run through tests/cluster/with-cluster-env}"
GO="${GO:-$(command -v go 2>/dev/null || true)}"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
export GOFLAGS="-mod=mod"
cd "$here/tools-reports"
"$GO" mod download github.com/openreports/reports-api >&2
dir="$("$GO" list -m -f '{{.Dir}}' github.com/openreports/reports-api)"
"$KUBECTL" apply --server-side --force-conflicts -f "$dir/config/crd/openreports.io_reports.yaml" \
  -f "$dir/config/crd/openreports.io_clusterreports.yaml" >&2
"$KUBECTL" wait --for condition=established --timeout=60s crd/reports.openreports.io crd/clusterreports.openreports.io >&2
echo "$dir"
