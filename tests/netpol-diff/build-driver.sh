#!/usr/bin/env bash
# Builds the cyclonus driver (driver/, cyclonus v0.5.6 pinned in driver/go.mod
# and go.sum) into ${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/netpol-diff/.
# Idempotent as tests/cluster/build-tools.sh: skipped when the stamp (Go
# version + go.mod + go.sum + driver source) matches. Prints the binary's path
# as the last line on stdout; progress goes to stderr.
#
# Environment: GO (default: go in PATH, else /usr/local/go/bin/go),
# LOKI_TOOLS_CACHE, LOKI_BUILD_NICE (default 10), LOKI_TOOLS_FORCE=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'netpol-diff build: %s\n' "$*" >&2; }
die() { printf 'netpol-diff build: ERROR: %s\n' "$*" >&2; exit 1; }

GO="${GO:-$(command -v go 2>/dev/null || true)}"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
[[ -x "$GO" ]] || die "no Go toolchain found (set GO=/path/to/go)"

prefix="${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/netpol-diff"
mkdir -p "$prefix"
exec 9>"$prefix/.lock"
if command -v flock >/dev/null; then flock -w 1800 9 || die "$prefix/.lock held for 30 minutes"; fi

out="$prefix/cyclonus-driver"
stampfile="$prefix/.cyclonus-driver.stamp"
mod="$here/driver"
want="$( { "$GO" env GOVERSION; cat "$mod/go.mod" "$mod/go.sum" "$mod"/*.go; } | sha256sum | awk '{print $1}')"
if [[ "${LOKI_TOOLS_FORCE:-0}" != 1 && -x "$out" && -f "$stampfile" && "$(cat "$stampfile")" == "$want" ]]; then
  log "up to date"
  echo "$out"
  exit 0
fi
log "building (cyclonus $(awk '$1=="github.com/mattfenwick/cyclonus"{print $2}' "$mod/go.mod"); log: $prefix/build.log)"
t0=$(date +%s)
# go.sum pins every module; -mod=readonly fails rather than change it.
if ! ( cd "$mod" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" nice -n "${LOKI_BUILD_NICE:-10}" \
         "$GO" build -trimpath -ldflags="-s -w" -o "$out.tmp.$$" . ) >"$prefix/build.log" 2>&1; then
  rm -f "$out.tmp.$$"
  tail -n 30 "$prefix/build.log" >&2
  die "go build failed; full log: $prefix/build.log"
fi
mv -f "$out.tmp.$$" "$out"
printf '%s\n' "$want" >"$stampfile"
log "built in $(( $(date +%s) - t0 )) s"
echo "$out"
