#!/usr/bin/env bash
# Benchmark-only system tools from Debian's packages (idempotent): nginx (the
# TLS floor in bench/webhook_peers.sh; run in the foreground with a private
# config, never as the system service) and gnuplot (plots). Packages already
# installed are left alone (no network); the rest are apt-installed.
#   scripts/setup-bench-tools.sh [PACKAGE...]   (default: nginx gnuplot-nox)
set -euo pipefail
PKGS=("$@")
[ ${#PKGS[@]} -gt 0 ] || PKGS=(nginx gnuplot-nox)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-bench-tools: ${PKGS[*]} installed"
  exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the nginx package must not start (or enable) its service here.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  added_policy=1
fi
cleanup() { [ -z "$added_policy" ] || $SUDO rm -f "$policy"; }
trap cleanup EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-bench-tools: installed ${missing[*]}"
