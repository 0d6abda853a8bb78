#!/usr/bin/env bash
# The Krew manifest scripts/krew-package.sh renders is the manifest of the
# archive it builds: its sha256 is the archive's, its uri names that archive
# under this version's release, and the archive (reproducible: fixed order,
# mtime, owner; gzip without name or time) holds exactly this binary and
# LICENSE. No Go, no cluster: Krew's own validation of the same manifest is
# tests/krew/run.sh (CTest krew-plugin).
#   tests/krew/manifest.sh path/to/loki-audit
set -uo pipefail
BIN=${1:?usage: manifest.sh path/to/loki-audit}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
VERSION=$(sed -n 's/^project(loki-guard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
field() { sed -n "s/^ *$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$2"; }

a1=$("$ROOT/scripts/krew-package.sh" "$TMP/one" "$BIN" 2>"$TMP/err1") || fatal "krew-package.sh failed: $(cat "$TMP/err1")"
a2=$("$ROOT/scripts/krew-package.sh" "$TMP/two" "$BIN" 2>"$TMP/err2") || fatal "krew-package.sh failed: $(cat "$TMP/err2")"
sha=$(sha256sum "$a1" | cut -d' ' -f1)
cmp -s "$a1" "$a2" && ok "the archive is reproducible (sha256 $sha twice)" ||
  bad "two packagings of one binary differ" "$(sha256sum "$a1" "$a2")"

# The archive: this binary as kubectl-loki_audit and LICENSE, owned by 0:0, mtime 0.
listing=$(tar -tvzf "$a1" | awk '{print $1, $2, $3, $4, $5, $6}')
expected=$(printf '%s 0/0 %s 1970-01-01 00:00 %s\n' -rwxr-xr-x "$(stat -c %s "$BIN")" kubectl-loki_audit \
  -rw-r--r-- "$(stat -c %s "$ROOT/LICENSE")" LICENSE)
[ "$listing" = "$expected" ] && ok "archive: kubectl-loki_audit and LICENSE only, 0/0, mtime 0" ||
  bad "archive contents" "$listing"
mkdir -p "$TMP/x" && tar -xzf "$a1" -C "$TMP/x" && cmp -s "$TMP/x/kubectl-loki_audit" "$BIN" &&
  cmp -s "$TMP/x/LICENSE" "$ROOT/LICENSE" && ok "archive holds this binary and LICENSE byte for byte" ||
  bad "archive does not hold $BIN"
# gzip -n: no file name (FLG 0) and no MTIME (bytes 4-7) in the header.
[ "$(od -An -tu1 -j3 -N1 "$a1" | tr -d ' ')" = 0 ] && [ "$(od -An -tu4 -j4 -N4 "$a1" | tr -d ' ')" = 0 ] &&
  ok "gzip header without file name or timestamp" || bad "gzip header has a name or a timestamp"

# The rendered manifest: sha256 and uri of that archive.
m=$TMP/one/loki-audit.yaml
[ "$(field sha256 "$m")" = "$sha" ] && ok "manifest sha256 is the archive's" ||
  bad "manifest sha256 $(field sha256 "$m") != archive $sha"
want_uri=https://github.com/loki-guard/loki-guard/releases/download/v$VERSION/$(basename "$a1")
[ "$(field uri "$m")" = "$want_uri" ] && ok "manifest uri names the archive: $want_uri" ||
  bad "manifest uri $(field uri "$m") != $want_uri"
[ "$(field version "$m")" = "v$VERSION" ] && ok "manifest version v$VERSION" || bad "manifest version $(field version "$m")"
grep -q '@[A-Z0-9_]*@' "$m" && bad "placeholders left in the manifest" "$(grep '@[A-Z0-9_]*@' "$m")" ||
  ok "no template placeholder left"
arch=$(sed -n 's/.*_linux_\(amd64\|arm64\)\.tar\.gz$/\1/p' <<<"$a1")
grep -A3 'matchLabels:' "$m" | grep -q "arch: $arch" && ok "platform selector arch: $arch" ||
  bad "no platform for arch $arch" "$(grep -A3 'matchLabels:' "$m")"

# A tampered template (sha256 of another archive) is caught by the packager itself.
sed 's/"@SHA256_LINUX_AMD64@"/"@SHA256_LINUX_AMD64@x"/; s/"@SHA256_LINUX_ARM64@"/"@SHA256_LINUX_ARM64@x"/' \
  "$ROOT/plugins/loki-audit.yaml.in" >"$TMP/bad.yaml.in"
if KREW_TEMPLATE=$TMP/bad.yaml.in "$ROOT/scripts/krew-package.sh" "$TMP/bad" "$BIN" >"$TMP/bad.out" 2>&1; then
  bad "krew-package.sh rendered a manifest whose sha256 is not the archive's"
else
  grep -q "sha256" "$TMP/bad.out" && ok "krew-package.sh refuses a manifest whose sha256 is not the archive's" ||
    bad "krew-package.sh failed for another reason" "$(cat "$TMP/bad.out")"
fi

# The committed manifest is that render: every line but the release archive's sha256.
if diff <(grep -v 'sha256:' "$m") <(grep -v 'sha256:' "$ROOT/plugins/loki-audit.yaml") >"$TMP/d"; then
  ok "plugins/loki-audit.yaml: version, uri and the rest as rendered"
else
  bad "plugins/loki-audit.yaml is stale: KREW_UPDATE_MANIFEST=1 scripts/krew-package.sh DIR" "$(cat "$TMP/d")"
fi
summary
