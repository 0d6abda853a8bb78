#!/usr/bin/env bash
# Installs the dependencies (idempotent) and builds loki-guard into build/: every target, or only the named ones
# (scripts/build.sh loki-audit). Compiles through ccache when it is installed (cache: ~/.cache/loki-guard/ccache).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup-deps.sh"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/loki-guard/ccache}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} -DLOKI_WERROR=ON >/dev/null
ninja -C "$BUILD_DIR" "$@"
