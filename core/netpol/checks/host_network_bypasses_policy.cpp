// host-network-bypasses-policy (error): a hostNetwork pod that policies
// select. NetworkPolicy does not apply to hostNetwork pods (they use the
// node's network namespace), so the policies protect nothing: the third seed,
// where deny-all-egress "applied" and curl still reached the internet.
// Reported for every such pod, loki-mode or not: the policy author expected
// it to be contained. Error: the restriction the operator relies on is void.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_host_network_bypasses_policy{
    .id = "host-network-bypasses-policy",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "Policies select a hostNetwork pod, but NetworkPolicy does not apply to pods on the node's network: every "
        "restriction they express is bypassed.",
    .remediation = "Remove `hostNetwork: true` from the pod; expose it through a Service instead.",
    .summary = "policies select a hostNetwork pod, where they do not apply",
    .subject = RuleSubject::pod_template,
    .network_check = netpol::checks::host_network_bypasses_policy,
    .network_order = 8};
}  // namespace loki::checks

namespace loki::netpol::checks {

void host_network_bypasses_policy(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!host_network_selected(ctx, pod)) continue;
    const PodNetwork& net = ctx.net_of(pod);
    out.push_back({&pod, nullptr, pod.host_network_field, pod.host_network_line, std::nullopt,
                   "the pod uses hostNetwork: true, so the policies that select it (" + names_of(net->selecting) +
                       ") do not apply: its ingress and egress are unrestricted",
                   "remove `hostNetwork: true` from " +
                       dotted(pod.host_network_field.substr(0, pod.host_network_field.rfind('/'))) +
                       " so the pod joins the pod network and the policies take effect"});
  }
}

}  // namespace loki::netpol::checks
