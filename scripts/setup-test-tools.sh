#!/usr/bin/env bash
# Test-only Python tooling in a cached virtualenv (idempotent): an independent
# SARIF 2.1.0 model to validate our SARIF output against.
set -euo pipefail
CACHE=${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}
VENV=$CACHE/venv
PY=/usr/bin/python3
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sarif_pydantic, yaml' 2>/dev/null; then
  echo "setup-test-tools: $VENV ready"
  exit 0
fi
mkdir -p "$CACHE"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "sarif-pydantic==0.6.2" "PyYAML==6.0.2"
echo "setup-test-tools: installed into $VENV"
