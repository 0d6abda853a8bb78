#!/usr/bin/env python3
"""Tiny loopback TCP balancer for the fault tests (stands in for a Service).

    tcp_balancer.py --listen PORT --backend 127.0.0.1:PA --backend 127.0.0.1:PB
                    [--ready-path /readyz --ca ca.crt] [--stats FILE]

TLS passes through untouched (the webhook's certificate is for 127.0.0.1, so
the API server verifies it as usual). Each new client connection goes to the
next backend, round robin, preferring the ones whose readiness probe
(HTTPS GET --ready-path every 0.2 s, verified with --ca) passed last time --
as kube-proxy only routes to ready endpoints. If the connect fails it tries
the other backends (connect failures are counted, never surfaced to the
client unless every backend refuses). Only 127.0.0.1 is ever used.
On SIGTERM/SIGINT it writes counters as JSON to --stats and exits.
"""
import argparse
import json
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.request

lock = threading.Lock()
stats = {"connections": 0, "per_backend": {}, "connect_failures": 0, "retried": 0, "unserved": 0}


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--backend", action="append", required=True, help="127.0.0.1:PORT")
    p.add_argument("--ready-path", default="/readyz")
    p.add_argument("--ca")
    p.add_argument("--stats")
    return p.parse_args()


def main():
    a = parse_args()
    backends = []
    for b in a.backend:
        host, port = b.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            sys.exit("tcp_balancer: loopback backends only")
        backends.append(("127.0.0.1", int(port)))
    ready = {b: False for b in backends}
    for b in backends:
        stats["per_backend"][str(b[1])] = 0

    ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl._create_unverified_context()

    def probe():
        while True:
            for b in backends:
                try:
                    with urllib.request.urlopen(f"https://127.0.0.1:{b[1]}{a.ready_path}", context=ctx,
                                                timeout=1) as r:
                        ok = r.status == 200
                except Exception:
                    ok = False
                ready[b] = ok
            time.sleep(0.2)

    threading.Thread(target=probe, daemon=True).start()

    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass

    rr = [0]

    def serve(client):
        with lock:
            start = rr[0]
            rr[0] += 1
        order = [backends[(start + i) % len(backends)] for i in range(len(backends))]
        order.sort(key=lambda b: not ready[b])  # ready ones first, round robin among them
        upstream = None
        for i, b in enumerate(order):
            try:
                upstream = socket.create_connection(b, timeout=1)
                upstream.settimeout(None)
                with lock:
                    stats["per_backend"][str(b[1])] += 1
                    if i:
                        stats["retried"] += 1
                break
            except OSError:
                with lock:
                    stats["connect_failures"] += 1
        if upstream is None:
            with lock:
                stats["unserved"] += 1
            client.close()
            return
        t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        t.start()
        pipe(client, upstream)
        t.join()
        client.close()
        upstream.close()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.listen))
    srv.listen(128)

    def stop(*_):
        if a.stats:
            with lock, open(a.stats, "w") as f:
                json.dump(stats, f)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"tcp_balancer: listening on 127.0.0.1:{a.listen}", flush=True)
    while True:
        client, _ = srv.accept()
        with lock:
            stats["connections"] += 1
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
