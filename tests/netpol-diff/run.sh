#!/usr/bin/env bash
# CTest entry (label netpol-diff): builds the cyclonus driver if needed, then
# compares NETPOL_DIFF_SCENARIOS (default 300) seeded scenarios.
#   tests/netpol-diff/run.sh build/bin/loki-audit
#   NETPOL_DIFF_SCENARIOS=10000 NETPOL_DIFF_SEED=7 tests/netpol-diff/run.sh build/bin/loki-audit
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
loki="${1:?usage: run.sh path/to/loki-audit}"
GO="${GO:-$(command -v go 2>/dev/null || true)}"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
if [[ ! -x "$GO" ]]; then
  # CI has Go (the cluster tests need it too): there a missing toolchain is a failure, not a skip.
  [[ "${CI:-}" != true ]] || { echo "netpol-diff: no Go toolchain in CI" >&2; exit 1; }
  echo "netpol-diff: skipped: no Go toolchain (set GO=/path/to/go)"
  exit 77
fi
export GO
driver="$("$here/build-driver.sh" | tail -n 1)"
exec python3 "$here/netpol_diff.py" --loki "$loki" --driver "$driver" \
  --scenarios "${NETPOL_DIFF_SCENARIOS:-300}" --seed "${NETPOL_DIFF_SEED:-1}" ${NETPOL_DIFF_ARGS:-}
