// The webhook's view of the cluster: NetworkPolicies, Namespaces, Pods (and
// CiliumNetworkPolicies, ClusterNetworkPolicies, AdminNetworkPolicies,
// BaselineAdminNetworkPolicies when their CRDs are served), and which
// ServiceAccounts set automountServiceAccountToken: false, kept by list+watch
// reflectors and pre-parsed for the admission hot path.
#pragma once

#include <loki/kube_client.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
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
  void create_reflectors(bool cilium, const std::vector<ResourceType>& cluster = {});
  Reflector* reflector(std::string_view resource) const;  // "pods", "namespaces", ...

  bool synced() const;         // every reflector has listed once
  bool healthy() const;        // synced and every reflector watching (not in backoff)
  std::string status() const;  // why not healthy, for /readyz and denials
  double age_seconds() const;  // since the oldest reflector's last event
  std::size_t policies() const;
  std::size_t namespaces() const;
  std::size_t pods() const;
  std::size_t token_opt_outs() const;  // ServiceAccounts with automountServiceAccountToken: false
  struct ReflectorStats {
    std::string resource;  // plural name: networkpolicies, namespaces, pods, ciliumnetworkpolicies
    std::size_t relists, expired, errors;
  };
  std::vector<ReflectorStats> reflector_stats() const;  // fixed after start()

  // A view for one admission decision (a consistent snapshot).
  ClusterView view(const Config& config) const;

  // The background audit's hooks (set before start(); called from the
  // reflector threads). `changed`: after a change is published, the namespace
  // it can affect ("" = every namespace: a re-list, a clusterwide policy).
  // `pod` / `pods_page`: each pod's JSON as it arrives, before the cache
  // compacts it (the pod checks need the whole spec; nullptr: deleted).
  struct Listener {
    std::function<void(const std::string& ns)> changed;
    std::function<void(const std::string& ns, const std::string& name, const nlohmann::json* pod)> pod;
    // A list of pods: begin, each page's pods (before they are compacted), commit (the list is complete).
    std::function<void()> pods_begin;
    std::function<void(const std::vector<nlohmann::json>& pods)> pods_page;
    std::function<void()> pods_commit;
  };
  void set_listener(Listener l) { listener_ = std::move(l); }

 private:
  struct Snapshot;
  struct Shard;
  class Draft;
  struct Staging;
  // Every change builds a new snapshot from the current one, copying only
  // the touched namespace's shard and record (one writer at a time), and
  // publishes it with a pointer swap: readers copy the pointer and never
  // wait for a snapshot to be built.
  template <class Fn>
  void update(Fn&& change);
  // A list arrives page by page (stage_*, parsed into the staging area) and
  // is published as one snapshot (commit_*); watch events one by one (apply_*).
  void begin_policies(std::size_t source);
  void stage_policies(std::size_t source, std::vector<nlohmann::json>&& items);
  void commit_policies(std::size_t source);
  void apply_policy(std::size_t source, const std::string& type, nlohmann::json&& object);
  void begin_namespaces();
  void stage_namespaces(std::vector<nlohmann::json>&& items);
  void commit_namespaces();
  void apply_namespace(const std::string& type, nlohmann::json&& object);
  void begin_pods();
  void stage_pods(std::vector<nlohmann::json>&& items);
  void commit_pods();
  void apply_pod(const std::string& type, nlohmann::json&& object);
  // ServiceAccounts: only the keys of those that opt out of token automount.
  void begin_service_accounts();
  void stage_service_accounts(std::vector<nlohmann::json>&& items);
  void commit_service_accounts();
  void apply_service_account(const std::string& type, nlohmann::json&& object);

  ClusterConfig cfg_;
  bool watch_pods_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  Reflector* policies_ = nullptr;
  Reflector* cilium_ = nullptr;
  Reflector* namespaces_ = nullptr;
  Reflector* pods_ = nullptr;
  Reflector* service_accounts_ = nullptr;
  std::vector<std::string> staged_opt_outs_;  // of a ServiceAccount list in progress ("ns/name")
  std::shared_ptr<const Snapshot> current() const;
  // The published snapshot. Its mutex is held only to copy or swap the
  // pointer, never while a snapshot is built or freed. (Not
  // std::atomic<std::shared_ptr>: libstdc++ 12's load releases its internal
  // lock with a relaxed store, which ThreadSanitizer reports as a race.)
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::mutex write_mu_;
  std::unique_ptr<Staging> staging_;  // lists being received, per reflector
  std::atomic<bool> started_{false};
  Listener listener_;
  void changed(const std::string& ns) const {
    if (listener_.changed) listener_.changed(ns);
  }
  std::string start_error_;
};

}  // namespace loki::webhook
