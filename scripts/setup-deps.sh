#!/usr/bin/env bash
# Installs the build and test dependencies of loki-guard from Debian's packages.
# Idempotent: packages already present are skipped, and apt is not touched at all
# when everything is installed.
#
# Also used on Ubuntu (the GitHub Action, action.yml, runs it on ubuntu-latest):
# the build needs Boost >= 1.81, which Debian 12 packages as libboost1.81-dev and
# Ubuntu 24.04 as libboost1.83-dev; whichever is installed, else available, is used.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libssl-dev openssl
  nlohmann-json3-dev libyaml-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  doctest-dev libcli11-dev
  clang-format clang-tidy clang llvm libclang-rt-14-dev curl ca-certificates bc time
  ccache mold
  libmimalloc-dev  # cmake/allocator.cmake: loki-audit and loki-webhook link mimalloc (LOKI_ALLOCATOR)
  python3 python3-yaml python3-jsonschema
  graphviz  # tests/cli: `dot -Tsvg` accepts `loki-audit netmap -f dot`
)
BOOST_PKGS=(libboost1.81-dev libboost1.83-dev)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
boost=""
for p in "${BOOST_PKGS[@]}"; do
  if installed "$p"; then
    boost=$p
    break
  fi
done

if [ "${#missing[@]}" -eq 0 ] && [ -n "$boost" ]; then
  echo "setup-deps: all $((${#PKGS[@]} + 1)) Debian packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ -z "$boost" ]; then
  for p in "${BOOST_PKGS[@]}"; do
    if [ -n "$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; then
      boost=$p
      break
    fi
  done
  [ -n "$boost" ] || { echo "setup-deps: none of ${BOOST_PKGS[*]} is available" >&2; exit 1; }
  missing+=("$boost")
fi
echo "setup-deps: installing ${missing[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
