// egress-to-any (error): an egress rule that reaches every destination
// (empty or missing `to`, 0.0.0.0/0 or ::/0, Cilium toEntities world/all or an
// L4-only rule) on some or all ports. `to: []` on 443 is "anywhere on 443",
// not "the AI APIs only"; `to: []` on 53 lets the agent talk to any DNS
// server (a tunnelling channel). Reported on the policy, naming the loki-mode
// pods it affects; policies that select only non-loki pods are left alone.
// Error: this is how exfiltration paths hide inside "restricted" egress.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_egress_to_any{
    .id = "egress-to-any",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "An egress rule that applies to loki-mode pods reaches every destination (empty `to`, 0.0.0.0/0, ::/0, "
        "toEntities world) on some or all ports: `to: []` on 443 is anywhere on 443, not only the AI APIs.",
    .remediation =
        "Narrow the rule's destinations: kube-dns for DNS; toFQDNs (CiliumNetworkPolicy) for the AI API hosts.",
    .summary = "an egress rule that reaches every destination (`to: []`, `0.0.0.0/0`, `::/0`) on some or all ports",
    .subject = RuleSubject::policy,
    .network_check = netpol::checks::egress_to_any,
    .network_order = 6};
}  // namespace loki::checks

namespace loki::netpol::checks {

namespace {
std::string describe_any(const Peer& peer, const EgressRule& rule, const Policy& p) {
  if (peer.kind == Peer::Kind::any)
    return p.is_cilium() ? "no L3 selector (every destination)" : "`to` empty or missing (every destination)";
  if (peer.kind == Peer::Kind::entity) return "toEntities: " + peer.entity;
  if (peer.kind == Peer::Kind::fqdn) return "toFQDNs matchPattern \"*\"";
  (void)rule;
  return peer.to_string();
}
}  // namespace

void egress_to_any(const NetContext& ctx, NetOut& out) {
  for (const auto& p : ctx.inventory.policies) {
    if (p.is_cluster()) continue;  // tiered cluster policies: cluster-policy-* rules
    if (!p.egress) continue;
    std::vector<const PodInfo*> loki;
    for (const PodInfo* pod : ctx.selected(p))
      if (pod->loki && !pod->host_network) loki.push_back(pod);
    bool no_pods_known = p.flavor == Policy::Flavor::cilium_clusterwide ? ctx.inventory.pods.empty()
                                                                        : ctx.analyzer.pods_in(p.ns).empty();
    if (loki.empty() && !no_pods_known) continue;
    for (std::size_t i = 0; i < p.egress_rules.size(); ++i) {
      const EgressRule& rule = p.egress_rules[i];
      const Peer* anyp = nullptr;
      for (const auto& peer : rule.to)
        if (peer.reaches_anywhere()) {
          anyp = &peer;
          break;
        }
      if (!anyp) continue;
      bool dns_only = true;
      for (const auto& port : rule.ports) dns_only &= is_dns_port(port);
      std::string ports = ports_text(rule.ports);
      std::string msg = "egress[" + std::to_string(i) + "] of " + p.ref.name + " allows " +
                        describe_any(*anyp, rule, p) + " on " + ports + ": ";
      std::string fix;
      if (dns_only) {
        msg += "any DNS server anywhere, which is an exfiltration channel (DNS tunnelling), not just cluster DNS";
        fix =
            "allow DNS to kube-dns only: `to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
            "kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]`";
      } else if (ports == "every port") {
        msg += "every destination on every port, so the policy restricts nothing";
        fix = "replace the rule with the destinations the agent needs";
      } else {
        msg += "that is anywhere on the internet on " + ports + ", not only the AI APIs";
        fix =
            "NetworkPolicy cannot name hosts: allow the AI API hosts with a CiliumNetworkPolicy toFQDNs rule "
            "(matchName: api.anthropic.com ...) and drop this rule, or narrow `to` to the CIDRs the agent needs";
      }
      if (anyp->kind == Peer::Kind::ip_block && !anyp->except.empty())
        msg += " (the except list removes only " + std::to_string(anyp->except.size()) + " block(s))";
      msg += loki.empty() ? "; no pod of its namespace is in the input, so the affected pods are unknown"
                          : "; affects loki-mode pods: " + names_of(loki);
      out.push_back({nullptr, &p, rule.field, rule.line, std::nullopt, msg, fix});
    }
  }
}

}  // namespace loki::netpol::checks
