// Background audit cost (issue 20): one namespace with N agent pods (a
// Deployment's, so owners resolve Pod -> ReplicaSet -> Deployment) and a few
// policies, delivered to loki-webhook's policy cache through the reflectors'
// own store code (Reflector::replace, what a list does), with the background
// auditor attached. Measures, alternating rounds in one process:
//   - re-audit: BackgroundAudit::build(ns) from the cache (what each dirty
//     namespace costs the leader per interval);
//   - floor:    loki-audit's audit_snapshot over the same objects as JSON (the
//     CLI's cluster audit of that namespace, without the API calls);
// and the heap the auditor keeps per pod (its owner refs; the pods of one
// template share one copy of their findings).
//   loki-background-audit-bench [--pods 5000] [--rounds 5]
#include <loki/cluster.hpp>
#include <loki/config.hpp>

#include "background_audit.hpp"
#include "policy_cache.hpp"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t heap_bytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

json pod(int i) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", "fleet-7d4-" + std::to_string(i)},
            {"namespace", "big"},
            {"uid", "pod-" + std::to_string(i)},
            {"labels", {{"app", "loki-mode"}, {"pod-template-hash", "7d4"}}},
            {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                              {"kind", "ReplicaSet"},
                                              {"name", "fleet-7d4"},
                                              {"uid", "rs"},
                                              {"controller", true}}})}}},
          {"spec",
           {{"containers",
             json::array({{{"name", "agent"},
                           {"image", "loki:1"},
                           {"env", json::array({{{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "ai-only"}}})}}})}}},
          {"status", {{"podIP", "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)}}}};
}

json workload(const std::string& kind, const std::string& name, const std::string& uid, json owner) {
  json md = {{"name", name}, {"namespace", "big"}, {"uid", uid}};
  if (!owner.is_null()) md["ownerReferences"] = json::array({owner});
  return {{"apiVersion", "apps/v1"},
          {"kind", kind},
          {"metadata", md},
          {"spec",
           {{"selector", {{"matchLabels", {{"app", "loki-mode"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "loki-mode"}}}}},
              {"spec", {{"containers", json::array({{{"name", "agent"}, {"image", "loki:1"}}})}}}}}}}};
}

json policy(const std::string& name, json spec) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", "big"}}},
          {"spec", spec}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 5000, rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--pods")) pods = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "bench"));
  const json rs = workload(
      "ReplicaSet", "fleet-7d4", "rs",
      {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "fleet"}, {"uid", "dep"}, {"controller", true}});
  const json dep = workload("Deployment", "fleet", "dep", nullptr);
  std::vector<json> pod_objects;
  for (int i = 0; i < pods; ++i) pod_objects.push_back(pod(i));
  const std::vector<json> policies = {
      policy("ingress-only",
             {{"podSelector", {{"matchLabels", {{"app", "loki-mode"}}}}}, {"policyTypes", {"Ingress"}}}),
      policy("isolate", {{"podSelector", {{"matchLabels", {{"egress", "restricted"}}}}}, {"policyTypes", {"Egress"}}})};
  const json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "big"}}}};

  // The cache alone first (what issue 19 measured), to tell the auditor's share of the heap.
  std::size_t cache_only = 0;
  {
    loki::webhook::PolicyCache plain(loki::ClusterConfig{}, true);
    plain.create_reflectors(false);
    const std::size_t h0 = heap_bytes();
    plain.reflector("pods")->replace(std::vector<json>(pod_objects));
    cache_only = heap_bytes() - h0;
  }
  loki::webhook::PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  loki::webhook::BackgroundAuditOptions opts;
  opts.cache_ready = [] { return true; };
  auto lookup = [&](const std::string&, const std::string& kind, const std::string&,
                    const std::string&) -> std::optional<json> { return kind == "ReplicaSet" ? rs : dep; };
  loki::webhook::BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, {}, lookup);
  audit.attach();
  cache.reflector("namespaces")->replace({ns});
  cache.reflector("networkpolicies")->replace(std::vector<json>(policies));
  const std::size_t heap0 = heap_bytes();
  auto t0 = Clock::now();
  cache.reflector("pods")->replace(std::vector<json>(pod_objects));
  const double fill = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::size_t heap1 = heap_bytes();

  loki::ClusterSnapshot snap;
  snap.pods = pod_objects;
  snap.namespaces = {ns};
  snap.networkpolicies = policies;
  snap.workloads = {rs, dep};
  loki::EngineOptions eo;
  eo.config = *cfg;

  std::vector<double> reaudit, floor;
  std::size_t findings = 0, cli_findings = 0;
  for (int r = 0; r < rounds; ++r) {
    t0 = Clock::now();
    std::vector<loki::Finding> f;
    auto report = audit.build("big", &f);
    reaudit.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    findings = f.size();
    if (!report) return 1;
    t0 = Clock::now();
    auto res = loki::audit_snapshot(snap, eo);
    floor.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    cli_findings = res.findings.size();
  }
  std::printf("pods %d: cache+auditor fill (list of %d pods, pod checks included) %.3f s\n", pods, pods, fill);
  std::printf("re-audit of the namespace from the cache: median %.3f s (%d rounds)\n", median(reaudit), rounds);
  std::printf("floor, loki-audit audit_snapshot of the same objects: median %.3f s\n", median(floor));
  std::printf("ratio re-audit / floor: %.2f\n", median(reaudit) / median(floor));
  std::printf("findings: webhook %zu, loki-audit %zu\n", findings, cli_findings);
  std::printf("heap per pod: cache alone %.0f B, cache + auditor %.0f B (auditor %.0f B)\n", double(cache_only) / pods,
              double(heap1 - heap0) / pods, (double(heap1 - heap0) - double(cache_only)) / pods);
  std::printf("pod-check finding sets kept: %zu for %d pods\n", audit.findings_sets(), pods);
  return findings == cli_findings ? 0 : 1;
}
