#!/usr/bin/env bash
# Webhook HTTPS transport benchmark: loki-webhook-echo (echo handler) with 1 and 2 server threads,
# loaded by loki-webhook-load over TLS keep-alive on loopback, max rate and 1,000 req/s.
#
#   bench/webhook_bench.sh [BUILD_DIR] [BODY_FILE]      (defaults: build, a ~2.7 KB AdmissionReview)
# Prints one JSON line per run. Numbers depend on what else the machine is doing: note the load average.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
BIN=$BUILD/bin
DURATION=${DURATION:-5}
PORT=${PORT:-18443}
work=$(mktemp -d)
trap 'kill "${echo_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
  -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
BODY=${2:-$work/review.json}
if [ ! -f "$BODY" ]; then
  python3 - "$BODY" <<'EOF'
import json, sys
env = [{"name": "E%d" % i, "value": "x" * 40} for i in range(30)]
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "agent-0", "namespace": "agents", "labels": {"app": "loki-mode"}},
       "spec": {"containers": [{"name": "agent", "image": "ghcr.io/example/agent:1.2.3", "env": env,
                                "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                                    "allowPrivilegeEscalation": False,
                                                    "capabilities": {"drop": ["ALL"]}}}]}}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": "CREATE", "namespace": "agents",
                      "kind": {"group": "", "version": "v1", "kind": "Pod"},
                      "resource": {"group": "", "version": "v1", "resource": "pods"}, "object": pod}}
open(sys.argv[1], "w").write(json.dumps(review))
EOF
fi

echo "# $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg), body $(wc -c <"$BODY") bytes, ${DURATION}s per run"
for threads in 1 2; do
  "$BIN/loki-webhook-echo" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" --listen "127.0.0.1:$PORT" \
    --threads "$threads" --log-level warn >"$work/echo.log" 2>&1 &
  echo_pid=$!
  for _ in $(seq 50); do
    grep -q listening "$work/echo.log" 2>/dev/null && break
    sleep 0.1
  done
  for args in "--connections 1" "--connections 4" "--connections 4 --rate 1000" "--connections 16 --rate 1000"; do
    # shellcheck disable=SC2086
    curl -s --cacert "$work/tls.crt" "https://127.0.0.1:$PORT/metrics" >"$work/before.txt"
    result=$("$BIN/loki-webhook-load" --url "https://127.0.0.1:$PORT/validate" --body "$BODY" --cacert "$work/tls.crt" \
      --duration "$DURATION" $args --json)
    curl -s --cacert "$work/tls.crt" "https://127.0.0.1:$PORT/metrics" >"$work/after.txt"
    echo "server_threads=$threads $args $result"
    # Server-side time (first byte read -> response written) from the echo server's histogram.
    python3 - "$work/before.txt" "$work/after.txt" <<'EOF'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'loki_webhook_server_request_duration_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
b, a = buckets(sys.argv[1]), buckets(sys.argv[2])
les = sorted((float(k), a[k] - b.get(k, 0)) for k in a)
total = les[-1][1]
if total:
    def quantile(q):  # histogram_quantile-style linear interpolation
        rank, prev_le, prev_n = q * total, 0.0, 0
        for le, n in les:
            if n >= rank:
                return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1) if le != float("inf") else prev_le
            prev_le, prev_n = le, n
        return prev_le
    share = "  ".join("<=%gus %.2f%%" % (le * 1e6, 100.0 * n / total) for le, n in les if le in (1e-4, 2.5e-4, 1e-3))
    print("  server-side: p50~%.0fus p99~%.0fus p99.9~%.0fus   %s" % (quantile(.5) * 1e6, quantile(.99) * 1e6,
                                                                     quantile(.999) * 1e6, share))
EOF
  done
  kill -INT "$echo_pid"
  wait "$echo_pid"
  echo_pid=
done
