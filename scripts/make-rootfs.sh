#!/usr/bin/env bash
# Builds the minimal root filesystem of the loki-guard container image from
# already-built binaries:
#
#   scripts/make-rootfs.sh OUTDIR [BINDIR]      (BINDIR defaults to build/bin)
#
# OUTDIR then holds exactly
#   /usr/bin/loki-webhook, /usr/bin/loki-audit  (debug info stripped; symbols kept)
#   every shared library they load, at the path ldd resolves it to, and the
#     dynamic loader at the binaries' PT_INTERP path (/lib64/ld-linux-x86-64.so.2)
#   /etc/ssl/certs/ca-certificates.crt           (the build host's CA bundle)
#   /etc/passwd, /etc/group                     (root, nobody and nonroot 65532, as distroless)
#   /tmp                                         (empty, mode 1777)
# and nothing else: no shell, no coreutils, no ld.so.cache (the loader finds
# the libraries in its built-in system directories). The Dockerfile copies it
# onto `scratch`; tests/image/run.sh runs it under chroot.
#
# Idempotent: OUTDIR is wiped and rebuilt on every run. It refuses to wipe `/`
# or a non-empty directory it did not create; what it created is recorded in
# the marker file .<name>.loki-rootfs next to OUTDIR (outside the rootfs, so
# the image does not carry it).
#
# LOKI_ROOTFS_STRIP=0 copies the binaries with their debug info.
set -euo pipefail

die() {
  echo "make-rootfs: $*" >&2
  exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: make-rootfs.sh OUTDIR [BINDIR]"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINDIR=${2:-$ROOT/build/bin}
BINARIES=(loki-webhook loki-audit)
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# ---- where, and may we wipe it ------------------------------------------------
[ -n "$1" ] || die "OUTDIR is empty"
OUT=$(realpath -m -- "$1")
[ "$OUT" != / ] || die "refusing to use / as OUTDIR"
PARENT=$(dirname -- "$OUT")
MARKER=$PARENT/.$(basename -- "$OUT").loki-rootfs
[ ! -L "$1" ] || die "$1 is a symlink: pass the directory itself"
[ ! -e "$OUT" ] || [ -d "$OUT" ] || die "$1 exists and is not a directory"
if [ -d "$OUT" ] && [ -n "$(ls -A -- "$OUT")" ]; then
  if [ ! -f "$MARKER" ] || [ "$(cat -- "$MARKER")" != "$OUT" ]; then
    die "refusing to wipe $OUT: not empty, and not created by make-rootfs.sh (no marker $MARKER naming it)"
  fi
fi

for b in "${BINARIES[@]}"; do
  [ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found: build it first (cmake --build build)"
done
[ -f "$CA_BUNDLE" ] || die "$CA_BUNDLE not found: install the ca-certificates package"
command -v ldd >/dev/null || die "ldd not found (Debian package libc-bin)"
STRIP=${LOKI_ROOTFS_STRIP:-1}
if [ "$STRIP" != 0 ]; then
  command -v strip >/dev/null || die "strip not found (Debian package binutils), or set LOKI_ROOTFS_STRIP=0"
fi

# ---- wipe and rebuild -----------------------------------------------------------
mkdir -p -- "$PARENT"
printf '%s\n' "$OUT" >"$MARKER"
if [ -d "$OUT" ]; then
  # Contents only: OUTDIR may be a mount point or a directory the caller made.
  find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +
fi
umask 022
mkdir -p -- "$OUT"
chmod 0755 "$OUT"  # mktemp -d makes 0700, and the image runs as 65532
mkdir -p "$OUT/usr/bin" "$OUT/etc/ssl/certs" "$OUT/tmp"
chmod 1777 "$OUT/tmp"

for b in "${BINARIES[@]}"; do
  if [ "$STRIP" != 0 ]; then
    strip --strip-debug -o "$OUT/usr/bin/$b" "$BINDIR/$b"
  else
    cp -- "$BINDIR/$b" "$OUT/usr/bin/$b"
  fi
  chmod 0755 "$OUT/usr/bin/$b"
done

# Shared libraries: ldd's resolution (the same loader and search path as at run
# time), copied as regular files at the path the loader will look at.
declare -A libs=()
for b in "${BINARIES[@]}"; do
  out=$(ldd "$BINDIR/$b" 2>&1) || die "ldd $BINDIR/$b failed: $out"
  if grep -q "not found" <<<"$out"; then
    die "$b: libraries not found on this host: $(grep "not found" <<<"$out" | tr -s ' \t' ' ')"
  fi
  grep -q "statically linked" <<<"$out" && continue
  while read -r first arrow path _; do
    if [ "$arrow" = "=>" ]; then
      case $path in /*) libs[$path]=1 ;; esac  # linux-vdso.so.1 has no file
    else
      case $first in /*) libs[$first]=1 ;; esac  # the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
    fi
  done <<<"$out"
done
[ "${#libs[@]}" -gt 0 ] || die "ldd listed no libraries for ${BINARIES[*]}"
for lib in "${!libs[@]}"; do
  mkdir -p -- "$OUT$(dirname -- "$lib")"
  cp -L --preserve=mode -- "$lib" "$OUT$lib"
done

cp -- "$CA_BUNDLE" "$OUT$CA_BUNDLE"
chmod 0644 "$OUT$CA_BUNDLE"

# Users as distroless has them; no home directories exist, no login shells.
cat >"$OUT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$OUT/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
chmod 0644 "$OUT/etc/passwd" "$OUT/etc/group"
[ "$(id -u)" != 0 ] || chown -R 0:0 "$OUT"

# ---- summary --------------------------------------------------------------------------
nfiles=0
total=0
echo "rootfs $OUT:"
while IFS=$'\t' read -r size mode path; do
  printf '  %10d  %s  /%s\n' "$size" "$mode" "$path"
  nfiles=$((nfiles + 1))
  total=$((total + size))
done < <(cd "$OUT" && find . -type f -printf '%s\t%M\t%P\n' | sort -t $'\t' -k3)
printf 'rootfs %s: %d files, %d bytes (%s MiB)\n' "$OUT" "$nfiles" "$total" \
  "$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }')"
