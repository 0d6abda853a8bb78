// Where pod specs live in workload objects, and the effective security
// context of each container (container fields override the pod's).
#pragma once

#include <loki/manifest.hpp>
#include <loki/selector.hpp>

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace loki {

// The pod template inside a workload: the kinds of workload_kinds.hpp
// (Pod, Deployment, ..., DeploymentConfig, Rollout), or inferred.
struct PodTemplate {
  const nlohmann::json* spec = nullptr;      // the PodSpec
  const nlohmann::json* metadata = nullptr;  // template metadata (labels); may be null
  std::string spec_path;                     // JSON pointer of the PodSpec
  std::string metadata_path;
  // The kind is none of workload_kinds(): the template was found at
  // spec.template.spec (with a containers list) and findings say so.
  bool inferred = false;
};

// Pointer paths of the pod template for a kind; nullopt for other kinds.
struct PodTemplatePaths {
  std::string spec;
  std::string metadata;
};
std::optional<PodTemplatePaths> pod_template_paths(std::string_view kind);
bool is_workload_kind(std::string_view kind);

// The pod template of an object, if its kind has one and it is present; for
// another kind, a spec.template.spec with a containers list (inferred).
std::optional<PodTemplate> find_pod_template(const nlohmann::json& object);

// Appended to the messages of findings on an inferred pod template.
std::string inferred_kind_note(std::string_view kind);

enum class ContainerKind { container, init, ephemeral };
std::string_view to_string(ContainerKind k);

struct ContainerRef {
  const nlohmann::json* json;
  std::string path;  // JSON pointer relative to the object
  std::string name;
  ContainerKind kind;
};

// containers, initContainers, ephemeralContainers (only JSON objects).
std::vector<ContainerRef> containers_of(const PodTemplate& pod);

// One entry of a container's ports list; each field set only when it has
// the right type.
struct ContainerPort {
  std::size_t index;  // in the container's ports list
  std::optional<std::string> name;
  std::optional<long long> container_port;
  std::optional<long long> host_port;
  std::optional<std::string> protocol;
};
// The mapping entries of a container's ports list.
std::vector<ContainerPort> ports_of(const ContainerRef& c);

// The env entries named `name` in the containers, in order.
struct EnvRef {
  const ContainerRef* container;
  std::size_t index;  // in the container's env list
  const nlohmann::json* entry;
};
std::vector<EnvRef> env_entries(const std::vector<ContainerRef>& containers, std::string_view name);

// Whether a pod declares Loki Mode's egress promise: a literal, non-empty
// LOKI_NETWORK_EGRESS_POLICY in any container's env, which says it is an
// agent (the pod rules and the network pass both ask this).
bool declares_egress_promise(const std::vector<ContainerRef>& containers);

// The effective security context of a container.
// https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
// runAsNonRoot, runAsUser, runAsGroup, seccompProfile are inherited from the
// pod's securityContext; readOnlyRootFilesystem, allowPrivilegeEscalation,
// capabilities and privileged exist on the container only.
struct EffectiveSecurityContext {
  std::optional<bool> runAsNonRoot;
  std::optional<long long> runAsUser;
  std::optional<std::string> seccompType;  // RuntimeDefault, Localhost, Unconfined
  std::optional<bool> readOnlyRootFilesystem;
  std::optional<bool> allowPrivilegeEscalation;
  std::optional<bool> privileged;
  std::vector<std::string> capAdd;
  std::vector<std::string> capDrop;
  // Where each came from (JSON pointer), to point findings at the right line.
  std::string runAsNonRootPath, runAsUserPath, seccompPath;
};
EffectiveSecurityContext effective_security_context(const PodTemplate& pod, const ContainerRef& c);

}  // namespace loki
