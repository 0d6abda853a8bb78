#!/usr/bin/env bash
# The developer's loop after a change: rebuild only what the unit and CLI tests run, then run them (both cores).
#   scripts/quick.sh            unit + CLI tests
#   scripts/quick.sh -R Selector   extra arguments go to ctest
# Assumes scripts/build.sh (or scripts/test.sh) has configured build/ once.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-$ROOT/build}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/loki-guard/ccache}
[ -f "$B/build.ninja" ] || "$ROOT/scripts/build.sh" loki-audit loki-unit-tests
ninja -C "$B" loki-audit kubectl-loki_audit loki-unit-tests
ctest --test-dir "$B" -L '^(unit|cli)$' -j"$(nproc)" --output-on-failure "$@"
