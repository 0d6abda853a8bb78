// The live-cluster audit: read what is running (as kubectl would), then run
// the same engine as the linter over it.
#pragma once

#include <loki/engine.hpp>
#include <loki/kube_client.hpp>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loki {

struct ClusterSnapshot {
  std::string context;
  std::string server;
  std::vector<nlohmann::json> pods;
  std::vector<nlohmann::json> workloads;  // Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, RCs
  std::vector<nlohmann::json> networkpolicies;
  std::vector<nlohmann::json> ciliumnetworkpolicies;
  // ClusterNetworkPolicies, AdminNetworkPolicies, BaselineAdminNetworkPolicies (cluster-scoped; where served)
  std::vector<nlohmann::json> clusterpolicies;
  std::vector<nlohmann::json> namespaces;
  // For service-account-token: a ServiceAccount's automountServiceAccountToken
  // applies to pods that do not set the field.
  std::vector<nlohmann::json> serviceaccounts;
  bool cilium_served = false;
  std::vector<std::string> notes;  // things the user should know (e.g. namespaces not listable)
  double api_seconds = 0;
  std::size_t requests = 0;
  std::size_t pages = 0;
};

struct WalkOptions {
  std::string ns;  // empty with all_namespaces
  bool all_namespaces = false;
  std::size_t chunk_size = 500;
};

// Lists everything the audit needs (I/O). Throws KubeError.
ClusterSnapshot walk_cluster(KubeClient& client, const WalkOptions& opts);

// The API path of an object, used as its "file" in findings.
std::string api_path_of(const nlohmann::json& object);

// Pod findings grouped per top-level workload, as the cluster audit and the
// webhook's background audit report them: (owner, rule, container, message)
// -> one finding on the owner, naming the pods it applies to.
class OwnerGroups {
 public:
  void add(Finding f, const ObjectRef& owner, const std::string& owner_file, const std::string& pod_name);
  // One finding per group, in the order groups were opened; empties the groups.
  void flush(std::vector<Finding>& out);

 private:
  struct Group {
    Finding finding;
    std::string message;    // the message with the pod's name marked
    std::string first_pod;  // the pod the finding came from (its remediation may name it)
    std::vector<std::string> pods;
  };
  std::map<std::string, Group> groups_;
  std::vector<std::string> order_;
};

// Pure: findings for a snapshot. Pod findings are reported once per owning
// top-level workload (ownerReferences: Pod -> ReplicaSet -> Deployment,
// Pod -> Job -> CronJob), naming the affected pods; workloads without live
// pods are checked through their pod template.
struct AuditResult {
  std::vector<Finding> findings;
  std::size_t objects = 0;
  std::size_t pods_checked = 0;
  std::size_t pod_templates = 0;    // pods and workloads with a pod template, agent or not
  std::vector<ObjectRef> subjects;  // agent workloads checked (EngineOptions::record_subjects)
};
AuditResult audit_snapshot(const ClusterSnapshot& snap, const EngineOptions& opts);

}  // namespace loki
