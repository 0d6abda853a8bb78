// The kinds loki-guard reads a pod spec from: API coordinates, kubectl's
// names, where the pod template lives. The one list that lint, validation,
// the cluster audit, explain and the webhook consult.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace loki {

// An apiVersion Kubernetes no longer serves for a kind ("removed in 1.16").
struct RemovedVersion {
  std::string_view api_version;
  std::string_view release;
};

// Whether the cluster audit lists a kind as a top-level workload: not Pod
// (pods are listed on their own), not PodTemplate (nothing runs it); the
// kinds of CRDs (DeploymentConfig, Rollout) only where the API serves them.
enum class Listing { no, always, when_served };

struct WorkloadKind {
  std::string_view kind;
  std::string_view group;  // "" for the core group
  std::string_view version;
  std::string_view plural;  // the resource in API paths
  std::span<const std::string_view> short_names = {};
  // JSON pointer of the pod template (the object holding metadata + spec);
  // "" for a Pod, which is its own template.
  std::string_view pod_template;
  std::span<const RemovedVersion> removed = {};
  Listing listing = Listing::always;
  // Served by Kubernetes itself: validation knows its apiVersions. Other
  // kinds come from CRDs (OpenShift, Argo) whose versions we do not police.
  bool builtin = true;
  // The template may be absent: an Argo Rollout with spec.workloadRef runs
  // the pod template of an existing Deployment (checked there) instead.
  bool template_optional = false;

  std::string api_version() const;
  std::string spec_pointer() const { return std::string(pod_template) + "/spec"; }
  std::string metadata_pointer() const { return std::string(pod_template) + "/metadata"; }
};

// In a fixed order (Pod first, then the controllers as the cluster audit
// lists them).
std::span<const WorkloadKind> workload_kinds();
const WorkloadKind* find_workload_kind(std::string_view kind);

}  // namespace loki
