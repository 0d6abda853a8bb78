#!/usr/bin/env bash
# tests/abuse/run.sh BIN_DIR MODE [ARGS]: loki-webhook under abuse (see tests/abuse/README.md).
#   MODE attacks | leak [--reviews N] [--hours H] | secrets
set -euo pipefail
exec python3 "$(dirname "$0")/abuse.py" "$2" "$1" "${@:3}"
