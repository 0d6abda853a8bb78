// dns-blocked (warning): an egress-isolated loki-mode pod that may not send
// DNS (UDP and TCP 53) while its LOKI_NETWORK_EGRESS_POLICY is not `none`: it
// will fail to resolve the AI API hosts. Warning: a broken agent, not an open
// one (fails closed).
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_dns_blocked{
    .id = "dns-blocked",
    .severity = Severity::warning,
    .scope = RuleScope::network,
    .description =
        "The loki-mode pod is egress-isolated without DNS (UDP and TCP 53) allowed, while its "
        "LOKI_NETWORK_EGRESS_POLICY is not `none`: it cannot resolve the AI API hosts.",
    .remediation = "Allow UDP and TCP 53 to kube-dns (namespace kube-system, k8s-app: kube-dns).",
    .summary = "an egress-isolated agent with no UDP+TCP 53 that still needs to resolve the AI API hosts",
    .subject = RuleSubject::pod_template,
    .network_check = netpol::checks::dns_blocked,
    .network_order = 9};
}  // namespace loki::checks

namespace loki::netpol::checks {

void dns_blocked(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (!net.egress_isolated) continue;
    if (pod.egress_policy.present && (!pod.egress_policy.literal || pod.egress_policy.value == "none")) continue;
    bool udp = false, tcp = false;
    for (const auto& g : net.egress) {
      udp = udp || ctx.analyzer.grant_covers_port(g, 53, Protocol::UDP);
      tcp = tcp || ctx.analyzer.grant_covers_port(g, 53, Protocol::TCP);
    }
    if (udp && tcp) continue;
    std::string missing = !udp && !tcp ? "UDP or TCP 53" : !udp ? "UDP 53" : "TCP 53";
    std::string promise = pod.egress_policy.present ? "LOKI_NETWORK_EGRESS_POLICY=" + pod.egress_policy.value
                                                    : "LOKI_NETWORK_EGRESS_POLICY unset (unrestricted)";
    out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt,
                   "the pod is egress-isolated by " + names_of(net.egress_policies) + " and no rule allows DNS (" +
                       missing + "), while " + promise + ": it will fail to resolve the AI API hosts" +
                       (udp ? " when a DNS answer needs TCP" : ""),
                   "allow DNS to kube-dns in one of those policies:\n"
                   "- to:\n"
                   "  - namespaceSelector:\n"
                   "      matchLabels: {kubernetes.io/metadata.name: kube-system}\n"
                   "    podSelector:\n"
                   "      matchLabels: {k8s-app: kube-dns}\n"
                   "  ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]"});
  }
}

}  // namespace loki::netpol::checks
