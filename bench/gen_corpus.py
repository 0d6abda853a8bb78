#!/usr/bin/env python3
"""Seeded, reproducible corpora of Kubernetes manifests for the benchmarks.

N objects across namespaces: Deployments/StatefulSets/Jobs with realistic label
sets (some loki-mode agents, some not; hardened, half-hardened and broken), and
NetworkPolicies whose selectors hit and miss. Same seed, same bytes.
"""
import argparse
import random

HARDENED_SC = """      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        seccompProfile:
          type: RuntimeDefault
"""

CONTAINER_SC = """        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
"""


def workload(rng, i, ns):
    kind = rng.choice(["Deployment", "Deployment", "Deployment", "StatefulSet"])
    agent = rng.random() < 0.6
    app = "loki-mode" if agent else rng.choice(["web", "api", "worker", "cache", "orchestrator"])
    team = rng.choice(["platform", "ml", "infra", "payments", "search"])
    role = rng.choice(["backend", "frontend", "batch", "agent"])
    profile = rng.random()
    hardened = profile < 0.5
    lines = [
        f"apiVersion: apps/v1",
        f"kind: {kind}",
        "metadata:",
        f"  name: {app}-{i}",
        f"  namespace: {ns}",
        "  labels:",
        f"    app: {app}",
        f"    team: {team}",
        f"    app.kubernetes.io/name: {app}",
        f"    app.kubernetes.io/instance: {app}-{i}",
        "spec:",
        f"  replicas: {rng.randint(1, 5)}",
    ]
    if kind == "StatefulSet":
        lines.append(f"  serviceName: {app}-{i}")
    lines += [
        "  selector:",
        "    matchLabels:",
        f"      app.kubernetes.io/instance: {app}-{i}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {app}",
        f"        role: {role}",
        f"        team: {team}",
        f"        app.kubernetes.io/instance: {app}-{i}",
        "    spec:",
    ]
    body = "\n".join(lines) + "\n"
    if hardened:
        body += HARDENED_SC
    elif profile < 0.6:
        body += "      hostNetwork: true\n"
    body += "      containers:\n"
    body += f"      - name: main\n        image: registry.example.com/{team}/{app}:{rng.randint(1, 40)}.{rng.randint(0, 9)}\n"
    body += "        ports:\n        - name: http\n          containerPort: 8080\n"
    if profile > 0.95:
        body += "          hostPort: 8080\n"
    if agent:  # Loki Mode's own variables: only agents carry them
        body += "        env:\n        - name: LOKI_NETWORK_EGRESS_POLICY\n"
        body += f"          value: {rng.choice(['none', 'ai-only', 'unrestricted'])}\n"
    else:
        body += "        env:\n        - name: LOG_LEVEL\n          value: info\n"
    body += "        resources:\n          requests:\n            cpu: 100m\n            memory: 256Mi\n"
    if hardened or profile < 0.8:
        body += CONTAINER_SC
    if rng.random() < 0.3:
        body += "      - name: sidecar\n        image: registry.example.com/infra/proxy:2.1\n"
        if hardened:
            body += CONTAINER_SC
    return body


def policy(rng, i, ns):
    kind = rng.random()
    name = f"policy-{i}"
    sel_key, sel_val = rng.choice([("app", "loki-mode"), ("role", "backend"), ("team", "ml"), ("app", "web")])
    s = f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n"
    s += f"  podSelector:\n    matchLabels:\n      {sel_key}: {sel_val}\n"
    if kind < 0.4:
        s += "  policyTypes:\n  - Egress\n"
    elif kind < 0.7:
        s += "  policyTypes:\n  - Ingress\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app: orchestrator\n"
    else:
        s += ("  policyTypes:\n  - Egress\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n"
              "          kubernetes.io/metadata.name: kube-system\n    ports:\n    - protocol: UDP\n      port: 53\n"
              "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [169.254.169.254/32]\n"
              "    ports:\n    - protocol: TCP\n      port: 443\n")
    return s


def generate(n, seed=42, namespaces=None):
    rng = random.Random(seed)
    namespaces = namespaces or max(1, n // 100)
    docs = []
    for i in range(n):
        ns = f"ns-{rng.randrange(namespaces)}"
        if i % 10 == 9:
            docs.append(policy(rng, i, ns))
        else:
            docs.append(workload(rng, i, ns))
    return "---\n" + "---\n".join(docs)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", type=int, help="number of objects")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    with open(a.output, "w") as f:
        f.write(generate(a.n, a.seed))


if __name__ == "__main__":
    main()
