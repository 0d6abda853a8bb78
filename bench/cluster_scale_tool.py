#!/usr/bin/env python3
"""Helper of bench/webhook_cluster_scale_bench.sh: talks to the real
kube-apiserver of tests/cluster/up over HTTPS with the admin token.

  fill      creates N namespaces, NetworkPolicies and pods with parallel
            requests (POST; then each pod's status.podIP/podIPs through the
            status subresource, which the webhook's cache reads) and prints
            the creation rates as JSON
  reviews   times N server-side dry-run pod creations (?dryRun=All: the
            admission webhooks are called, nothing is stored) one after the
            other on one keep-alive connection; prints the latencies (ms)
  ready     polls the webhook's /readyz until 200; prints seconds since --t0
            and, with --metrics, the webhook's own request-duration histogram
            over those reviews; appends one JSON record to --out
  stats     p50/p99 over the records of a file: through the API server with
            and without the webhook, and the webhook's own histogram
            (interpolated inside a bucket, as Prometheus' histogram_quantile)
The objects look like bench/webhook_scale_bench.cpp's: tenant-I namespaces
with 4 labels, pods with 4 labels, 2 named ports, 3 in 10 loki-mode agents with
LOKI_* settings, policies half agents' egress, half web ingress.
"""
import argparse
import http.client
import json
import os
import random
import ssl
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def ns_name(i):
    return f"tenant-{i}"


def namespace_object(i, extra_labels=None):
    labels = {"team": f"team-{i % 200}", "env": ["prod", "staging", "dev"][i % 3], "tenant": f"t{i}"}
    labels.update(extra_labels or {})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_name(i), "labels": labels}}


def pod_object(i, ns, rng):
    apps = ["web", "api", "worker", "cache"]
    agent = i % 10 < 3
    app = "loki-mode" if agent else apps[i % 4]
    h = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(10))
    env = [{"name": "LOG_LEVEL", "value": "info"}]
    if agent:
        env += [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "unrestricted"},
                {"name": "LOKI_ALLOWED_HOSTS", "value": "api.anthropic.com,github.com"},
                {"name": "LOKI_BLOCK_METADATA_ENDPOINT", "value": "true"}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{app}-{h}-{i}", "namespace": ns_name(ns),
                     "labels": {"app": app, "app.kubernetes.io/part-of": f"team-{ns % 200}",
                                "pod-template-hash": h, "version": f"v{i % 7}"},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-30T09:59:00Z"}},
        "spec": {"containers": [{
            "name": app, "image": f"registry.example.com/{app}:1.{i % 13}",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "env": env, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    }


def pod_ip(i):
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"


def policy_object(i, ns):
    if i % 2 == 0:
        spec = {"podSelector": {"matchLabels": {"app": "loki-mode"}}, "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                             "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                     "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {"to": [{"namespaceSelector": {"matchLabels": {"team": f"team-{ns % 200}"}},
                             "podSelector": {"matchLabels": {"app": "api"}}}],
                     "ports": [{"protocol": "TCP", "port": "http"}]},
                    {"to": [{"ipBlock": {"cidr": "160.79.104.0/23"}}], "ports": [{"protocol": "TCP", "port": 443}]}]}
        name = f"agents-egress-{i}"
    else:
        spec = {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}}],
                             "ports": [{"protocol": "TCP", "port": 8080}]}]}
        name = f"web-ingress-{i}"
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns_name(ns)}, "spec": spec}


# The typical loki-mode pod review of bench/admission_bench.cpp (hardened).
def review_pod(ns):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "agent-7d9f", "namespace": ns,
                         "labels": {"app": "loki-mode", "role": "agent", "pod-template-hash": "7d9f"}},
            # automountServiceAccountToken left out: the mutating webhook sets it (and annotates the pod
            # loki-guard.io/patched), which is how the bench sees that the webhook was called.
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "loki", "image": "asklokesh/loki-mode:7.5.13",
                                     "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "unrestricted"},
                                             {"name": "ANTHROPIC_API_KEY",
                                              "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "readOnlyRootFilesystem": True,
                                                         "capabilities": {"drop": ["ALL"]}},
                                     "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
                                     "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
                     "volumes": [{"name": "workspace", "emptyDir": {}}]}}


