#!/usr/bin/env bash
# Installs the dependencies (idempotent) and builds loki-guard into build/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup-deps.sh"
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} -DLOKI_WERROR=ON >/dev/null
ninja -C "$BUILD_DIR"
