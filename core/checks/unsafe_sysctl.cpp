// unsafe-sysctl: a pod sysctl outside the standard's safe set. policy/
// check_sysctls.go (v0.36.3): "A sysctl is considered safe if it is namespaced
// in the container or the Pod, and it is isolated from other Pods or processes
// on the same Node"; the set grew in 1.27, 1.29 and 1.32 (sysctlsAllowedV1Dot32
// is the latest and is used here).
#include "pss_util.hpp"

#include <array>

namespace loki::checks {
namespace {

constexpr std::array<std::string_view, 12> safe = {"kernel.shm_rmid_forced",
                                                   "net.ipv4.ip_local_port_range",
                                                   "net.ipv4.tcp_syncookies",
                                                   "net.ipv4.ping_group_range",
                                                   "net.ipv4.ip_unprivileged_port_start",
                                                   "net.ipv4.ip_local_reserved_ports",
                                                   "net.ipv4.tcp_keepalive_time",
                                                   "net.ipv4.tcp_fin_timeout",
                                                   "net.ipv4.tcp_keepalive_intvl",
                                                   "net.ipv4.tcp_keepalive_probes",
                                                   "net.ipv4.tcp_rmem",
                                                   "net.ipv4.tcp_wmem"};

void unsafe_sysctl(const PodContext& ctx, std::vector<RawFinding>& out) {
  const auto* psc = pss::object_at(ctx.pod.spec, "securityContext");
  if (!psc) return;
  auto list = psc->find("sysctls");
  if (list == psc->end() || !list->is_array()) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto name = pss::string_at(&(*list)[i], "name");
    if (!name) continue;
    bool ok = false;
    for (auto s : safe) ok = ok || s == *name;
    if (ok) continue;
    emit(out, ctx.pod.spec_path + "/securityContext/sysctls/" + std::to_string(i) + "/name", std::nullopt,
         "the pod sets the sysctl " + *name +
             ", which is not in the safe set: it is not isolated from other pods or the node",
         "remove the sysctl " + *name + " from the pod's securityContext.sysctls");
  }
}

}  // namespace

extern const Rule rule_unsafe_sysctl{
    "unsafe-sysctl",
    Severity::error,
    RuleScope::pod,
    "The pod sets a sysctl outside the safe, namespaced set (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, "
    "net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, net.ipv4.ip_unprivileged_port_start, "
    "net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_*, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_rmem, "
    "net.ipv4.tcp_wmem) (Pod Security Standard baseline, \"Sysctls\").",
    "Remove the sysctl from `securityContext.sysctls`.",
    unsafe_sysctl,
    "a `sysctls` entry outside the safe set"};

}  // namespace loki::checks
