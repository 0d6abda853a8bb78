// deny-egress-is-ingress-only (warning): a policy named or annotated for
// egress, with no rules and no policyTypes, defaults to policyTypes: [Ingress]:
// it denies all ingress to its pods and leaves their egress open. Warning, not
// error: the egress consequence is reported on the pods themselves
// (egress-unrestricted / egress-shadowed); this points at the cause.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_deny_egress_is_ingress_only{
    .id = "deny-egress-is-ingress-only",
    .severity = Severity::warning,
    .scope = RuleScope::network,
    .description =
        "A policy meant to deny egress (no rules; its name or an annotation mentions egress) has no policyTypes, so it "
        "defaulted to [Ingress]: it denies ingress instead and leaves egress open.",
    .remediation = "Add `policyTypes: [Egress]` (or [Ingress, Egress] to deny both).",
    .summary = "a \"deny egress\" policy without `policyTypes`, defaulted to `Ingress`",
    .subject = RuleSubject::policy,
    .network_check = netpol::checks::deny_egress_is_ingress_only,
    .network_order = 3};
}  // namespace loki::checks

namespace loki::netpol::checks {

void deny_egress_is_ingress_only(const NetContext& ctx, NetOut& out) {
  for (const auto& p : ctx.inventory.policies) {
    if (p.is_cluster()) continue;  // tiered cluster policies: cluster-policy-* rules
    if (p.is_cilium() || p.policy_types_set || p.has_egress_rules || p.has_ingress_rules || !p.mentions_egress)
      continue;
    std::string selected = ctx.selected(p).empty() ? std::string() : " (" + names_of(ctx.selected(p)) + ")";
    out.push_back({nullptr, &p, "/spec", p.spec_line, std::nullopt,
                   p.ref.name +
                       " looks meant to deny egress, but it has no policyTypes and no rules, so the API "
                       "server defaults it to policyTypes: [Ingress]: it denies all ingress to the pods it "
                       "selects" +
                       selected + " and leaves their egress open",
                   "add `policyTypes: [Egress]` to spec (or `[Ingress, Egress]` to deny both directions)"});
  }
}

}  // namespace loki::netpol::checks
