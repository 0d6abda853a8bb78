#include <loki/workload_kinds.hpp>

namespace loki {

namespace {

constexpr std::string_view po[] = {"po"}, deploy[] = {"deploy"}, rs[] = {"rs"}, sts[] = {"sts"}, ds[] = {"ds"},
                           cj[] = {"cj"}, rc[] = {"rc"}, dc[] = {"dc"}, ro[] = {"ro"};
constexpr RemovedVersion deploy_removed[] = {
    {"extensions/v1beta1", "1.16"}, {"apps/v1beta1", "1.16"}, {"apps/v1beta2", "1.16"}};
constexpr RemovedVersion rs_removed[] = {{"extensions/v1beta1", "1.16"}, {"apps/v1beta2", "1.16"}};
constexpr RemovedVersion sts_removed[] = {{"apps/v1beta1", "1.16"}, {"apps/v1beta2", "1.16"}};
constexpr RemovedVersion ds_removed[] = {{"extensions/v1beta1", "1.16"}, {"apps/v1beta2", "1.16"}};
constexpr RemovedVersion cj_removed[] = {{"batch/v1beta1", "1.25"}, {"batch/v2alpha1", "1.21"}};

// Constant-initialized, so the ResourceType constants built from it in other
// translation units can read it during static initialization.
constexpr WorkloadKind kinds[] = {
    {.kind = "Pod",
     .group = "",
     .version = "v1",
     .plural = "pods",
     .short_names = po,
     .pod_template = "",
     .listing = Listing::no},
    {.kind = "Deployment",
     .group = "apps",
     .version = "v1",
     .plural = "deployments",
     .short_names = deploy,
     .pod_template = "/spec/template",
     .removed = deploy_removed},
    {.kind = "ReplicaSet",
     .group = "apps",
     .version = "v1",
     .plural = "replicasets",
     .short_names = rs,
     .pod_template = "/spec/template",
     .removed = rs_removed},
    {.kind = "StatefulSet",
     .group = "apps",
     .version = "v1",
     .plural = "statefulsets",
     .short_names = sts,
     .pod_template = "/spec/template",
     .removed = sts_removed},
    {.kind = "DaemonSet",
     .group = "apps",
     .version = "v1",
     .plural = "daemonsets",
     .short_names = ds,
     .pod_template = "/spec/template",
     .removed = ds_removed},
    {.kind = "Job", .group = "batch", .version = "v1", .plural = "jobs", .pod_template = "/spec/template"},
    {.kind = "CronJob",
     .group = "batch",
     .version = "v1",
     .plural = "cronjobs",
     .short_names = cj,
     .pod_template = "/spec/jobTemplate/spec/template",
     .removed = cj_removed},
    {.kind = "ReplicationController",
     .group = "",
     .version = "v1",
     .plural = "replicationcontrollers",
     .short_names = rc,
     .pod_template = "/spec/template"},
    {.kind = "PodTemplate",
     .group = "",
     .version = "v1",
     .plural = "podtemplates",
     .pod_template = "/template",
     .listing = Listing::no},
    // OpenShift's DeploymentConfig (deprecated in 4.14, still common in
    // public manifests, also under the legacy `apiVersion: v1`).
    {.kind = "DeploymentConfig",
     .group = "apps.openshift.io",
     .version = "v1",
     .plural = "deploymentconfigs",
     .short_names = dc,
     .pod_template = "/spec/template",
     .listing = Listing::when_served,
     .builtin = false},
    // Argo Rollouts; spec.template is absent when spec.workloadRef names a Deployment.
    {.kind = "Rollout",
     .group = "argoproj.io",
     .version = "v1alpha1",
     .plural = "rollouts",
     .short_names = ro,
     .pod_template = "/spec/template",
     .listing = Listing::when_served,
     .builtin = false,
     .template_optional = true},
};

}  // namespace

std::string WorkloadKind::api_version() const {
  return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
}

std::span<const WorkloadKind> workload_kinds() {
  return kinds;
}

const WorkloadKind* find_workload_kind(std::string_view kind) {
  for (const WorkloadKind& k : kinds)
    if (k.kind == kind) return &k;
  return nullptr;
}

}  // namespace loki
