#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy at the repo root) over the product sources in core/, webhook/ and audit/,
# with the flags from a build's compile_commands.json (default build/; BUILD_DIR= to use another).
# Prints every finding, then a count per check and the wall time; exits 1 when there is any finding.
#   scripts/clang-tidy.sh                 # all product sources
#   scripts/clang-tidy.sh core/lint.cpp   # just these files
# JOBS= sets the parallelism (default: nproc).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}
TIDY=${CLANG_TIDY:-}
if [ -z "$TIDY" ]; then
  for t in clang-tidy clang-tidy-14 clang-tidy-15 clang-tidy-16; do
    if command -v "$t" >/dev/null; then
      TIDY=$t
      break
    fi
  done
fi
[ -n "$TIDY" ] || { echo "clang-tidy.sh: clang-tidy not found (scripts/setup-deps.sh installs it)" >&2; exit 2; }
[ -f "$BUILD_DIR/compile_commands.json" ] || {
  echo "clang-tidy.sh: no $BUILD_DIR/compile_commands.json (configure the build first: scripts/build.sh)" >&2
  exit 2
}

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files -co --exclude-standard -- 'core/*.cpp' 'webhook/*.cpp' 'audit/*.cpp' | sort)
fi
[ "${#files[@]}" -gt 0 ] || { echo "clang-tidy.sh: no files" >&2; exit 2; }

out=$(mktemp)
db=$(mktemp -d)
trap 'rm -rf "$out" "$db"' EXIT
# The build's compile commands without its precompiled header: clang cannot read GCC's .gch, and would then
# check nothing (every file fails on the -include). Each file includes what it uses, so it parses without it.
python3 - "$BUILD_DIR/compile_commands.json" "$db/compile_commands.json" <<'PY'
import json, re, sys
cmds = json.load(open(sys.argv[1]))
for c in cmds:
    c["command"] = re.sub(r" -Winvalid-pch| -include \S+cmake_pch\.hxx| -Xclang -include-pch -Xclang \S+"
                          r"| -Xclang -include -Xclang \S+cmake_pch\.hxx", "", c["command"])
json.dump(cmds, open(sys.argv[2], "w"))
PY
start=$(date +%s)
# --quiet drops the "N warnings generated" chatter; system/third-party headers are filtered by
# HeaderFilterRegex in .clang-tidy. -extra-arg quiets GCC-only flags clang does not know.
printf '%s\n' "${files[@]}" |
  xargs -P "$JOBS" -n 1 "$TIDY" -p "$db" --quiet -extra-arg=-Wno-unknown-warning-option \
    -extra-arg=-Wno-unused-command-line-argument >"$out" 2>/dev/null || true
elapsed=$(($(date +%s) - start))

# One finding per "file:line:col: warning|error: ... [check]" line; the same header finding reached from
# several translation units is counted once.
mapfile -t findings < <(grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$out" | sort -u)
if [ "${#findings[@]}" -gt 0 ]; then
  # Print each unique finding with its context (first occurrence only).
  awk '
    /^[^ ]+:[0-9]+:[0-9]+: (warning|error): / { show = !seen[$0]++ }
    show { print }
  ' "$out"
  echo "---- clang-tidy findings per check ----"
  printf '%s\n' "${findings[@]}" | sed -E 's/.*\[([^]]+)\]$/\1/' | sort | uniq -c | sort -rn
fi
echo "clang-tidy: ${#files[@]} files, ${#findings[@]} findings, ${elapsed}s ($TIDY, $JOBS jobs)"
[ "${#findings[@]}" -eq 0 ]
