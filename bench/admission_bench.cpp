// Handler latency of loki-webhook's /validate and /mutate: parse the
// AdmissionReview body, decide (pod rules + NetworkPolicy analysis against 20
// policies of the namespace), serialise the response. Baseline in the same
// process: parse + serialise alone (the floor any JSON webhook pays).
// Target (issue #6): p99 under 100 us for a typical pod.
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string review_body(bool hardened) {
  json spec = json::parse(R"({"containers": [{"name": "loki", "image": "asklokesh/loki-mode:7.5.13",
      "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "ai-only"},
              {"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
      "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
      "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
      "volumes": [{"name": "workspace", "emptyDir": {}}]})");
  if (hardened) {
    spec["automountServiceAccountToken"] = false;
    spec["securityContext"] = {
        {"runAsNonRoot", true}, {"runAsUser", 1000}, {"seccompProfile", {{"type", "RuntimeDefault"}}}};
    spec["containers"][0]["securityContext"] = {
        {"allowPrivilegeEscalation", false}, {"readOnlyRootFilesystem", true}, {"capabilities", {{"drop", {"ALL"}}}}};
  }
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "agent-7d9f"},
                {"namespace", "loki"},
                {"labels", {{"app", "loki-mode"}, {"role", "agent"}, {"pod-template-hash", "7d9f"}}}}},
              {"spec", spec}};
  json r = {{"apiVersion", "admission.k8s.io/v1"},
            {"kind", "AdmissionReview"},
            {"request",
             {{"uid", "0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a10"},
              {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
              {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
              {"namespace", "loki"},
              {"operation", "CREATE"},
              {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
              {"object", pod}}}};
  return r.dump();
}

std::string policies_yaml() {
  std::string y;
  for (int i = 0; i < 20; ++i) {
    y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" + std::to_string(i) +
         ", namespace: loki}\nspec:\n  podSelector: {matchLabels: {team: t" + std::to_string(i) +
         "}}\n  policyTypes: [Ingress, Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 10." + std::to_string(i) +
         ".0.0/16}}]\n    ports: [{protocol: TCP, port: 443}]\n";
  }
  y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: agents, namespace: loki}\n"
       "spec:\n  podSelector: {matchLabels: {app: loki-mode}}\n  policyTypes: [Egress]\n  egress:\n"
       "  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]\n"
       "    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]\n";
  return y;
}

struct Stats {
  double p50, p99, p999, mean;
};

template <class Fn>
Stats measure(int n, Fn&& fn) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n / 10; ++i) fn();  // warm up
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  return {us[n / 2], us[n * 99 / 100], us[n * 999 / 1000], sum / n};
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  // The cache's prepared view: policies parsed once, copied per request.
  std::vector<loki::netpol::Policy> policies;
  loki::Config cfg;
  for (auto& d : loki::parse_manifest_text(policies_yaml(), "policies.yaml"))
    for (auto& o : d.objects)
      for (auto& p : loki::netpol::parse_policies(o, "loki")) policies.push_back(std::move(p));
  loki::webhook::ClusterView view;
  view.fill = [&](const std::string&, loki::netpol::Inventory& inv) {
    inv.policies.insert(inv.policies.end(), policies.begin(), policies.end());
    inv.namespaces.add("loki", {{"kubernetes.io/metadata.name", "loki"}});
    inv.namespaces.add("kube-system", {{"kubernetes.io/metadata.name", "kube-system"}});
  };
  view.namespace_labels = [](const std::string&) { return loki::Labels{}; };
  view.pods = [](const std::string&, const loki::Config&, loki::netpol::Inventory&) {};

  const std::string hardened = review_body(true), bare = review_body(false);
  auto floor = measure(n, [&] {
    json b = json::parse(hardened);
    std::string out = b.dump();
    (void)out;
  });
  auto validate = measure(n, [&] {
    json b = json::parse(hardened);
    auto d = loki::webhook::validate(b, cfg, view);
    std::string out = d.review.dump();
  });
  auto mutate = measure(n, [&] {
    json b = json::parse(bare);
    auto d = loki::webhook::mutate(b, cfg, view);
    std::string out = d.review.dump();
  });
  std::printf(
      "| handler (%d reviews, %zu-byte pod review, %zu policies in the namespace) | p50 us | p99 us | p99.9 us | mean "
      "us | p99 / floor p99 |\n",
      n, hardened.size(), policies.size());
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, const Stats& s) {
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1fx |\n", name, s.p50, s.p99, s.p999, s.mean, s.p99 / floor.p99);
  };
  row("baseline: JSON parse + dump only", floor);
  row("/validate (hardened pod: rules + NetworkPolicy analysis)", validate);
  row("/mutate (bare pod: rules + JSON Patch)", mutate);
  return validate.p99 < 100 && mutate.p99 < 100 ? 0 : 1;
}
