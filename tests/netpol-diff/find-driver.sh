#!/usr/bin/env bash
# Prints the path of the cyclonus driver (built by build-driver.sh if needed) for
# the differential tests that use it: netpol-diff (its matcher) and yaml-diff (its
# `yaml-decode` mode). Without a Go toolchain: exit 77 (CTest's skip), or 1 in CI,
# where the cluster tests need Go too. Messages go to stderr.
#   driver="$(tests/netpol-diff/find-driver.sh TEST_NAME)"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="${1:?usage: find-driver.sh TEST_NAME}"
GO="${GO:-$(command -v go 2>/dev/null || true)}"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
if [[ ! -x "$GO" ]]; then
  [[ "${CI:-}" != true ]] || { echo "$name: no Go toolchain in CI" >&2; exit 1; }
  echo "$name: skipped: no Go toolchain (set GO=/path/to/go)" >&2
  exit 77
fi
export GO
"$here/build-driver.sh" | tail -n 1
