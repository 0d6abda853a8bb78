#!/usr/bin/env bash
# Installs the build and test dependencies of loki-guard from Debian's packages.
# Idempotent: packages already present are skipped, and apt is not touched at all
# when everything is installed.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libssl-dev openssl
  nlohmann-json3-dev libyaml-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  doctest-dev libcli11-dev
  clang-format curl ca-certificates bc time
  python3 python3-yaml python3-jsonschema
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-deps: all ${#PKGS[@]} Debian packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
