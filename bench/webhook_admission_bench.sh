#!/usr/bin/env bash
# loki-webhook under load over TLS keep-alive on loopback: /validate with a
# typical loki-mode pod review, at 1,000 reviews/s and at the maximum rate,
# with 1 and 2 server threads. Baseline in the same run: the same server code
# with an echo handler (loki-webhook-echo), the transport floor.
# Target (issue #6): p99 under 1 ms at 1,000 reviews/s; issue 19: /validate's
# maximum rate >= 0.7x the echo floor's, and p99 < 1 ms with 2 threads too.
#
# Servers run interleaved, REPS times (default 3); the table gives medians
# and each figure as a ratio to the echo floor of the same run.
#   BEFORE_WEBHOOK=/tmp/loki-webhook-old   also runs an older build (before/after)
#   BEFORE_ECHO=/tmp/loki-webhook-echo-old  ... and its echo floor
#   PRELOADS="mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#                                          also runs echo and loki-webhook under each LD_PRELOADed allocator
#   THREADS="1 2"  RATES="1000 0" (0 = max)  DURATION=5 (s per measurement)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
DURATION=${DURATION:-5}
REPS=${REPS:-3}
THREADS=${THREADS:-1 2}
RATES=${RATES:-1000 0}
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

# name|kind|binary|LD_PRELOAD
servers=("echo handler (floor)|echo|$BIN/loki-webhook-echo|" "loki-webhook /validate|webhook|$BIN/loki-webhook|")
[ -n "${BEFORE_ECHO:-}" ] && servers+=("echo handler, before|echo|$BEFORE_ECHO|")
[ -n "${BEFORE_WEBHOOK:-}" ] && servers+=("loki-webhook /validate, before|webhook|$BEFORE_WEBHOOK|")
for p in ${PRELOADS:-}; do
  servers+=("echo handler + ${p%%=*}|echo|$BIN/loki-webhook-echo|${p#*=}"
    "loki-webhook /validate + ${p%%=*}|webhook|$BIN/loki-webhook|${p#*=}")
done

results=$work/results.jsonl
for rep in $(seq 1 "$REPS"); do
  for threads in $THREADS; do
    for s in "${servers[@]}"; do
      IFS='|' read -r name kind bin preload <<<"$s"
      P=$(port)
      if [ "$kind" = echo ]; then
        LD_PRELOAD=$preload "$bin" --listen "127.0.0.1:$P" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
          --threads "$threads" >/dev/null 2>&1 &
      else
        LD_PRELOAD=$preload "$bin" --without-cluster --listen "127.0.0.1:$P" --tls-cert "$work/tls.crt" \
          --tls-key "$work/tls.key" --threads "$threads" --log-level warn >/dev/null 2>&1 &
      fi
      pid=$!
      wait_up "$P"
      for rate in $RATES; do
        out=$("$BIN/loki-webhook-load" --url "https://127.0.0.1:$P/validate" --body "$work/review.json" -k --json \
          --rate "$rate" --duration "$DURATION" --warmup 1 --connections 8)
        python3 -c 'import json,sys; o=json.loads(sys.argv[4]); o.update(name=sys.argv[1], threads=int(sys.argv[2]), rate=int(sys.argv[3])); print(json.dumps(o))' \
          "$name" "$threads" "$rate" "$out" >>"$results"
      done
      kill $pid
      wait $pid 2>/dev/null || true
    done
  done
done
python3 - "$results" "$REPS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["threads"], r["rate"], r["name"]), []).append(r)
med = lambda g, k: statistics.median(x[k] for x in g)
print(f"Median of {sys.argv[2]} interleaved runs; ratios to the echo floor (same threads, same load) in brackets.\n")
print("| server | threads | offered | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for (threads, rate, name), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == 0, kv[0][1])):
    floor = groups.get((threads, rate, "echo handler (floor)"))
    rps, p50, p99, p999 = med(g, "rps"), med(g, "p50_us") / 1e3, med(g, "p99_us") / 1e3, med(g, "p999_us") / 1e3
    errs = sum(x["errors"] + x.get("non_2xx", 0) for x in g)
    ratio = lambda v, k, d=1: f" ({v / (med(floor, k) / d):.2f}x)" if floor and name != "echo handler (floor)" else ""
    print(f"| {name} | {threads} | {'max' if rate == 0 else f'{rate}/s'} | {rps:,.0f}{ratio(rps, 'rps') if rate == 0 else ''} | "
          f"{p50:.3f} | {p99:.3f}{ratio(p99, 'p99_us', 1e3)} | {p999:.3f} | {errs} |")
PY
