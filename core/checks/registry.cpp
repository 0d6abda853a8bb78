// The list of rules, the only one: pod, network and manifest rules. An explicit
// list (not static self-registration) so the linker cannot drop a check from
// the static library. Its order is the order of `loki-audit rules` and of the
// per-object checks.
#include <loki/rules.hpp>

namespace loki {
namespace checks {
extern const Rule rule_host_network, rule_host_pid, rule_host_ipc, rule_host_port, rule_privileged, rule_run_as_root,
    rule_writable_root_fs, rule_missing_seccomp, rule_privilege_escalation, rule_capabilities,
    rule_service_account_token;
// Pod Security Standards controls and agent escape routes (issue 18).
extern const Rule rule_host_path_volume, rule_host_path_runtime_socket, rule_host_path_sensitive,
    rule_restricted_volume_type, rule_git_repo_volume, rule_selinux_options, rule_apparmor_unconfined,
    rule_proc_mount_unmasked, rule_unsafe_sysctl, rule_host_probe, rule_windows_host_process,
    rule_seccomp_annotation_unconfined, rule_root_group, rule_shared_pid_credentials, rule_runtime_class_not_sandboxed;
// Network rules (core/netpol/checks/): RuleScope::network, run by the network
// pass (loki::check_network) over the whole inventory, not per object.
extern const Rule rule_egress_unrestricted, rule_egress_shadowed, rule_deny_egress_is_ingress_only,
    rule_egress_rules_ignored, rule_policy_selects_nothing, rule_egress_to_any, rule_metadata_endpoint_reachable,
    rule_host_network_bypasses_policy, rule_dns_blocked, rule_egress_policy_mismatch;
}  // namespace checks

const std::vector<Rule>& all_rules() {
  static const std::vector<Rule> rules = {
      checks::rule_host_network,
      checks::rule_host_pid,
      checks::rule_host_ipc,
      checks::rule_host_port,
      checks::rule_privileged,
      checks::rule_run_as_root,
      checks::rule_writable_root_fs,
      checks::rule_missing_seccomp,
      checks::rule_privilege_escalation,
      checks::rule_capabilities,
      checks::rule_service_account_token,
      checks::rule_host_path_volume,
      checks::rule_host_path_runtime_socket,
      checks::rule_host_path_sensitive,
      checks::rule_restricted_volume_type,
      checks::rule_git_repo_volume,
      checks::rule_selinux_options,
      checks::rule_apparmor_unconfined,
      checks::rule_proc_mount_unmasked,
      checks::rule_unsafe_sysctl,
      checks::rule_host_probe,
      checks::rule_windows_host_process,
      checks::rule_seccomp_annotation_unconfined,
      checks::rule_root_group,
      checks::rule_shared_pid_credentials,
      checks::rule_runtime_class_not_sandboxed,
      checks::rule_egress_unrestricted,
      checks::rule_egress_shadowed,
      checks::rule_host_network_bypasses_policy,
      checks::rule_egress_to_any,
      checks::rule_metadata_endpoint_reachable,
      checks::rule_egress_policy_mismatch,
      checks::rule_dns_blocked,
      checks::rule_policy_selects_nothing,
      checks::rule_deny_egress_is_ingress_only,
      checks::rule_egress_rules_ignored,
      {rule_id::invalid_manifest,
       Severity::error,
       RuleScope::manifest,
       "The manifest cannot be read as a valid Kubernetes object (syntax error, wrong type, missing field, "
       "unknown apiVersion).",
       "Fix the field named in the message; `kubectl apply --dry-run=server -f FILE` shows what the API server "
       "accepts.",
       {},
       "the input is not a valid Kubernetes object",
       RuleSubject::manifest},
      {rule_id::invalid_ignore,
       Severity::warning,
       RuleScope::manifest,
       "An ignore.loki-guard.io/<rule> annotation has no reason or names no known rule; it is not honoured.",
       "Name an existing rule and give the reason as the value: ignore.loki-guard.io/<rule>: \"why this is safe\".",
       {},
       "an ignore annotation without a reason or for an unknown rule",
       RuleSubject::manifest},
  };
  return rules;
}

const Rule* find_rule(std::string_view id) {
  for (const auto& r : all_rules())
    if (r.id == id) return &r;
  return nullptr;
}

}  // namespace loki
