#!/usr/bin/env bash
# Rewrites the generated blocks of the docs from the registry, so the rules
# table is never edited by hand: README.md between <!-- rules:begin --> and
# <!-- rules:end --> is `loki-audit rules -f markdown`, and the chart README's
# policy table between <!-- policies:begin/end --> is `rules -f policy-markdown`. tests/cli/run.sh fails
# when the block and the binary disagree.
#
#   scripts/gen-docs.sh [path/to/loki-audit]     (default build/bin/loki-audit)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/bin/loki-audit}
TABLE=$(mktemp)
trap 'rm -f "$TABLE" "$TABLE.doc"' EXIT
"$BIN" rules -f markdown >"$TABLE"

# replace_block FILE BEGIN END: the lines between the markers become $TABLE.
replace_block() {
  grep -qxF "$2" "$1" && grep -qxF "$3" "$1" || { echo "gen-docs: no $2 ... $3 in $1" >&2; exit 1; }
  awk -v begin="$2" -v end="$3" -v table="$TABLE" '
    $0 == begin { print; while ((getline line < table) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip' "$1" >"$TABLE.doc"
  cat "$TABLE.doc" >"$1"
}
replace_block "$ROOT/README.md" '<!-- rules:begin -->' '<!-- rules:end -->'
"$BIN" rules -f policy-markdown >"$TABLE"
replace_block "$ROOT/charts/loki-guard/README.md" '<!-- policies:begin -->' '<!-- policies:end -->'
# The README's text-output example: the real binary on the bundled examples.
EX=manifests/examples
(cd "$ROOT" && {
  echo '```text'
  "$BIN" lint --color never $EX/broken/git-repo-agent.yaml $EX/broken/host-network-model-backend.yaml \
    $EX/broken/shared-pid-sidecar.yaml $EX/hardened || true
  echo '```'
} >"$TABLE")
replace_block "$ROOT/README.md" '<!-- text-example:begin -->' '<!-- text-example:end -->'
