#!/usr/bin/env bash
# loki-webhook under load over TLS keep-alive on loopback: /validate with a
# typical loki-mode pod review, at 1,000 reviews/s and at the maximum rate,
# with 1 and 2 server threads. Baseline in the same run: the same server code
# with an echo handler (loki-webhook-echo), the transport floor.
# Target (issue #6): p99 under 1 ms at 1,000 reviews/s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
DURATION=${DURATION:-5}
work=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
  -days 1 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
python3 - "$work/review.json" <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "agent-7d9f", "namespace": "loki", "labels": {"app": "loki-mode", "role": "agent"}},
       "spec": {"automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "loki", "image": "asklokesh/loki-mode:7.5.13",
                                "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "unrestricted"}],
                                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                    "capabilities": {"drop": ["ALL"]}}}]}}
json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
           "request": {"uid": "0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a10", "operation": "CREATE", "namespace": "loki",
                       "kind": {"group": "", "version": "v1", "kind": "Pod"},
                       "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                       "object": pod}}, open(sys.argv[1], "w"))
PY
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for i in $(seq 1 100); do curl -skf "https://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
echo "| server | threads | offered rate | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for threads in 1 2; do
  for server in echo webhook; do
    P=$(port)
    if [ $server = echo ]; then
      "$BIN/loki-webhook-echo" --listen "127.0.0.1:$P" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" --threads $threads >/dev/null 2>&1 &
    else
      "$BIN/loki-webhook" --without-cluster --listen "127.0.0.1:$P" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
        --threads $threads --log-level warn >/dev/null 2>&1 &
    fi
    pid=$!
    wait_up "$P"
    for rate in 1000 0; do
      out=$("$BIN/loki-webhook-load" --url "https://127.0.0.1:$P/validate" --body "$work/review.json" -k --json \
        --rate $rate --duration "$DURATION" --warmup 1 --connections 8)
      python3 - "$server" "$threads" "$rate" "$out" <<'PY'
import json, sys
server, threads, rate, out = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
name = "loki-webhook /validate" if server == "webhook" else "echo handler (transport floor)"
ms = lambda k: out[k] / 1000.0
print(f"| {name} | {threads} | {'max' if rate == '0' else rate + '/s'} | {out['rps']:,.0f} | "
      f"{ms('p50_us'):.3f} | {ms('p99_us'):.3f} | {ms('p999_us'):.3f} | {out['errors'] + out.get('non_2xx', 0)} |")
PY
    done
    kill $pid; wait $pid 2>/dev/null || true
  done
done
