// cluster-pass-unisolated (error): an Admin-tier cluster policy rule with
// action Pass hands an agent's egress to the NetworkPolicy tier ("Pass:
// Skips all further ClusterNetworkPolicy rules in the current tier for the
// selected traffic, and passes evaluation to the next tier"), but no
// NetworkPolicy isolates the agent's egress and no Baseline rule denies it,
// so the default applies: "all pods can communicate with each other". The
// platform team's guardrail then rests on a NetworkPolicy that is not there.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_cluster_pass_unisolated{
    .id = "cluster-pass-unisolated",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "An Admin-tier cluster network policy passes the agent's egress to the NetworkPolicy tier, but no "
        "NetworkPolicy isolates the agent's egress (and no Baseline rule denies it), so the traffic is allowed.",
    .remediation =
        "Deny the traffic in the Admin tier (Deny instead of Pass), add a default-deny egress "
        "NetworkPolicy in the agent's namespace, or a Baseline-tier Deny.",
    .summary = "an Admin `Pass` hands agent egress to a namespace where no NetworkPolicy isolates it",
    .subject = RuleSubject::pod_template,
    .egress_open = true,
    .network_check = netpol::checks::cluster_pass_unisolated,
    .network_order = 11};
}  // namespace loki::checks

namespace loki::netpol::checks {

void cluster_pass_unisolated(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (net->admin.empty() || net->egress_isolated) continue;
    for (const Policy* p : net->admin) {
      for (std::size_t r = 0; r < p->egress_rules.size(); ++r) {
        const EgressRule& rule = p->egress_rules[r];
        if (rule.action != Action::pass) continue;
        for (const Probe& pr : rule_probes(ctx, *p, rule, pod)) {
          Verdict v = ctx.analyzer.allows(net, pr.dest, pr.port, pr.protocol);
          // Passed by this rule and then allowed by the default (not by a Baseline Accept).
          if (!v.possible() || v.tier != "default" || !v.passed_by || v.passed_by->policy != p ||
              v.passed_by->rule != r)
            continue;
          out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt,
                         "egress to " + pr.text() + " is handed by " + v.passed_by->where() +
                             " to the NetworkPolicy tier (Pass), but no NetworkPolicy isolates the pod's egress and "
                             "no Baseline rule denies it, so it is allowed by default",
                         "change the rule's action to Deny, or add a default-deny egress NetworkPolicy:\n" +
                             default_deny_yaml(pod.ns)});
          break;
        }
      }
    }
  }
}

}  // namespace loki::netpol::checks
