#!/usr/bin/env bash
# Builds the real Kubernetes control-plane programs used by the cluster tests:
#   kube-apiserver, kube-controller-manager, kubectl  (k8s.io/kubernetes/cmd/...)
#   helm                                              (helm.sh/helm/v3/cmd/helm)
#   etcd                                              (go.etcd.io/etcd/server/v3)
# from the Go modules pinned in tests/cluster/tools*/go.mod, into
#   ${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/k8s-<version>/bin/
#
# Idempotent: a binary whose stamp (module go.mod/go.sum hash + Go version)
# matches is not rebuilt, so a warm run takes well under a second.
# The last line printed on stdout is the bin dir; progress goes to stderr.
#
# Environment:
#   LOKI_TOOLS_CACHE   cache root (default $HOME/.cache/loki-guard)
#   GO                 go binary (default: go in PATH, else /usr/local/go/bin/go)
#   LOKI_BUILD_NICE    nice level for the compiles (default 10)
#   LOKI_TOOLS_FORCE=1 rebuild even when the stamps match
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

log() { printf 'build-tools: %s\n' "$*" >&2; }
die() { printf 'build-tools: ERROR: %s\n' "$*" >&2; exit 1; }

GO="${GO:-$(command -v go 2>/dev/null || true)}"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
[[ -x "$GO" ]] || die "no Go toolchain found (set GO=/path/to/go)"

cache_root="${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}"
prefix="$cache_root/k8s-${K8S_VERSION}"
bindir="$prefix/bin"
mkdir -p "$bindir" "$prefix/logs"

# Serialise concurrent runs (e.g. parallel ctest invocations) on one cache.
exec 9>"$prefix/.lock"
if command -v flock >/dev/null; then
  flock -w 3600 9 || die "another build-tools.sh held $prefix/.lock for an hour; giving up"
fi

go_version="$("$GO" env GOVERSION)"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
# Default GOMODCACHE/GOCACHE (persisted under $HOME) unless the caller set them.

stamp_of() { # module-dir
  { echo "$go_version"; echo "K8S_VERSION=$K8S_VERSION ETCD_VERSION=$ETCD_VERSION";
    cat "$1/go.mod" "$1/go.sum"; } | sha256sum | awk '{print $1}'
}

k8s_ldflags() {
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local x pkg
  x="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$x"
}

built_any=0
build_one() { # name moddir package ldflags
  local name="$1" moddir="$2" pkg="$3" ldflags="$4"
  local out="$bindir/$name" stampfile="$bindir/.$name.stamp" want
  want="$(stamp_of "$moddir")"
  if [[ "${LOKI_TOOLS_FORCE:-0}" != 1 && -x "$out" && -f "$stampfile" && "$(cat "$stampfile")" == "$want" ]]; then
    log "$name: up to date"
    return 0
  fi
  log "$name: building $pkg (this takes minutes on a cold Go build cache; log: $prefix/logs/$name.build.log)"
  local t0 t1 rc=0
  t0="$(date +%s)"
  ( cd "$moddir" && nice -n "${LOKI_BUILD_NICE:-10}" \
      "$GO" build -trimpath -ldflags="$ldflags" -o "$out.tmp.$$" "$pkg" ) \
      >"$prefix/logs/$name.build.log" 2>&1 || rc=$?
  t1="$(date +%s)"
  if (( rc != 0 )); then
    rm -f "$out.tmp.$$"
    tail -n 40 "$prefix/logs/$name.build.log" >&2
    die "$name: go build failed (exit $rc) after $((t1 - t0)) s; full log: $prefix/logs/$name.build.log"
  fi
  mv -f "$out.tmp.$$" "$out"
  printf '%s\n' "$want" > "$stampfile"
  printf '%s %s %ss %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" "$((t1 - t0))" "$go_version" >> "$prefix/logs/build-times.txt"
  log "$name: built in $((t1 - t0)) s"
  built_any=1
}

k8s_mod="$here/tools"
etcd_mod="$here/tools-etcd"
helm_mod="$here/tools-helm"
k8s_ld="$(k8s_ldflags)"

build_one etcd                    "$etcd_mod" go.etcd.io/etcd/server/v3                      "-s -w"
build_one kube-apiserver          "$k8s_mod"  k8s.io/kubernetes/cmd/kube-apiserver           "$k8s_ld"
build_one kube-controller-manager "$k8s_mod"  k8s.io/kubernetes/cmd/kube-controller-manager  "$k8s_ld"
build_one kubectl                 "$k8s_mod"  k8s.io/kubernetes/cmd/kubectl                  "$k8s_ld"
# helm for the chart tests (tests/chart/), pinned in tools-helm/go.mod.
helm_ver="$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3}' "$helm_mod/go.mod")"
# As helm's Makefile does: the default Kubernetes version of `helm template`
# and `helm lint` is the client-go minor helm is built with.
helm_k8s_minor="$(awk '$1=="k8s.io/client-go"{split($2,v,"."); print v[2]; exit}' "$helm_mod/go.mod")"
helm_ld="-s -w -X helm.sh/helm/v3/internal/version.version=${helm_ver}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${helm_k8s_minor}"
done
build_one helm                    "$helm_mod" helm.sh/helm/v3/cmd/helm "$helm_ld"
# krew and its manifest validator for the Krew plugin test (tests/krew/), pinned in tools-krew/go.mod.
krew_mod="$here/tools-krew"
build_one kubectl-krew            "$krew_mod" sigs.k8s.io/krew/cmd/krew                       "-s -w"
build_one validate-krew-manifest  "$krew_mod" sigs.k8s.io/krew/cmd/validate-krew-manifest     "-s -w"

if (( built_any )); then
  log "build times recorded in $prefix/logs/build-times.txt"
fi
echo "$bindir"
