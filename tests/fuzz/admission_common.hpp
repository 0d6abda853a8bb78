// What the admission fuzz targets share: the body parsing of webhook/main.cpp,
// the configs and the cluster views the handlers are run with.
#pragma once

#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"
#include "body_guard.hpp"
#include "fuzz_target.hpp"
#include "json_body.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loki::fuzz {

// Exactly as loki-webhook's review handler: the depth guard, then a parse
// without exceptions. nullopt: the webhook answers 400 before any handler runs.
inline std::optional<nlohmann::json> parse_body(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  if (webhook::too_deep(body, 256)) return std::nullopt;
  nlohmann::json j = webhook::parse_body(body);
  // The Boost.JSON reading must be nlohmann's, value and number types alike.
  nlohmann::json reference = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() != reference.is_discarded() ||
      (!j.is_discarded() && (j != reference || j.dump() != reference.dump())))
    fail("parse_body differs from json::parse: " + body.substr(0, 200));
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// The default config, and one that patches workloads, repairs labels and warns.
inline const Config& config_variant(std::uint32_t choice) {
  static const Config plain;
  static const Config patching = [] {
    Config c = Config::parse(R"(mode: warn
mutation:
  workloads: true
  runAsUser: 4242
repairLabels:
  app: loki-mode
)",
                             "fuzz-config.yaml");
    return c;
  }();
  return choice % 2 ? patching : plain;
}

// A cluster with one namespace, a deny-all-egress policy and one live loki-mode pod.
inline const std::vector<Object>& cluster_objects() {
  static const std::vector<Object> objects = [] {
    std::vector<Object> out;
    LoadOptions load;
    load.threads = 1;
    for (auto& d : parse_manifest_text(R"(apiVersion: v1
kind: Namespace
metadata: {name: loki, labels: {kubernetes.io/metadata.name: loki}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: loki}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
      ports: [{port: 443, protocol: TCP}]
)",
                                       "cluster.yaml", load))
      for (auto& o : d.objects) out.push_back(std::move(o));
    return out;
  }();
  return objects;
}

inline webhook::ClusterView cluster_variant(std::uint32_t choice) {
  webhook::ClusterView v;
  if (choice % 3 == 0) {
    v.available = false;
    v.unavailable_reason = "fuzzing without a cluster";
    return v;
  }
  v.fill = [](const std::string& ns, netpol::Inventory& inv) {
    Config cfg;
    for (const auto& o : cluster_objects()) inv.add(o, cfg, ns);
  };
  v.pods = [](const std::string& ns, const Config& config, netpol::Inventory& inv) {
    std::vector<nlohmann::json> live{
        {{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata", {{"name", "live"}, {"namespace", ns}, {"labels", {{"app", "loki-mode"}}}}},
         {"spec", {{"containers", nlohmann::json::array({{{"name", "a"}, {"image", "a:1"}}})}}}}};
    webhook::add_live_pods(live, ns, config, inv);
  };
  bool labelled = choice % 3 == 2;
  v.namespace_labels = [labelled](const std::string&) {
    return labelled ? Labels{{"loki-guard.io/mode", "dry-run"}, {"loki-guard.io/require-egress-isolation", "true"}}
                    : Labels{};
  };
  return v;
}

}  // namespace loki::fuzz
