// baseline-deny-shadowed (warning): a Baseline-tier cluster policy denies an
// agent's egress, but a NetworkPolicy of the agent's namespace isolates the
// pod and allows that traffic: "Baseline tier is a cluster-wide policy that
// can be overridden by the v1.NetworkPolicy"; "v1.NetworkPolicy always makes
// a final decision for selected pods". The namespace owner, who can edit the
// NetworkPolicy, decides; the platform's Baseline Deny is never consulted.
// Warning: that is the tier's design, but an agent guardrail written as a
// Baseline Deny does not hold.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_baseline_deny_shadowed{
    .id = "baseline-deny-shadowed",
    .severity = Severity::warning,
    .scope = RuleScope::network,
    .description =
        "A Baseline-tier cluster network policy denies the agent's egress, but a NetworkPolicy of its "
        "namespace (which the namespace owner can edit) selects the agent and allows it: the Baseline "
        "rule is never consulted.",
    .remediation =
        "Move the Deny to the Admin tier (an AdminNetworkPolicy or a ClusterNetworkPolicy with tier "
        "Admin), or remove the allowance from the NetworkPolicy.",
    .summary = "a Baseline deny shadowed by a namespace NetworkPolicy (which the namespace owner can edit)",
    .subject = RuleSubject::pod_template,
    .network_check = netpol::checks::baseline_deny_shadowed,
    .network_order = 12};
}  // namespace loki::checks

namespace loki::netpol::checks {

void baseline_deny_shadowed(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (net->baseline.empty() || !net->egress_isolated) continue;
    for (const Policy* p : net->baseline) {
      for (std::size_t r = 0; r < p->egress_rules.size(); ++r) {
        const EgressRule& rule = p->egress_rules[r];
        if (rule.action != Action::deny) continue;
        for (const Probe& pr : rule_probes(ctx, *p, rule, pod)) {
          Verdict v = ctx.analyzer.allows(net, pr.dest, pr.port, pr.protocol);
          if (!v.possible() || v.tier != "NetworkPolicy") continue;
          const Grant where{p, r, nullptr, nullptr, false};
          out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt,
                         where.where() + " denies egress to " + pr.text() + ", but " +
                             (v.by && v.by->policy ? v.by->where() : names_of(net->egress_policies)) +
                             " (the namespace owner's NetworkPolicy) isolates the pod and allows it, so the Baseline "
                             "rule is never consulted",
                         "move the Deny to the Admin tier (tier: Admin), or remove the allowance from the "
                         "NetworkPolicy"});
          break;
        }
      }
    }
  }
}

}  // namespace loki::netpol::checks
