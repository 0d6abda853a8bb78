#!/usr/bin/env bash
# Builds the libFuzzer targets (build-asan/, the CMakePresets.json preset asan: clang, ASan+UBSan, the same build
# the sanitizer suite runs from) and runs each for SECONDS (default 60), LOKI_FUZZ_JOBS at a time (default: the
# number of cores; each target gets a core of its own for its SECONDS).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     targets: manifest admission selector kubeconfig mutate_patch
# New inputs go to build-fuzz/fuzz-corpus/<target>/ (the seeds in tests/fuzz/corpus/ are read, not written);
# crashes to build-fuzz/fuzz-artifacts/<target>/. Prints executions and coverage per target; exits 1 if any
# target crashed (or leaked, timed out, ran out of memory). Env: FUZZ_BUILD_DIR, FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(manifest admission selector kubeconfig mutate_patch)
B=${FUZZ_BUILD_DIR:-$ROOT/build-asan}
JOBS=${LOKI_FUZZ_JOBS:-$(nproc)}

command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (scripts/setup-deps.sh installs clang)" >&2; exit 2; }
if [ ! -f "$B/CMakeCache.txt" ]; then
  if [ "$B" = "$ROOT/build-asan" ]; then
    (cd "$ROOT" && cmake --preset asan >/dev/null)
  else
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$B" -G Ninja -DLOKI_FUZZ=ON >/dev/null
  fi
fi
cmake --build "$B" --target $(printf 'loki-fuzz-%s ' "${TARGETS[@]}")

run_one() { # target: runs it, leaves its exit code in $B/fuzz-logs/<target>.rc
  local t=$1 work="$B/fuzz-corpus/$1" art="$B/fuzz-artifacts/$1" log="$B/fuzz-logs/$1.log" rc=0 seeds=() d
  mkdir -p "$work" "$art" "$(dirname "$log")"
  # Seeds and the regression inputs, where the target has any (git keeps no empty directory, and libFuzzer
  # exits at once on a corpus directory that does not exist).
  for d in "$ROOT/tests/fuzz/corpus/$t" "$ROOT/tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: 2 GB is an out-of-memory.
  "$B/bin/loki-fuzz-$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$ROOT/tests/fuzz/kubernetes.dict" -artifact_prefix="$art/" ${FUZZ_ARGS:-} \
    "$work" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$B/fuzz-logs/$t.rc"
}

# JOBS targets at a time: each keeps a core for its whole SECONDS, so the time per target (and what it finds in
# it) is what it would be alone.
running=0
for t in "${TARGETS[@]}"; do
  echo "== $t: ${SECONDS_PER_TARGET}s"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  art="$B/fuzz-artifacts/$t" log="$B/fuzz-logs/$t.log"
  rc=$(cat "$B/fuzz-logs/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # The last status line: "#123456  DONE   cov: 1234 ft: 5678 corp: 90/12Kb ..." (or REDUCE/NEW/pulse).
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  line=$(printf '%-13s execs=%-10s cov=%-6s ft=%-7s corpus=%s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ "$rc" -ne 0 ]; then
    line+="  CRASH (exit $rc): $(ls -t "$art" | head -1) -- see $log"
    failed+=("$t")
    { grep -E 'ERROR: |SUMMARY: |loki-fuzz: |runtime error' "$log" || tail -3 "$log"; } | head -5 | sed 's/^/    /'
  fi
  echo "$line"
  summary+=("$line")
done
echo
echo "== summary (${SECONDS_PER_TARGET}s per target, $JOBS at a time)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "run.sh: crashes in: ${failed[*]} (reproduce: $B/bin/loki-fuzz-<target> <artifact>)" >&2
  exit 1
fi
