#!/usr/bin/env bash
# Packages loki-audit as the kubectl plugin `kubectl loki-audit` for Krew:
# an archive per platform (the binary as kubectl-loki_audit, LICENSE) and the
# plugin manifest plugins/loki-audit.yaml with that archive's sha256.
#
#   scripts/krew-package.sh OUTDIR [BIN]      (BIN: default build/bin/loki-audit)
#
# Writes OUTDIR/loki-audit_v<version>_linux_amd64.tar.gz and
# OUTDIR/loki-audit.yaml; with KREW_UPDATE_MANIFEST=1 also the repository's
# plugins/loki-audit.yaml (at release, after the archive is uploaded).
# The archive is reproducible for a given binary: fixed mtime, owner and order,
# gzip without name or time. The rendered manifest is checked before it is
# written anywhere: the platform entry of the archive carries the archive's
# sha256, and no placeholder is left (KREW_TEMPLATE: another template, tests).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: krew-package.sh OUTDIR [BIN]}
BIN=${2:-$ROOT/build/bin/loki-audit}
VERSION=$(sed -n 's/^project(loki-guard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
[ -n "$VERSION" ] || { echo "krew-package: no version in CMakeLists.txt" >&2; exit 2; }
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) echo "krew-package: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$BIN" "$stage/kubectl-loki_audit"
install -m 0644 "$ROOT/LICENSE" "$stage/LICENSE"
ARCHIVE=loki-audit_v${VERSION}_linux_${ARCH}.tar.gz
tar -C "$stage" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - kubectl-loki_audit LICENSE |
  gzip -n -9 >"$OUT/$ARCHIVE"
SHA=$(sha256sum "$OUT/$ARCHIVE" | cut -d' ' -f1)
TEMPLATE=${KREW_TEMPLATE:-$ROOT/plugins/loki-audit.yaml.in}
sed -e "s/@VERSION@/$VERSION/g" -e "s/@SHA256_LINUX_${ARCH^^}@/$SHA/" "$TEMPLATE" >"$stage/loki-audit.yaml"
# The sha256 of the platform whose uri is this archive (uri, then sha256, in one entry).
got=$(awk -v a="/$ARCHIVE" '/^ *- selector:/ {u = 0} /^ *uri:/ {u = substr($2, length($2) - length(a) + 1) == a}
  u && /^ *sha256:/ {gsub(/"/, "", $2); print $2; exit}' "$stage/loki-audit.yaml")
if [ "$got" != "$SHA" ]; then
  echo "krew-package: the manifest's sha256 for $ARCHIVE is '$got', the archive's is $SHA" >&2
  exit 1
fi
if grep -n '@[A-Z0-9_]*@' "$stage/loki-audit.yaml" >&2; then
  echo "krew-package: placeholders left in the manifest (no platform for linux/$ARCH in the template?)" >&2
  exit 1
fi
cp "$stage/loki-audit.yaml" "$OUT/loki-audit.yaml"
if [ "${KREW_UPDATE_MANIFEST:-}" = 1 ]; then cp "$OUT/loki-audit.yaml" "$ROOT/plugins/loki-audit.yaml"; fi
echo "$OUT/$ARCHIVE"
