// The engine: Kubernetes objects in, findings out. Pure functions, no I/O.
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/manifest.hpp>
#include <loki/podspec.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace loki {

struct EngineOptions {
  Config config;
  std::string default_namespace = "default";
  bool validate = true;  // structural checks (invalid-manifest); off where the API server has validated
  // Keep the reference of every agent object checked (policy reports list
  // what passed); off by default, as only reports need them.
  bool record_subjects = false;
  // A config owned elsewhere, used instead of `config` when set; it must
  // outlive these options. The webhook's reviews share the loaded config
  // rather than copying its maps and lists for every request.
  const Config* shared_config = nullptr;
  // Only the network rules whose subject is a pod template run (a pod's
  // review: findings about policies are not the pod's to answer for).
  bool pod_rules_only = false;

  // Workers of the network pass in Pipeline::finish (0: one per core); lint
  // takes --threads. One elsewhere: the webhook starts no thread per review.
  unsigned threads = 1;

  const Config& cfg() const { return shared_config ? *shared_config : config; }
};

// Whether a pod template is a loki-mode pod under the config.
bool is_loki_pod(const Config& config, const Labels& pod_labels);

// Whether a pod template is an agent: a loki-mode pod under the config, or a
// pod that declares Loki Mode's egress promise (a literal, non-empty
// LOKI_NETWORK_EGRESS_POLICY in a container's env) and so says it is one.
bool is_agent_pod(const Config& config, const PodTemplate& pod);

// ServiceAccount defaults (service-account-token). The kubelet mounts a token
// unless the pod, or when the pod does not set the field its ServiceAccount,
// sets automountServiceAccountToken: false.
// The ServiceAccount a pod template runs as, as "namespace/name":
// serviceAccountName, else the deprecated serviceAccount, else "default".
std::string service_account_key(const PodTemplate& pod, const std::string& ns);
// Whether the pod template sets automountServiceAccountToken itself.
bool pod_sets_token_automount(const PodTemplate& pod);
// "namespace/name" of a ServiceAccount object that sets
// automountServiceAccountToken: false; nullopt for any other object.
std::optional<std::string> service_account_opting_out(const Object& object, const std::string& default_namespace);
// Whether the pod template, in namespace `ns`, leaves the field unset and runs
// as one of the `opted_out` ServiceAccounts: no token is mounted.
bool token_unmounted_by_service_account(const PodTemplate& pod, const std::string& ns,
                                        const std::set<std::string>& opted_out);
// Drops the service-account-token findings on `object` (a pod or a workload)
// that its ServiceAccount's own automountServiceAccountToken: false settles.
void drop_unmounted_token_findings(std::vector<Finding>& findings, const Object& object,
                                   const std::string& default_namespace, const std::set<std::string>& opted_out);
// The same for findings already made, of a pod template that leaves the field
// unset and runs as `service_account` ("ns/name", PipelineBatch::DefaultToken).
void drop_unmounted_token_findings(std::vector<Finding>& findings, const std::string& service_account,
                                   const std::set<std::string>& opted_out);

// Checks one object: manifest validity, then the pod rules when it carries a
// loki-mode pod template. Applies rule settings and ignore annotations.
std::vector<Finding> check_object(const Object& object, const EngineOptions& opts);

// Turns a loader error into an `invalid-manifest` finding.
Finding finding_from_load_error(const LoadError& e, const EngineOptions& opts);

// Structural validation: wrong types, missing metadata.name, unknown
// apiVersion for a kind. Returns errors naming the field.
std::vector<LoadError> validate_object(const Object& object);

}  // namespace loki
