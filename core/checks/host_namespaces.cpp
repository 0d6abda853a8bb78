// host-network, host-pid, host-ipc: the pod shares one of the node's
// namespaces. A hostNetwork pod is outside NetworkPolicy altogether:
// https://kubernetes.io/docs/concepts/services-networking/network-policies/
// ("Pods with hostNetwork: true ... policies do not apply").
#include "check_util.hpp"

namespace loki::checks {
namespace {

void check_ns(const PodContext& ctx, std::vector<RawFinding>& out, const char* field, const char* what) {
  if (!is_true(*ctx.pod.spec, field)) return;
  emit(out, ctx.pod.spec_path + "/" + field, std::nullopt,
       std::string("pod shares the node's ") + what + " namespace (" + field + ": true)",
       std::string("remove `") + field + ": true` from the pod spec (or set `" + field + ": false`)");
}

void host_network(const PodContext& ctx, std::vector<RawFinding>& out) {
  if (!is_true(*ctx.pod.spec, "hostNetwork")) return;
  emit(out, ctx.pod.spec_path + "/hostNetwork", std::nullopt,
       "pod uses the node's network namespace (hostNetwork: true): NetworkPolicy does not apply to it, so "
       "every egress restriction is bypassed",
       "remove `hostNetwork: true` from the pod spec; expose the agent through a Service instead");
}
void host_pid(const PodContext& ctx, std::vector<RawFinding>& out) {
  check_ns(ctx, out, "hostPID", "process ID");
}
void host_ipc(const PodContext& ctx, std::vector<RawFinding>& out) {
  check_ns(ctx, out, "hostIPC", "IPC");
}

}  // namespace

extern const Rule rule_host_network{
    "host-network",
    Severity::error,
    RuleScope::pod,
    "The pod shares the node's network namespace; NetworkPolicy does not apply to hostNetwork pods.",
    "Remove `hostNetwork: true`.",
    host_network,
    "`hostNetwork: true`: NetworkPolicy does not apply to the pod"};
extern const Rule rule_host_pid{"host-pid",
                                Severity::error,
                                RuleScope::pod,
                                "The pod shares the node's process ID namespace and can see (and signal) "
                                "every process on the node.",
                                "Remove `hostPID: true`.",
                                host_pid,
                                "the pod shares the node's PID namespace"};
extern const Rule rule_host_ipc{"host-ipc",
                                Severity::error,
                                RuleScope::pod,
                                "The pod shares the node's IPC namespace (shared memory of other workloads).",
                                "Remove `hostIPC: true`.",
                                host_ipc,
                                "the pod shares the node's IPC namespace"};

}  // namespace loki::checks
