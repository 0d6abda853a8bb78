#!/usr/bin/env bash
# Entry of the `loki-audit-lint-build` pre-commit hook (.pre-commit-hooks.yaml):
# builds loki-audit from this checkout once, then runs `loki-audit lint FILES...`.
#
# pre-commit clones every hook revision into its own directory and runs this
# script from there (working directory: the repository being committed to), so
# the build lives next to it, in .pre-commit-build/, and is reused until `rev:`
# changes. Concurrent first runs (several repositories committing at once) wait
# for one build (flock).
#
#   LOKI_AUDIT_BIN=/path/to/loki-audit   use that binary, build nothing
#   LOKI_AUDIT_BUILD_DIR=DIR             build there instead (default: <checkout>/.pre-commit-build)
#
# Exit codes are loki-audit's (1: findings, 2: usage error); a failed build exits 2.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${LOKI_AUDIT_BIN:-}
if [ -z "$BIN" ]; then
  BUILD=${LOKI_AUDIT_BUILD_DIR:-$SRC/.pre-commit-build}
  BIN=$BUILD/bin/loki-audit
  if ! "$BIN" --version >/dev/null 2>&1; then
    mkdir -p "$BUILD"
    if command -v flock >/dev/null; then
      exec 9>"$BUILD/.lock"
      flock 9
    fi
    if ! "$BIN" --version >/dev/null 2>&1; then  # not built by whoever held the lock
      echo "loki-audit-lint-build: building loki-audit (Release) in $BUILD; only the first run does this" >&2
      gen=()
      command -v ninja >/dev/null && gen=(-G Ninja)
      start=$SECONDS
      if ! { cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLOKI_CLUSTER_TESTS=OFF &&
        cmake --build "$BUILD" --target loki-audit; } >"$BUILD/build.log" 2>&1; then
        tail -n 30 "$BUILD/build.log" >&2
        echo "loki-audit-lint-build: the build failed (log: $BUILD/build.log). It needs a C++20 compiler, CMake" \
          "and the libraries that $SRC/scripts/setup-deps.sh installs on Debian/Ubuntu; or install loki-audit" \
          "and use the loki-audit-lint hook instead." >&2
        exit 2
      fi
      echo "loki-audit-lint-build: built in $((SECONDS - start)) s" >&2
    fi
  fi
fi
exec "$BIN" lint "$@"
