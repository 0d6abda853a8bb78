#!/usr/bin/env python3
"""A tiny read-only Kubernetes API on loopback (plain HTTP) for the CLI tests
of --cluster modes: namespace `team` with a Deployment whose ReplicaSet owns a
live Pod, a Deployment without pods, an egress policy; listing namespace
kube-system is forbidden (403), as for a namespace-scoped user.
Usage: fake_apiserver.py PORT_FILE  (writes the port it listens on)."""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMG = "example/app@sha256:" + "0" * 64


def tmpl(app):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": IMG}]}}


NS = {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}}}
OBJECTS = {
    "pods": [{"metadata": {"name": "web-7d9f-x2x4q", "namespace": "team", "uid": "p1", "labels": {"app": "web"},
                           "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f", "uid": "r1",
                                                "controller": True}]},
              "spec": tmpl("web")["spec"], "status": {"podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}]}}],
    "replicasets": [{"metadata": {"name": "web-7d9f", "namespace": "team", "uid": "r1",
                                  "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1",
                                                       "controller": True}]},
                     "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": tmpl("web")}}],
    "deployments": [{"metadata": {"name": "web", "namespace": "team", "uid": "d1"},
                     "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": tmpl("web")}},
                    {"metadata": {"name": "agent", "namespace": "team", "uid": "d2"},
                     "spec": {"selector": {"matchLabels": {"app": "loki-mode"}}, "template": tmpl("loki-mode")}}],
    "networkpolicies": [{"metadata": {"name": "agent-egress", "namespace": "team"},
                         "spec": {"podSelector": {"matchLabels": {"app": "loki-mode"}}, "policyTypes": ["Egress"],
                                  "egress": [{"to": [{"ipBlock": {"cidr": "10.244.1.0/24"}}]}]}}],
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/api/v1/namespaces/team":
            return self.reply(200, NS)
        if path == "/api/v1/namespaces":
            return self.reply(200, {"metadata": {}, "items": [NS]})
        m = re.fullmatch(r"/apis?/[^/]+(?:/[^/]+)?/namespaces/([^/]+)/([a-z]+)", path)
        if m and m.group(1) == "team":
            return self.reply(200, {"metadata": {}, "items": OBJECTS.get(m.group(2), [])})
        if m or path == "/api/v1/namespaces/kube-system":
            return self.reply(403, {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                                    "message": "forbidden: User \"dev\" cannot list resource in namespace"})
        return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
