#!/usr/bin/env bash
# The Krew plugin manifest (plugins/loki-audit.yaml), checked by Krew's own
# code built from its Go module (sigs.k8s.io/krew v0.4.3, pinned in
# tests/cluster/tools-krew): validate-krew-manifest's structural validation
# of the committed manifest, then a real `kubectl krew install` of the
# manifest rendered for an archive of this build (--archive: no download),
# and the installed plugin run through kubectl's plugin lookup.
#   tests/krew/run.sh path/to/loki-audit
set -uo pipefail
BIN=${1:?usage: run.sh path/to/loki-audit}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"

TOOLS=$("$ROOT/tests/cluster/build-tools.sh" 2>"$TMP/build.log" | tail -n 1) || {
  cat "$TMP/build.log" >&2
  echo "krew: building the pinned tools failed" >&2
  exit 1
}
VALIDATE=$TOOLS/validate-krew-manifest
KREW=$TOOLS/kubectl-krew

# 1. The committed manifest, as the krew-index CI validates a submission.
if "$VALIDATE" -manifest "$ROOT/plugins/loki-audit.yaml" -skip-install >"$TMP/v1" 2>&1; then
  ok "plugins/loki-audit.yaml passes validate-krew-manifest"
else
  bad "validate-krew-manifest rejects plugins/loki-audit.yaml" "$(cat "$TMP/v1")"
fi

# 2. The committed manifest is the template rendered for this version: only the
#    sha256 of the release archive may differ from a local render.
archive=$("$ROOT/scripts/krew-package.sh" "$TMP/pkg" "$BIN") || bad "krew-package.sh failed"
if diff <(grep -v 'sha256:' "$TMP/pkg/loki-audit.yaml") <(grep -v 'sha256:' "$ROOT/plugins/loki-audit.yaml") >"$TMP/d"; then
  ok "plugins/loki-audit.yaml matches plugins/loki-audit.yaml.in and the project version"
else
  bad "plugins/loki-audit.yaml is stale: run KREW_UPDATE_MANIFEST=1 scripts/krew-package.sh DIR" "$(cat "$TMP/d")"
fi
if "$VALIDATE" -manifest "$TMP/pkg/loki-audit.yaml" -skip-install >"$TMP/v2" 2>&1; then
  ok "rendered manifest passes validate-krew-manifest"
else
  bad "validate-krew-manifest rejects the rendered manifest" "$(cat "$TMP/v2")"
fi

# 3. A real install from the local archive (Krew checks its sha256 and the
#    files it lists), then the plugin found by kubectl on PATH.
export KREW_ROOT=$TMP/krew
if "$KREW" install --manifest="$TMP/pkg/loki-audit.yaml" --archive="$archive" >"$TMP/i" 2>&1; then
  ok "kubectl krew install --manifest --archive"
else
  bad "krew install failed" "$(cat "$TMP/i")"
fi
[ -f "$KREW_ROOT/store/loki-audit/v$(sed -n 's/^project(loki-guard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")/LICENSE" ] &&
  ok "LICENSE installed with the plugin" || bad "LICENSE not in the installed plugin" "$(find "$KREW_ROOT/store" | head)"
out=$(PATH="$KREW_ROOT/bin:$TOOLS:$PATH" kubectl loki-audit --version 2>&1)
if [[ "$out" == "loki-audit "* ]]; then ok "kubectl loki-audit --version: $out"; else bad "kubectl loki-audit --version" "$out"; fi
help=$(PATH="$KREW_ROOT/bin:$TOOLS:$PATH" kubectl loki-audit --help 2>&1)
grep -q "kubectl loki-audit lint" <<<"$help" && ok "help names the plugin as kubectl runs it" ||
  bad "help does not name kubectl loki-audit" "$help"

# 4. A tampered archive is refused (the sha256 is really checked).
cp "$archive" "$TMP/tampered.tar.gz" && printf 'x' >>"$TMP/tampered.tar.gz"
if KREW_ROOT=$TMP/krew2 "$KREW" install --manifest="$TMP/pkg/loki-audit.yaml" --archive="$TMP/tampered.tar.gz" >"$TMP/t" 2>&1; then
  bad "krew installed an archive whose sha256 does not match"
else
  grep -qi "sha256\|checksum" "$TMP/t" && ok "tampered archive refused: sha256 mismatch" || bad "tampered archive refused for another reason" "$(cat "$TMP/t")"
fi
summary