class Api:
    """One keep-alive HTTPS connection per thread to the API server."""

    def __init__(self, server, token, ca):
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port or 443
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca)
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
        return c

    def request(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(2):
            c = self.conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


COUNT_LOCK = threading.Lock()


def count(stats, key):
    with COUNT_LOCK:
        stats[key] += 1


def create(api, path, obj, stats):
    """POST with retries: a pod is refused until the ServiceAccount controller
    made the namespace's `default` ServiceAccount; 429 under load."""
    for attempt in range(200):
        status, body = api.request("POST", path, obj)
        if status in (200, 201):
            count(stats, "created")
            return True
        if status == 409:
            count(stats, "existed")
            return False
        count(stats, "retries")
        if attempt == 199:
            raise RuntimeError(f"POST {path}: {status} {body[:300]!r}")
        time.sleep(min(2.0, 0.05 * (attempt + 1)))


def run_parallel(threads, fn, items):
    with ThreadPoolExecutor(threads) as ex:
        for _ in ex.map(fn, items):
            pass


def cmd_fill(a):
    api = Api(a.server, a.token, a.ca)
    out = {}

    def phase(name, count, fn):
        stats = {"created": 0, "existed": 0, "retries": 0}
        t0 = time.monotonic()
        run_parallel(a.threads, lambda i: fn(i, stats), range(count))
        s = time.monotonic() - t0
        out[name] = dict(stats, count=count, seconds=round(s, 2), per_second=round(count / s, 1))
        print(f"fill: {name}: {count} in {s:.1f} s ({count / s:.0f}/s, {stats['retries']} retries)", file=sys.stderr)

    def ns(i, st):
        create(api, "/api/v1/namespaces", namespace_object(i), st)

    def pol(i, st):
        n = i % a.namespaces
        create(api, f"/apis/networking.k8s.io/v1/namespaces/{ns_name(n)}/networkpolicies", policy_object(i, n), st)

    def pod(i, st):
        n = i % a.namespaces
        p = pod_object(i, n, random.Random(i))
        created = create(api, f"/api/v1/namespaces/{ns_name(n)}/pods", p, st)
        if not created:
            return
        ip = pod_ip(i)
        path = f"/api/v1/namespaces/{ns_name(n)}/pods/{p['metadata']['name']}/status"
        status, body = api.request("PATCH", path, {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}},
                                   "application/merge-patch+json")
        if status != 200:
            raise RuntimeError(f"PATCH {path}: {status} {body[:300]!r}")

    t0 = time.monotonic()
    phase("namespaces", a.namespaces, ns)
    phase("networkpolicies", a.policies, pol)
    phase("pods", a.pods, pod)  # each: POST + PATCH of status
    total = time.monotonic() - t0
    out["total_seconds"] = round(total, 2)
    out["requests_per_second"] = round((a.namespaces + a.policies + 2 * a.pods) / total, 1)
    print(json.dumps(out))


