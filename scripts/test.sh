#!/usr/bin/env bash
# Installs everything, builds, and runs every test: the plain suite (unit, CLI, format, integrations, abuse, and
# the real-cluster tests against kube-apiserver + etcd on loopback), then the ASan+UBSan suite, then every
# libFuzzer target. Extra arguments go to the plain suite's ctest (e.g. -L unit).
#
# Stages, in the order that keeps both cores busy (README "Building"):
#   deps        Debian packages (scripts/setup-deps.sh; nothing to do when present)
#   tools       kube-apiserver, etcd, kubectl, kube-controller-manager, helm from their Go modules
#               (tests/cluster/build-tools.sh) and the cyclonus driver (tests/netpol-diff/build-driver.sh),
#               in the BACKGROUND from the start, while C++ compiles
#   build       the plain build (build/, gcc, ccache, mold, precompiled headers)
#   asan-build  one clang build (build-asan/, preset asan) with ASan+UBSan and libFuzzer's coverage
#               instrumentation: the sanitizer suite's binaries and the libFuzzer targets come from it
#   ctest:*     the plain suite, timed per label
#   asan-tests  the sanitizer suite (ctest --preset asan)
#   fuzz        every libFuzzer target for LOKI_FUZZ_SECONDS (60), two at a time (one per core)
# A table of each stage's time and the total ends the run.
#
# LOKI_SANITIZE_STAGE=0 / LOKI_FUZZ_STAGE=0 skip the sanitizer build+suite / the fuzzing (a quick local run).
# ccache keeps its cache in CCACHE_DIR (default ~/.cache/loki-guard/ccache), so a second run on the same machine
# recompiles nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/loki-guard/ccache}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SAN=${LOKI_SANITIZE_STAGE:-1}
FUZZ=${LOKI_FUZZ_STAGE:-1}
t0=$(date +%s)
stages=()
stage() { # name seconds
  stages+=("$(printf '%-26s %6ss' "$1" "$2")")
  echo "== stage $1: $2 s"
}
timed() { # name command...
  local name=$1 s rc=0
  shift
  s=$(date +%s)
  "$@" || rc=$?
  stage "$name" $(($(date +%s) - s))
  return "$rc"
}
table() {
  echo
  echo "== stage times (wall; tools overlaps the builds)"
  printf '%s\n' "${stages[@]}"
  printf '%-26s %6ss\n' total $(($(date +%s) - t0))
}
# On any exit the table, and no Go build left running in the background after a failed stage.
trap 'table; [ -z "${tools_pid:-}" ] || kill "$tools_pid" 2>/dev/null || true' EXIT

timed deps "$ROOT/scripts/setup-deps.sh"

# The Go tools build in the background from here on; their log says how far they are.
mkdir -p "$BUILD_DIR"
tools_log=$BUILD_DIR/tools-build.log
(
  s=$(date +%s)
  rc=0
  LOKI_BUILD_NICE=${LOKI_BUILD_NICE:-5} "$ROOT/tests/cluster/build-tools.sh" >"$tools_log" 2>&1 || rc=$?
  # The cyclonus driver of the NetworkPolicy differential test (tests/netpol-diff/), the same way.
  [ "$rc" != 0 ] || nice -n "${LOKI_BUILD_NICE:-5}" "$ROOT/tests/netpol-diff/build-driver.sh" >>"$tools_log" 2>&1 || rc=$?
  echo "$rc $(($(date +%s) - s))" >"$BUILD_DIR/tools-build.status"
) &
tools_pid=$!
"$ROOT/scripts/setup-test-tools.sh"

timed build "$ROOT/scripts/build.sh"
if [ "$SAN" = 1 ]; then
  echo "== ASan+UBSan build (preset asan, build-asan/): the sanitizer suite and the libFuzzer targets"
  timed asan-build bash -c 'cmake --preset asan >/dev/null && cmake --build --preset asan --target loki-sanitizer-suite'
fi

w=$(date +%s)
wait "$tools_pid" || true
read -r tools_rc tools_secs <"$BUILD_DIR/tools-build.status"
stage "tools (background)" "$tools_secs"
stage "  waited for tools" $(($(date +%s) - w))
if [ "$tools_rc" != 0 ]; then
  tail -40 "$tools_log" >&2
  echo "test.sh: building the cluster tools failed (log: $tools_log)" >&2
  exit 1
fi

# The plain suite, one ctest run; its JUnit file gives each test's time, summed per label below.
rc=0
s=$(date +%s)
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 3600 --output-junit "$BUILD_DIR/ctest-junit.xml" "$@" ||
  rc=$?
stage "ctest (plain suite)" $(($(date +%s) - s))
while read -r label secs; do
  stage "  label $label" "$secs"
done < <(python3 "$ROOT/scripts/ctest-label-times.py" "$BUILD_DIR" "$BUILD_DIR/ctest-junit.xml" || true)
[ "$rc" = 0 ] || exit "$rc"

if [ "$SAN" = 1 ]; then
  timed asan-tests ctest --preset asan
fi
if [ "$FUZZ" = 1 ]; then
  echo "== fuzz stage: ${LOKI_FUZZ_SECONDS:-60}s per target (tests/fuzz/run.sh, build-asan/)"
  timed fuzz "$ROOT/tests/fuzz/run.sh" "${LOKI_FUZZ_SECONDS:-60}"
fi
