#!/usr/bin/env bash
# Installs everything, builds, and runs every test (unit, CLI, format, and the
# real-cluster tests against kube-apiserver + etcd on loopback).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/build.sh"
"$ROOT/scripts/setup-test-tools.sh"
cd "$ROOT"
ctest --test-dir "${BUILD_DIR:-$ROOT/build}" --output-on-failure --timeout 3600 "$@"

# Second stage: the CMakePresets.json `asan` preset (ASan+UBSan, -O1 -g1, build-asan/) builds what the suite
# runs (not the benchmarks) and runs it under the sanitizers (the preset's filter drops the cluster/chart/image/
# style tests, whose binaries are the plain build's or which measure latency; ASAN/LSAN/UBSAN_OPTIONS make every
# report fatal). san-webhook-server is the same server tests as loki-unit-tests', built separately for TSan.
# Third stage: the libFuzzer targets (clang, build-fuzz/), 60 s each (tests/fuzz/run.sh).
# LOKI_SANITIZE_STAGE=0 / LOKI_FUZZ_STAGE=0 skip them (e.g. for a quick local run); CI runs both.
stage_times=()
if [ "${LOKI_SANITIZE_STAGE:-1}" = 1 ]; then
  echo "== sanitizer stage: ASan+UBSan (preset asan, build-asan/) =="
  san_start=$(date +%s)
  cmake --preset asan >/dev/null
  cmake --build --preset asan --target loki-unit-tests loki-audit kubectl-loki_audit loki-webhook loki-webhook-load
  san_built=$(date +%s)
  ctest --preset asan -E '^san-webhook-server$'
  san_end=$(date +%s)
  stage_times+=("asan: build $((san_built - san_start))s, tests $((san_end - san_built))s")
fi
if [ "${LOKI_FUZZ_STAGE:-1}" = 1 ]; then
  echo "== fuzz stage: ${LOKI_FUZZ_SECONDS:-60}s per target (tests/fuzz/run.sh, build-fuzz/) =="
  fuzz_start=$(date +%s)
  "$ROOT/tests/fuzz/run.sh" "${LOKI_FUZZ_SECONDS:-60}"
  stage_times+=("fuzz: $(($(date +%s) - fuzz_start))s")
fi
[ "${#stage_times[@]}" -eq 0 ] || printf 'stage %s\n' "${stage_times[@]}"
