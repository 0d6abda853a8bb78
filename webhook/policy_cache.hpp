// The webhook's view of the cluster: NetworkPolicies, Namespaces, Pods (and
// CiliumNetworkPolicies when the CRD is served), kept by list+watch
// reflectors and pre-parsed for the admission hot path.
#pragma once

#include <loki/kube_client.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loki::webhook {

class PolicyCache {
 public:
  // watch_pods: needed to judge NetworkPolicy changes against running pods.
  PolicyCache(ClusterConfig cfg, bool watch_pods);
  ~PolicyCache();

  void start();  // discovery, then the reflectors (each in its own thread)
  void stop();
  // The reflectors without their threads (start() creates and starts them),
  // so a benchmark can fill the cache through Reflector::replace/apply.
  void create_reflectors(bool cilium);
  Reflector* reflector(std::string_view resource) const;  // "pods", "namespaces", ...

  bool synced() const;         // every reflector has listed once
  bool healthy() const;        // synced and every reflector watching (not in backoff)
  std::string status() const;  // why not healthy, for /readyz and denials
  double age_seconds() const;  // since the oldest reflector's last event
  std::size_t policies() const;
  std::size_t namespaces() const;
  std::size_t pods() const;
  struct ReflectorStats {
    std::string resource;  // plural name: networkpolicies, namespaces, pods, ciliumnetworkpolicies
    std::size_t relists, expired, errors;
  };
  std::vector<ReflectorStats> reflector_stats() const;  // fixed after start()

  // A view for one admission decision (a consistent snapshot).
  ClusterView view(const Config& config) const;

 private:
  struct Prepared {
    std::unordered_map<std::string, std::vector<netpol::Policy>> by_ns;
    std::vector<netpol::Policy> clusterwide;
    std::unordered_map<std::string, Labels> namespace_labels;
    std::size_t policy_count = 0;
  };
  void rebuild();

  ClusterConfig cfg_;
  bool watch_pods_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  Reflector* policies_ = nullptr;
  Reflector* cilium_ = nullptr;
  Reflector* namespaces_ = nullptr;
  Reflector* pods_ = nullptr;
  mutable std::mutex mu_;
  std::shared_ptr<const Prepared> prepared_;
  std::mutex rebuild_mu_;
  std::atomic<bool> started_{false};
  std::string start_error_;
};

}  // namespace loki::webhook
