// Documentation for each rule, in one table so the URLs are reviewed together:
// the Pod Security Standards control a rule implements, the Kubernetes docs
// section that explains the field, and a CVE only where one genuinely turns on
// the setting (CVE-2019-5736 needs UID 0 in the container, per the Kubernetes
// blog: "If the process inside the container is ... not running as UID 0,
// then the vulnerability does not apply"; CVE-2024-10220 is the gitRepo volume).
#include <loki/rule.hpp>

#include <array>
#include <map>

namespace loki {
namespace {

constexpr std::string_view kPssBaseline =
    "https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline";
constexpr std::string_view kPssRestricted =
    "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted";
constexpr std::string_view kSecurityContext =
    "https://kubernetes.io/docs/tasks/configure-pod-container/security-context/";
constexpr std::string_view kNetworkPolicies =
    "https://kubernetes.io/docs/concepts/services-networking/network-policies/";

using R = Reference;

constexpr R apparmor[] = {{"Pod Security Standards (baseline): AppArmor", kPssBaseline},
                          {"Restrict a Container's Access to Resources with AppArmor",
                           "https://kubernetes.io/docs/tutorials/security/apparmor/"}};
constexpr R capabilities[] = {{"Pod Security Standards (restricted): Capabilities", kPssRestricted},
                              {"Set capabilities for a Container", kSecurityContext}};
constexpr R git_repo[] = {
    {"Volumes: gitRepo (deprecated)", "https://kubernetes.io/docs/concepts/storage/volumes/#gitrepo"},
    {"CVE-2024-10220", "https://nvd.nist.gov/vuln/detail/CVE-2024-10220"}};
constexpr R host_namespaces[] = {{"Pod Security Standards (baseline): Host Namespaces", kPssBaseline}};
constexpr R host_network[] = {{"Pod Security Standards (baseline): Host Namespaces", kPssBaseline},
                              {"Network Policies", kNetworkPolicies}};
constexpr R host_path[] = {{"Pod Security Standards (baseline): HostPath Volumes", kPssBaseline},
                           {"Volumes: hostPath", "https://kubernetes.io/docs/concepts/storage/volumes/#hostpath"}};
constexpr R host_port[] = {{"Pod Security Standards (baseline): Host Ports", kPssBaseline}};
constexpr R host_probe[] = {{"Pod Security Standards (baseline): Host Probes / Lifecycle Hooks", kPssBaseline}};
constexpr R seccomp[] = {
    {"Pod Security Standards (restricted): Seccomp", kPssRestricted},
    {"Restrict a Container's Syscalls with seccomp", "https://kubernetes.io/docs/tutorials/security/seccomp/"}};
constexpr R seccomp_annotation[] = {
    {"Pod Security Standards (baseline): Seccomp", kPssBaseline},
    {"Restrict a Container's Syscalls with seccomp", "https://kubernetes.io/docs/tutorials/security/seccomp/"}};
constexpr R privilege_escalation[] = {{"Pod Security Standards (restricted): Privilege Escalation", kPssRestricted},
                                      {"Configure a Security Context", kSecurityContext}};
constexpr R privileged[] = {{"Pod Security Standards (baseline): Privileged Containers", kPssBaseline}};
constexpr R proc_mount[] = {{"Pod Security Standards (baseline): /proc Mount Type", kPssBaseline}};
constexpr R volume_types[] = {{"Pod Security Standards (restricted): Volume Types", kPssRestricted}};
constexpr R root_group[] = {{"Configure a Security Context (runAsGroup, fsGroup)", kSecurityContext}};
constexpr R run_as_root[] = {
    {"Pod Security Standards (restricted): Running as Non-root", kPssRestricted},
    {"Runc and CVE-2019-5736", "https://kubernetes.io/blog/2019/02/11/runc-and-cve-2019-5736/"}};
constexpr R runtime_class[] = {{"Runtime Class", "https://kubernetes.io/docs/concepts/containers/runtime-class/"}};
constexpr R selinux[] = {{"Pod Security Standards (baseline): SELinux", kPssBaseline}};
constexpr R service_account[] = {{"Opt out of API credential automounting",
                                  "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/"
                                  "#opt-out-of-api-credential-automounting"}};
constexpr R shared_pid[] = {{"Share Process Namespace between Containers in a Pod",
                             "https://kubernetes.io/docs/tasks/configure-pod-container/share-process-namespace/"}};
constexpr R sysctl[] = {
    {"Pod Security Standards (baseline): Sysctls", kPssBaseline},
    {"Using sysctls in a Kubernetes Cluster", "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/"}};
constexpr R windows_host_process[] = {{"Pod Security Standards (baseline): HostProcess", kPssBaseline}};
constexpr R writable_root[] = {{"Configure a Security Context (readOnlyRootFilesystem)", kSecurityContext}};
constexpr R network_policy[] = {{"Network Policies", kNetworkPolicies}};
constexpr R network_default_deny[] = {
    {"Network Policies: default deny all egress traffic",
     "https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-deny-all-egress-traffic"}};
constexpr R dns[] = {
    {"DNS for Services and Pods", "https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/"},
    {"Network Policies", kNetworkPolicies}};
constexpr R fqdn[] = {
    {"Network Policies", kNetworkPolicies},
    {"Cilium: DNS based policies", "https://docs.cilium.io/en/stable/security/policy/language/#dns-based"}};
constexpr R metadata[] = {{"Securing a Cluster: restricting cloud metadata API access",
                           "https://kubernetes.io/docs/tasks/administer-cluster/securing-a-cluster/"
                           "#restricting-cloud-metadata-api-access"},
                          {"Network Policies", kNetworkPolicies}};
constexpr R cluster_policy[] = {
    {"Network Policy API (ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy)",
     "https://network-policy-api.sigs.k8s.io/"},
    {"Network Policies", kNetworkPolicies}};
constexpr R invalid_manifest[] = {
    {"Kubernetes API concepts: dry-run", "https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run"}};
constexpr R annotations[] = {
    {"Annotations", "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/"}};

const std::map<std::string_view, std::span<const Reference>>& table() {
  static const std::map<std::string_view, std::span<const Reference>> t = {
      {"apparmor-unconfined", apparmor},
      {"capabilities-not-dropped", capabilities},
      {"git-repo-volume", git_repo},
      {"host-ipc", host_namespaces},
      {"host-network", host_network},
      {"host-path-runtime-socket", host_path},
      {"host-path-sensitive", host_path},
      {"host-path-volume", host_path},
      {"host-pid", host_namespaces},
      {"host-port", host_port},
      {"host-probe", host_probe},
      {"missing-seccomp", seccomp},
      {"privilege-escalation", privilege_escalation},
      {"privileged", privileged},
      {"proc-mount-unmasked", proc_mount},
      {"restricted-volume-type", volume_types},
      {"root-group", root_group},
      {"run-as-root", run_as_root},
      {"runtime-class-not-sandboxed", runtime_class},
      {"seccomp-annotation-unconfined", seccomp_annotation},
      {"selinux-options", selinux},
      {"service-account-token", service_account},
      {"shared-pid-credentials", shared_pid},
      {"unsafe-sysctl", sysctl},
      {"windows-host-process", windows_host_process},
      {"writable-root-fs", writable_root},
      {"deny-egress-is-ingress-only", network_default_deny},
      {"dns-blocked", dns},
      {"egress-policy-mismatch", fqdn},
      {"egress-rules-ignored", network_default_deny},
      {"egress-shadowed", network_default_deny},
      {"egress-to-any", network_policy},
      {"egress-unrestricted", network_default_deny},
      {"host-network-bypasses-policy", host_network},
      {"metadata-endpoint-reachable", metadata},
      {"policy-selects-nothing", network_policy},
      {"baseline-deny-shadowed", cluster_policy},
      {"cluster-pass-unisolated", cluster_policy},
      {"cluster-policy-selects-no-agent", cluster_policy},
      {"invalid-ignore", annotations},
      {"invalid-manifest", invalid_manifest},
  };
  return t;
}

}  // namespace

std::span<const Reference> references_for(std::string_view id) {
  auto it = table().find(id);
  return it == table().end() ? std::span<const Reference>{} : it->second;
}

}  // namespace loki
