#!/usr/bin/env python3
"""Regenerates the seed corpora of tests/fuzz/corpus/<target>/ from the repository's fixtures:
tests/fixtures/, manifests/examples/, the inline fixtures of tests/cli/run.sh and the kubeconfig shape
of tests/cluster/up. Idempotent (file names are content hashes); run from anywhere."""
import base64
import hashlib
import json
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fuzz/corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


manifests = sorted(ROOT.glob("tests/fixtures/**/*.yaml")) + sorted(ROOT.glob("manifests/examples/**/*.yaml"))
# Not Kubernetes objects, as tests/cli/run.sh feeds them (skipped, not reported).
inline = [
    "repos:\n  - repo: local\n    hooks: []\n",
    "replicaCount: 1\nimage: {repository: nginx}\n",
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n",
    "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    "{{- if .Values.on }}\napiVersion: v1\nkind: {{ .Values.kind }}\n{{- end }}\n",
    '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}]}',
]
objects = []
for path in manifests:
    text = path.read_text()
    put("manifest", text)
    try:
        objects += [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]
    except yaml.YAMLError:
        pass
for text in inline:
    put("manifest", text)

# Admission: reviews of every example object (CREATE, UPDATE, DELETE), as the API server sends them.
def review(obj, op="CREATE", ns="loki", sub=None, api="admission.k8s.io/v1"):
    av = obj.get("apiVersion", "v1")
    group, _, version = av.rpartition("/")
    req = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "Pod")},
        "resource": {"group": group, "version": version, "resource": obj.get("kind", "Pod").lower() + "s"},
        "namespace": obj.get("metadata", {}).get("namespace", ns),
        "operation": op,
        "userInfo": {"username": "alice"},
    }
    if sub:
        req["subResource"] = sub
    if op != "DELETE":
        req["object"] = obj
    else:
        req["oldObject"] = obj
    return json.dumps({"apiVersion": api, "kind": "AdmissionReview", "request": req}, separators=(",", ":"))


for obj in objects:
    put("admission", review(obj))
    put("mutate_patch", json.dumps(obj, separators=(",", ":")))
    if obj.get("kind") in ("NetworkPolicy", "CiliumNetworkPolicy"):
        put("admission", review(obj, "DELETE"))
        put("admission", review(obj, "UPDATE"))
for obj in objects[:3]:
    put("admission", review(obj, "UPDATE", sub="ephemeralcontainers"))
    put("admission", review(obj, api="admission.k8s.io/v1beta1"))
    annotated = json.loads(json.dumps(obj))
    annotated.setdefault("metadata", {}).setdefault("annotations", {})["loki-guard.io/break-glass"] = "incident 42"
    put("admission", review(annotated))
put("admission", '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}')
put("admission", "[]")

# Selectors: kubectl syntax, from the unit tests and the docs.
for s in ["app=loki-mode", "app==loki-mode", "app in (web, api)", "role=backend,tier in (a,b),env!=prod,team,!legacy",
          "x notin (c)", "!k", "k", "example.com/app=loki-mode,tier!=web", "app in (a", "a in ()", ""]:
    put("selector", s)

# kubeconfigs: the shape tests/cluster/up writes, and the variants the loader handles.
ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
base = """apiVersion: v1
kind: Config
clusters:
- name: loki-test
  cluster:
    server: {server}
    {ca}
users:
- name: admin
  user:
{user}
contexts:
- name: admin@loki-test
  context:
    cluster: loki-test
    user: admin
    namespace: default
- name: fuzz
  context: {{cluster: loki-test, user: admin}}
current-context: admin@loki-test
"""
users = [
    "    token: abc",
    f"    client-certificate-data: {ca}\n    client-key-data: {ca}",
    "    tokenFile: token",
    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./bin/cred\n      args: [a, b]\n"
    "      env: [{name: X, value: y}]\n      provideClusterInfo: true",
    "    auth-provider: {name: gcp}",
    "    username: u\n    password: p",
]
for server in ["https://127.0.0.1:6443", "https://[::1]:6443/base/", "http://localhost"]:
    for ca_line in [f"certificate-authority-data: {ca}", "certificate-authority: ca.crt", "insecure-skip-tls-verify: true"]:
        for user in users:
            put("kubeconfig", base.format(server=server, ca=ca_line, user=user))
put("kubeconfig", "")
put("kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\n")
