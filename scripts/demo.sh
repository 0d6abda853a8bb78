#!/usr/bin/env bash
# The main job on the bundled default: lint the example manifests (one clean,
# hardened loki-mode deployment and the broken variants from the field) and
# show the findings a user would see. Exits 0: the findings are the point.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Only what the demo runs: loki-audit (the tests, benchmarks and the webhook are built by scripts/test.sh).
"$ROOT/scripts/build.sh" loki-audit >/dev/null
cd "$ROOT"
echo "\$ build/bin/loki-audit lint manifests/examples/"
build/bin/loki-audit lint manifests/examples/ "$@" || status=$?
status=${status:-0}
echo "(loki-audit exit code: $status — 0 clean, 1 findings at or above --fail-on, 2 usage or I/O error)"
[ "$status" -le 1 ]
