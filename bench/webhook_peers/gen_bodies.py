#!/usr/bin/env python3
"""AdmissionReview bodies for bench/webhook_peers.sh, written to DIR:

  deny.json        loki-mode Pod with hostNetwork: true, otherwise hardened (one violation: host-network)
  allow.json       hardened loki-mode Pod (no violation)
  deployment.json  hardened loki-mode Deployment (two containers; no violation)
  patch.json       loki-mode Pod with no securityContext (what /mutate fills in; validate denies it)
  nginx-response.json  the fixed AdmissionReview response nginx returns

Realistic sizes (~2-3 KB): 31 env vars, labels, an annotation, resources, volumes. Deterministic (no randomness), so every run sends the same bytes.
"""
import copy
import json
import sys

out = sys.argv[1]

ENV = [
    ("LOKI_MODE", "autonomous"), ("LOKI_PROVIDER", "anthropic"), ("LOKI_MODEL", "claude-sonnet"),
    ("LOKI_MAX_ITERATIONS", "50"), ("LOKI_WORKDIR", "/workspace"), ("LOKI_TASK_ID", "task-8f3a2c"),
    ("LOKI_LOG_LEVEL", "info"), ("LOKI_TIMEOUT_SECONDS", "3600"), ("GIT_AUTHOR_NAME", "loki-agent"),
    ("GIT_AUTHOR_EMAIL", "agent@example.com"), ("GIT_COMMITTER_NAME", "loki-agent"),
    ("GIT_COMMITTER_EMAIL", "agent@example.com"), ("HOME", "/home/agent"), ("TMPDIR", "/tmp"),
    ("LANG", "C.UTF-8"), ("TZ", "UTC"), ("NODE_ENV", "production"), ("PYTHONUNBUFFERED", "1"),
    ("PIP_NO_CACHE_DIR", "1"), ("NPM_CONFIG_CACHE", "/tmp/npm"), ("OTEL_SERVICE_NAME", "loki-agent"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
    ("HTTP_PROXY", "http://proxy:3128"), ("HTTPS_PROXY", "http://proxy:3128"),
    ("NO_PROXY", ".svc,.cluster.local"), ("REPO_URL", "https://git.example.com/api.git"),
    ("REPO_BRANCH", "agent/task-8f3a2c"), ("MAX_TOKENS", "200000"), ("SANDBOX", "gvisor"),
]
env = [{"name": k, "value": v} for k, v in ENV]
env.append({"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "loki-llm", "key": "api-key"}}})
env.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})

HARDENED_CSC = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]}}
HARDENED_PSC = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}


def agent_container(hardened=True):
    c = {"name": "loki", "image": "ghcr.io/example/loki-mode:7.5.13",
         "args": ["--task", "/workspace/TASK.md", "--non-interactive"], "env": env,
         "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2Gi"},
                       "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "8Gi"}},
         "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}, {"name": "tmp", "mountPath": "/tmp"}],
         }
    if hardened:
        c["securityContext"] = copy.deepcopy(HARDENED_CSC)
    return c


def pod_spec(hardened=True):
    s = {"serviceAccountName": "loki-agent", "restartPolicy": "Never", "terminationGracePeriodSeconds": 30,
         "containers": [agent_container(hardened)],
         "volumes": [{"name": "workspace", "emptyDir": {"sizeLimit": "8Gi"}}, {"name": "tmp", "emptyDir": {}}]}
    if hardened:
        s["automountServiceAccountToken"] = False
        s["securityContext"] = copy.deepcopy(HARDENED_PSC)
    return s


LABELS = {"app": "loki-mode", "app.kubernetes.io/name": "loki-mode", 
          "team": "platform", "task-id": "task-8f3a2c"}
ANNOTATIONS = {"loki-mode.io/task": "Refactor the billing API client"}
USER = {"username": "system:serviceaccount:ai-platform:agent-dispatcher",
        "groups": ["system:serviceaccounts", "system:authenticated"]}


def review(uid, kind, resource, group, version, obj):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": group, "version": version, "kind": kind},
                        "resource": {"group": group, "version": version, "resource": resource},
                        "namespace": "agents", "operation": "CREATE", "userInfo": USER, "object": obj,
                        "dryRun": False}}


def pod(name, hardened=True):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "agents", "labels": dict(LABELS),
                         "annotations": dict(ANNOTATIONS)},
            "spec": pod_spec(hardened)}


allow = pod("loki-agent-8f3a2c")
deny = pod("loki-agent-8f3a2d")
deny["spec"]["hostNetwork"] = True
patch = pod("loki-agent-8f3a2e", hardened=False)

tmpl_spec = pod_spec(True)
tmpl_spec["restartPolicy"] = "Always"
sidecar = {"name": "git-sync", "image": "registry.k8s.io/git-sync/git-sync:v4.2.3",
           "args": ["--repo=https://git.example.com/platform/api.git", "--root=/workspace", "--period=60s"],
           "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
           "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
           "securityContext": copy.deepcopy(HARDENED_CSC)}
tmpl_spec["containers"].append(sidecar)
deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "loki-agent-pool", "namespace": "agents", "labels": dict(LABELS),
                           "annotations": {"deployment.kubernetes.io/revision": "1"}},
              "spec": {"replicas": 3, "revisionHistoryLimit": 5,
                       "selector": {"matchLabels": {"app": "loki-mode", "task-id": "task-8f3a2c"}},
                       "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                       "template": {"metadata": {"labels": dict(LABELS), "annotations": dict(ANNOTATIONS)},
                                    "spec": tmpl_spec}}}

bodies = {
    "allow": review("0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a10", "Pod", "pods", "", "v1", allow),
    "deny": review("0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a11", "Pod", "pods", "", "v1", deny),
    "patch": review("0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a12", "Pod", "pods", "", "v1", patch),
    "deployment": review("0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a13", "Deployment", "deployments", "apps", "v1",
                         deployment),
}
for name, body in bodies.items():
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(body, f, separators=(",", ":"))
# What nginx returns: an allowed response (the same bytes for every request).
with open(f"{out}/nginx-response.json", "w") as f:
    json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "response": {"uid": bodies["allow"]["request"]["uid"], "allowed": True}}, f, separators=(",", ":"))
