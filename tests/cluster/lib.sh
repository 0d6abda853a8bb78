# Shared helpers for tests/cluster/{up,down,smoke.sh}. Source it; do not run it.
# shellcheck shell=bash

cluster_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster_repo="$(cd "$cluster_here/../.." && pwd)"
# shellcheck source=versions.env
source "$cluster_here/versions.env"

LOKI_CLUSTER_DIR="${LOKI_CLUSTER_DIR:-$cluster_repo/build/cluster}"
# Absolute, canonical form: it is matched against /proc/<pid>/cmdline.
if [[ -d "$LOKI_CLUSTER_DIR" ]]; then LOKI_CLUSTER_DIR="$(cd "$LOKI_CLUSTER_DIR" && pwd -P)"; fi
# Marker that proves a directory is a cluster state dir (down refuses to rm -rf anything else).
CLUSTER_MARKER=".loki-guard-cluster"

# Components in start order; down stops them in reverse.
CLUSTER_COMPONENTS=(etcd kube-apiserver kube-controller-manager)

clog() { printf '%s: %s\n' "${CLUSTER_PROG:-cluster}" "$*" >&2; }
cdie() { printf '%s: ERROR: %s\n' "${CLUSTER_PROG:-cluster}" "$*" >&2; exit 1; }

# pid_of COMPONENT -> prints the pid if the pid file names a live process that
# really is that component's binary (guards against pid reuse), else nothing.
pid_of() {
  local comp="$1" pidfile="$LOKI_CLUSTER_DIR/run/$1.pid" pid exe
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  exe="${exe% (deleted)}"
  [[ "$(basename "$exe")" == "$comp" ]] || return 0
  # And it must be ours: its command line mentions this state dir.
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LOKI_CLUSTER_DIR/" || return 0
  printf '%s\n' "$pid"
}

# stop_component COMPONENT [grace-seconds]
stop_component() {
  local comp="$1" grace="${2:-20}" pid i
  pid="$(pid_of "$comp")"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      clog "$comp (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    clog "stopped $comp (pid $pid)"
  fi
  rm -f "$LOKI_CLUSTER_DIR/run/$comp.pid"
}

# port_in_use PORT -> 0 if something listens on it (any address).
port_in_use() {
  local p="$1"
  if command -v ss >/dev/null; then
    [[ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
  fi
}