def scrape(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    c.request("GET", "/metrics")
    return c.getresponse().read().decode()


def cmd_reviews(a):
    api = Api(a.server, a.token, a.ca)
    path = f"/api/v1/namespaces/{a.namespace}/pods?dryRun=All"
    body = review_pod(a.namespace)

    def once():
        t0 = time.perf_counter()
        status, resp = api.request("POST", path, body)
        ms = (time.perf_counter() - t0) * 1000
        if status not in (200, 201):
            raise RuntimeError(f"dry-run create: {status} {resp[:500]!r}")
        return ms, "loki-guard.io/patched" in json.loads(resp).get("metadata", {}).get("annotations", {})

    # Webhook configurations reach the API server's admission chain a moment
    # after they are written: wait until the webhook is (not) being called.
    want = a.webhook == "yes"
    deadline = time.time() + 30
    while once()[1] != want:
        if time.time() > deadline:
            sys.exit(f"the webhook is {'not ' if want else ''}called after 30 s")
        time.sleep(0.1)
    for _ in range(a.warmup):
        once()
    before = scrape(a.metrics, a.webhook_ca) if a.metrics else ""
    lat = []
    for _ in range(a.n):
        ms, patched = once()
        if patched != want:
            sys.exit("the webhook registration changed during the run")
        lat.append(ms)
    rec = {"webhook": want, "latencies_ms": lat}
    if a.metrics:
        after = scrape(a.metrics, a.webhook_ca)
        rec["hist"] = {ep: {str(k): v - histogram(before, ep).get(k, 0) for k, v in histogram(after, ep).items()}
                       for ep in ("/validate", "/mutate")}
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def cmd_stats(a):
    """p50/p99 of all rounds in a file of `reviews` records, per kind."""
    out = {}
    recs = [json.loads(line) for line in open(a.file) if line.strip()]
    for want, key in ((False, "floor"), (True, "webhook")):
        lat = [x for r in recs if r["webhook"] == want for x in r["latencies_ms"]]
        out[key] = {"n": len(lat), "p50_ms": round(pct(lat, 0.5), 3), "p99_ms": round(pct(lat, 0.99), 3)}
    for ep in ("/validate", "/mutate"):
        total = {}
        for r in recs:
            for k, v in r.get("hist", {}).get(ep, {}).items():
                total[float(k)] = total.get(float(k), 0) + v
        out["own" + ep.replace("/", "_")] = {"n": int(total.get(float("inf"), 0)),
                                            "p50_ms": round(quantile(total, 0.5) * 1000, 3),
                                            "p99_ms": round(quantile(total, 0.99) * 1000, 3)}
    print(json.dumps(out))


def cmd_ready(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    u = urllib.parse.urlparse(a.url)
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                print(f"{time.time() - a.t0:.3f}")
                return
            c.close()
        except OSError:
            pass
        time.sleep(0.01)
    sys.exit("webhook not ready in time")


def histogram(text, endpoint):
    buckets = {}
    for line in text.splitlines():
        if line.startswith("loki_webhook_request_duration_seconds_bucket{") and f'endpoint="{endpoint}"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile(buckets, q):
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if total <= 0:
        return float("nan")
    rank, prev_b, prev_c = q * total, 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return prev_b
            return prev_b + (b - prev_b) * (rank - prev_c) / max(buckets[b] - prev_c, 1e-9)
        prev_b, prev_c = b, buckets[b]
    return bounds[-1]


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("fill", "reviews"):
        s = sub.add_parser(name)
        s.add_argument("--server", default=os.environ.get("LOKI_CLUSTER_SERVER"))
        s.add_argument("--token", default=os.environ.get("ADMIN_TOKEN"))
        s.add_argument("--ca", default=os.environ.get("LOKI_CLUSTER_CA"))
    f = sub.choices["fill"]
    f.add_argument("--namespaces", type=int, default=2000)
    f.add_argument("--pods", type=int, default=20000)
    f.add_argument("--policies", type=int, default=4000)
    f.add_argument("--threads", type=int, default=16)
    r = sub.choices["reviews"]
    r.add_argument("--namespace", required=True)
    r.add_argument("-n", type=int, default=200)
    r.add_argument("--warmup", type=int, default=20)
    r.add_argument("--webhook", choices=["yes", "no"], required=True, help="whether the webhook must be called")
    r.add_argument("--metrics", help="the webhook's base URL, to read its own histogram")
    r.add_argument("--webhook-ca")
    r.add_argument("--out", required=True, help="file to append the record to")
    s = sub.add_parser("ready")
    s.add_argument("--url", required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--t0", type=float, required=True)
    s.add_argument("--timeout", type=float, default=300)
    s = sub.add_parser("stats")
    s.add_argument("file")
    a = p.parse_args()
    {"fill": cmd_fill, "reviews": cmd_reviews, "ready": cmd_ready, "stats": cmd_stats}[a.cmd](a)


if __name__ == "__main__":
    main()
