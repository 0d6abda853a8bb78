#!/usr/bin/env bash
# Test-only Python tooling in a cached virtualenv (idempotent): an independent
# SARIF 2.1.0 model to validate our SARIF output against, PyYAML, and pre-commit
# (the precommit-hook test runs the real thing against .pre-commit-hooks.yaml).
# Pinned; a venv that has every pin is left alone (no network).
set -euo pipefail
CACHE=${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}
VENV=$CACHE/venv
PY=/usr/bin/python3
PINS=("sarif-pydantic==0.6.2" "PyYAML==6.0.2" "pre-commit==4.7.0")
have_pins() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
if have_pins; then
  echo "setup-test-tools: $VENV ready"
  exit 0
fi
mkdir -p "$CACHE"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
have_pins || { echo "setup-test-tools: $VENV does not have ${PINS[*]} after installing" >&2; exit 1; }
echo "setup-test-tools: installed ${PINS[*]} into $VENV"
