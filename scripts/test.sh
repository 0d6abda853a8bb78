#!/usr/bin/env bash
# Installs everything, builds, and runs every test (unit, CLI, format, and the
# real-cluster tests against kube-apiserver + etcd on loopback).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/build.sh"
"$ROOT/scripts/setup-test-tools.sh"
cd "$ROOT"
ctest --test-dir "${BUILD_DIR:-$ROOT/build}" --output-on-failure --timeout 3600 "$@"
