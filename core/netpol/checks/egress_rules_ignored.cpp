// egress-rules-ignored (warning): egress rules written, but policyTypes is
// set without Egress, so the API ignores them. Warning: the rules have no
// effect in either direction; what the pods may reach is reported on the pods.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_egress_rules_ignored{.id = "egress-rules-ignored",
                                            .severity = Severity::warning,
                                            .scope = RuleScope::network,
                                            .description =
                                                "The policy has egress rules but its policyTypes lacks Egress, so the "
                                                "rules are ignored (and the policy does not "
                                                "isolate egress).",
                                            .remediation = "Add Egress to policyTypes, or delete the egress rules.",
                                            .summary = "`egress` rules written but `policyTypes` lacks `Egress`",
                                            .subject = RuleSubject::policy,
                                            .network_check = netpol::checks::egress_rules_ignored,
                                            .network_order = 4};
}  // namespace loki::checks

namespace loki::netpol::checks {

void egress_rules_ignored(const NetContext& ctx, NetOut& out) {
  for (const auto& p : ctx.inventory.policies) {
    if (p.is_cluster()) continue;  // tiered cluster policies: cluster-policy-* rules
    if (p.is_cilium() || !p.policy_types_set || p.egress || !p.has_egress_rules) continue;
    out.push_back({nullptr, &p, "/spec/policyTypes", p.policy_types_line, std::nullopt,
                   p.ref.name + " has " + std::to_string(p.written_egress_rules) +
                       " egress rule(s), but policyTypes lists only Ingress: the egress rules are ignored and the "
                       "policy does not isolate egress",
                   "add Egress to spec.policyTypes (`policyTypes: [Ingress, Egress]`), or delete spec.egress"});
  }
}

}  // namespace loki::netpol::checks
