#!/usr/bin/env bash
# Installs everything, builds, and runs every test (unit, CLI, format, and the
# real-cluster tests against kube-apiserver + etcd on loopback).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/build.sh"
"$ROOT/scripts/setup-test-tools.sh"
cd "$ROOT"
ctest --test-dir "${BUILD_DIR:-$ROOT/build}" --output-on-failure --timeout 3600 "$@"

# Second stage, when LOKI_SANITIZE_STAGE=1: the CMakePresets.json `asan` preset (ASan+UBSan,
# build-asan/) builds everything again and runs the non-cluster suite under it (the preset's filter drops
# cluster/chart/image/style tests and sets ASAN/LSAN/UBSAN_OPTIONS). Off by default until it has passed
# once and its CI time is measured (see the issue note).
if [ "${LOKI_SANITIZE_STAGE:-0}" = 1 ]; then
  echo "== sanitizer stage: ASan+UBSan (preset asan, build-asan/) =="
  san_start=$(date +%s)
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  san_built=$(date +%s)
  ctest --preset asan
  san_end=$(date +%s)
  echo "sanitizer stage: build $((san_built - san_start))s, tests $((san_end - san_built))s, total $((san_end - san_start))s"
fi
