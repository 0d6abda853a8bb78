#!/usr/bin/env bash
# loki-webhook against its peers, side by side in one run, on loopback over TLS 1.3 keep-alive, with the
# same AdmissionReview bodies, the same certificate (ECDSA P-256) and the same load generator
# (loki-webhook-load):
#   loki   loki-webhook --without-cluster: POST /validate and /mutate
#   opa    OPA's server (the engine behind Gatekeeper) with bench/peers/rego/loki.rego, the same pod rules in
#          Rego; POST / with the raw AdmissionReview (default decision data.loki.admission.response)
#   nginx  nginx answering every POST with a fixed AdmissionReview response: the TLS + HTTP floor
#   echo   (reference) loki-webhook-echo: loki-webhook's own HTTPS server code with a handler that echoes the
#          body: what the server code costs without any admission work (ECHO=0 skips it)
# Each with 1 and 2 server threads (--threads N, GOMAXPROCS=N, worker_processes N). Per server x threads x
# endpoint x body: the maximum throughput (closed loop, $MAX_CONNECTIONS connections) and latency
# p50/p99/p99.9/max at a fixed $RATE req/s (open loop, no coordinated omission), plus the server's CPU time
# per request (from /proc; less sensitive to other load on the machine than req/s).
#
#   bench/webhook_peers.sh [BUILD_DIR]          (default: build)
# Environment: DURATION (s per run, default 5), WARMUP (s, default 1), RATE (default 1000),
#   MAX_CONNECTIONS (default 16), RATE_CONNECTIONS (default 8), PIN (default 1: with 1 server thread,
#   pin every server to the last CPU and the load generator to the others), OPA_DATA_API (1: also measure
#   OPA's POST /v1/data/loki/admission/response with {"input": review}), RT (1: run the fixed-rate runs with
#   every server thread and the load generator SCHED_FIFO, so other work on a shared machine cannot preempt
#   them and p99 shows the servers themselves; needs root), OUT (default bench/out).
# Prints one JSON line per run on stdout; writes $OUT/webhook_peers.md (tables, ratios, targets),
# $OUT/webhook_peers.jsonl and, with gnuplot, $OUT/webhook_peers.svg. Needs: nginx (scripts/setup-bench-tools.sh),
# opa (bench/peers/build.sh), openssl, curl, python3. About 4 minutes with the defaults.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
BIN=$BUILD/bin
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
RATE=${RATE:-1000}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-16}
RATE_CONNECTIONS=${RATE_CONNECTIONS:-8}
PIN=${PIN:-1}
OPA_DATA_API=${OPA_DATA_API:-0}
RT=${RT:-0}
ECHO=${ECHO:-1}
OUT=${OUT:-$ROOT/bench/out}
OPA=${OPA:-${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/peers/bin/opa}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
REGO=$ROOT/bench/peers/rego/loki.rego

log() { printf 'webhook_peers: %s\n' "$*" >&2; }
die() { printf 'webhook_peers: ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN/loki-webhook-echo" ] || ECHO=0
for b in loki-webhook loki-webhook-load; do
  [ -x "$BIN/$b" ] || die "$BIN/$b missing: cmake --build $BUILD"
done
[ -x "$NGINX" ] || die "nginx missing: scripts/setup-bench-tools.sh"
if [ ! -x "$OPA" ]; then
  log "opa missing: bench/peers/build.sh opa"
  "$ROOT/bench/peers/build.sh" opa >/dev/null
  [ -x "$OPA" ] || die "bench/peers/build.sh did not produce $OPA"
fi

work=$(mktemp -d /tmp/webhook-peers.XXXXXX)
pids=()
stop_servers() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_servers; rm -rf "$work"' EXIT
mkdir -p "$OUT"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
  -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
python3 "$ROOT/bench/webhook_peers/gen_bodies.py" "$work"

ncpu=$(nproc)
if [ "$PIN" = 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpus_1=$((ncpu - 1))
  client_cpus_1=0-$((ncpu - 2))
else
  PIN=0
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_https() { # url
  local _
  for _ in $(seq 1 100); do
    curl -sk -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.05
  done
  return 1
}
# utime+stime (clock ticks) of a process and its children (nginx workers).
cpu_ticks() { # pid
  local total=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + ${f% *} + ${f#* }))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

start_servers() { # threads
  local t=$1 pin=()
  [ "$PIN" = 1 ] && [ "$t" = 1 ] && pin=(taskset -c "$server_cpus_1")
  loki_port=$(free_port)
  "${pin[@]}" "$BIN/loki-webhook" --without-cluster --listen "127.0.0.1:$loki_port" --tls-cert "$work/tls.crt" \
    --tls-key "$work/tls.key" --threads "$t" --log-level warn >"$work/loki-$t.log" 2>&1 &
  loki_pid=$!
  pids+=("$loki_pid")
  opa_port=$(free_port)
  GOMAXPROCS=$t "${pin[@]}" "$OPA" run --server --addr "127.0.0.1:$opa_port" --tls-cert-file "$work/tls.crt" \
    --tls-private-key-file "$work/tls.key" --set=default_decision=loki/admission/response --log-level error \
    "$REGO" >"$work/opa-$t.log" 2>&1 &
  opa_pid=$!
  pids+=("$opa_pid")
  if [ "$ECHO" = 1 ]; then
    echo_port=$(free_port)
    "${pin[@]}" "$BIN/loki-webhook-echo" --listen "127.0.0.1:$echo_port" --tls-cert "$work/tls.crt" \
      --tls-key "$work/tls.key" --threads "$t" --log-level warn >"$work/echo-$t.log" 2>&1 &
    echo_pid=$!
    pids+=("$echo_pid")
  fi
  nginx_port=$(free_port)
  local prefix=$work/nginx-$t
  mkdir -p "$prefix/logs"
  # Fixed response: the allowed review's; no $ or ' in it (nginx string syntax).
  cat >"$prefix/nginx.conf" <<EOF
worker_processes $t;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $prefix/client_body;
  proxy_temp_path $prefix/proxy;
  fastcgi_temp_path $prefix/fastcgi;
  uwsgi_temp_path $prefix/uwsgi;
  scgi_temp_path $prefix/scgi;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$nginx_port ssl reuseport;
    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    ssl_protocols TLSv1.3;
    # The suite loki-webhook (OpenSSL) and OPA (Go) settle on; nginx would follow the client's first choice.
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
    default_type application/json;
    location / { return 200 '$(cat "$work/nginx-response.json")'; }
  }
}
EOF
  "${pin[@]}" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" -g 'daemon off;' \
    >"$prefix/logs/stdout.log" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_https "https://127.0.0.1:$loki_port/healthz" || die "loki-webhook did not start: $(cat "$work/loki-$t.log")"
  wait_https "https://127.0.0.1:$opa_port/health" || die "opa did not start: $(cat "$work/opa-$t.log")"
  wait_https "https://127.0.0.1:$nginx_port/" || die "nginx did not start: $(cat "$prefix/logs/error.log")"
  if [ "$ECHO" = 1 ]; then
    wait_https "https://127.0.0.1:$echo_port/metrics" || die "loki-webhook-echo did not start: $(cat "$work/echo-$t.log")"
  fi
}

post() { # url body-file -> "HTTP_CODE BODY"
  curl -s --cacert "$work/tls.crt" -H 'Content-Type: application/json' --data-binary "@$2" -w '\n%{http_code}' "$1"
}
# Correctness, once per server: the deny body is denied with the host-network rule's message, the allow and
# Deployment bodies are allowed, /mutate patches the unhardened pod. A mismatch stops the benchmark.
check() { # name url body-file python-condition-on-r(esponse)
  local out code
  out=$(post "$2" "$3")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ! python3 -c "import json,sys; r=json.loads(sys.argv[1])['response']; sys.exit(0 if ($4) else 1)" "$out" ||
    [ "$code" != 200 ]; then
    die "correctness: $1 $(basename "$3"): HTTP $code: $out"
  fi
  log "correct: $1 $(basename "$3"): HTTP $code allowed=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["response"]["allowed"])' "$out")"
}
check_all() {
  local L=https://127.0.0.1:$loki_port O=https://127.0.0.1:$opa_port/ N=https://127.0.0.1:$nginx_port/validate
  check loki "$L/validate" "$work/deny.json" 'not r["allowed"] and "[host-network]" in r["status"]["message"]'
  check loki "$L/validate" "$work/allow.json" 'r["allowed"]'
  check loki "$L/validate" "$work/deployment.json" 'r["allowed"]'
  check loki "$L/mutate" "$work/patch.json" 'r["allowed"] and r.get("patchType") == "JSONPatch"'
  check loki "$L/mutate" "$work/allow.json" 'r["allowed"] and "patch" not in r'
  check opa "$O" "$work/deny.json" 'not r["allowed"] and "[host-network]" in r["status"]["message"]'
  check opa "$O" "$work/allow.json" 'r["allowed"]'
  check opa "$O" "$work/deployment.json" 'r["allowed"]'
  check opa "$O" "$work/patch.json" 'not r["allowed"] and "[missing-seccomp]" in r["status"]["message"]'
  check nginx "$N" "$work/allow.json" 'r["allowed"]'
}

# One measurement: prints (and appends to $work/runs.jsonl) one JSON line.
run() { # server threads endpoint body url expect mode(max|rate) server-pid
  local server=$1 t=$2 endpoint=$3 body=$4 url=$5 expect=$6 mode=$7 spid=$8 pin=() args c0 c1 res rc=0
  [ "$PIN" = 1 ] && [ "$t" = 1 ] && pin=(taskset -c "$client_cpus_1")
  [ "$RT" = 1 ] && [ "$mode" = rate ] && pin=(chrt -f 50 "${pin[@]}")
  if [ "$mode" = max ]; then
    args=(--rate 0 --connections "$MAX_CONNECTIONS")
  else
    args=(--rate "$RATE" --connections "$RATE_CONNECTIONS")
  fi
  c0=$(cpu_ticks "$spid")
  res=$("${pin[@]}" "$BIN/loki-webhook-load" --url "$url" --body "$work/$body.json" --cacert "$work/tls.crt" \
    --duration "$DURATION" --warmup "$WARMUP" --threads 1 --expect "$expect" --json "${args[@]}") || rc=$?
  c1=$(cpu_ticks "$spid")
  [ -n "$res" ] || die "loki-webhook-load failed (exit $rc) on $url"
  python3 - "$res" "$server" "$t" "$endpoint" "$body" "$mode" "$((c1 - c0))" "$hz" "$(wc -c <"$work/$body.json")" \
    "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee -a "$work/runs.jsonl"
import json, sys
r = json.loads(sys.argv[1])
server, threads, endpoint, body, mode, ticks, hz, size, load = sys.argv[2:]
out = {"server": server, "threads": int(threads), "endpoint": endpoint, "body": body, "body_bytes": int(size),
       "mode": mode, "load1": float(load)}
out.update(r)
out["failures"] = r["errors"] + r["non_2xx"] + r["mismatched"]
out["server_cpu_s"] = int(ticks) / int(hz)
out["server_cpu_us_per_req"] = round(1e6 * out["server_cpu_s"] / r["all_requests"], 1) if r["all_requests"] else None
print(json.dumps(out, separators=(",", ":")))
PY
}

log "$ncpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); ${DURATION}s + ${WARMUP}s warm-up per run"
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
: >"$work/runs.jsonl"
for t in 1 2; do
  start_servers "$t"
  [ "$t" = 1 ] && check_all
  L=https://127.0.0.1:$loki_port O=https://127.0.0.1:$opa_port N=https://127.0.0.1:$nginx_port
  for mode in max rate; do
    if [ "$RT" = 1 ] && [ "$mode" = rate ]; then
      for p in "$loki_pid" "$opa_pid" "$nginx_pid" $(pgrep -P "$nginx_pid") ${echo_pid:-}; do chrt -a -f -p 50 "$p" >/dev/null; done
    fi
    # Interleaved per body, so a change in the machine's other load hits every server alike.
    for body in deny allow deployment; do
      if [ "$body" = deny ]; then expect='"allowed":false'; else expect='"allowed":true'; fi
      run loki "$t" validate "$body" "$L/validate" "$expect" "$mode" "$loki_pid"
      run opa "$t" validate "$body" "$O/" "$expect" "$mode" "$opa_pid"
      if [ "$OPA_DATA_API" = 1 ]; then
        python3 -c 'import json,sys; print(json.dumps({"input": json.load(open(sys.argv[1]))}, separators=(",",":")))' \
          "$work/$body.json" >"$work/input-$body.json"
        run opa "$t" validate-data-api "input-$body" "$O/v1/data/loki/admission/response" "$expect" "$mode" "$opa_pid"
      fi
    done
    run nginx "$t" validate allow "$N/validate" '"allowed":true' "$mode" "$nginx_pid"
    if [ "$ECHO" = 1 ]; then
      run echo "$t" validate allow "https://127.0.0.1:$echo_port/validate" '"kind":"AdmissionReview"' "$mode" "$echo_pid"
    fi
    run loki "$t" mutate patch "$L/mutate" '"patchType":"JSONPatch"' "$mode" "$loki_pid"
    run loki "$t" mutate allow "$L/mutate" '"allowed":true' "$mode" "$loki_pid"
  done
  stop_servers
  echo_pid=
done
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)

cp "$work/runs.jsonl" "$OUT/webhook_peers.jsonl"
python3 "$ROOT/bench/webhook_peers/report.py" "$work/runs.jsonl" "$OUT/webhook_peers.md" \
  --ncpu "$ncpu" --cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
  --load-start "$loadavg_start" --load-end "$loadavg_end" --seconds "$(($(date +%s) - t_start))" \
  --duration "$DURATION" --warmup "$WARMUP" --rate "$RATE" --max-connections "$MAX_CONNECTIONS" \
  --rate-connections "$RATE_CONNECTIONS" --pin "$PIN" --rt "$RT" \
  --versions "loki-webhook $("$BIN/loki-webhook" --version 2>&1 | awk '{print $NF}'); OPA $("$OPA" version | awk '/^Version/{print $2}'); $("$NGINX" -v 2>&1 | sed 's/.*: //'); $(openssl version | cut -d' ' -f1-2)" \
  --svg "$OUT/webhook_peers.svg"
log "wrote $OUT/webhook_peers.md"
