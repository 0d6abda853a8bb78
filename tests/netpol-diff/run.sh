#!/usr/bin/env bash
# CTest entry (label netpol-diff): builds the cyclonus driver if needed, then
# compares NETPOL_DIFF_SCENARIOS (default 300) seeded scenarios.
#   tests/netpol-diff/run.sh build/bin/loki-audit
#   NETPOL_DIFF_SCENARIOS=10000 NETPOL_DIFF_SEED=7 tests/netpol-diff/run.sh build/bin/loki-audit
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
loki="${1:?usage: run.sh path/to/loki-audit}"
driver="$("$here/find-driver.sh" netpol-diff)"
exec python3 "$here/netpol_diff.py" --loki "$loki" --driver "$driver" \
  --scenarios "${NETPOL_DIFF_SCENARIOS:-300}" --seed "${NETPOL_DIFF_SEED:-1}" ${NETPOL_DIFF_ARGS:-}
