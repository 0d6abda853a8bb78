// cluster-policy-selects-no-agent (warning): an Admin- or Baseline-tier
// cluster network policy whose subject selects none of the agent pods of the
// input, while agents are there: like policy-selects-nothing, usually a label
// or namespace selector typo, and the agents it was written for are not
// covered. Host-networked agents never count ("Note that host-networked pods
// are not included in subject selection").
#include "net_check.hpp"

#include <cstdint>

namespace loki::checks {
extern const Rule rule_cluster_policy_selects_no_agent{
    .id = "cluster-policy-selects-no-agent",
    .severity = Severity::warning,
    .scope = RuleScope::network,
    .description =
        "An AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy whose subject selects "
        "no agent pod of the input (while there are agent pods).",
    .remediation =
        "Fix spec.subject (namespaces, or pods: namespaceSelector and podSelector) so it selects the "
        "agent pods it was written for.",
    .summary = "an Admin/Baseline cluster policy whose subject selects no agent pod",
    .subject = RuleSubject::policy,
    .network_check = netpol::checks::cluster_policy_selects_no_agent,
    .network_order = 6};
}  // namespace loki::checks

namespace loki::netpol::checks {

void cluster_policy_selects_no_agent(const NetContext& ctx, NetOut& out) {
  std::vector<const PodInfo*> agents;
  for (const auto& pod : ctx.inventory.pods)
    if (pod.loki) agents.push_back(&pod);
  if (agents.empty()) return;
  for (const Policy* p : ctx.analyzer.cluster_policies()) {
    bool any = false;
    for (const PodInfo* a : agents) any |= ctx.analyzer.selects(*p, *a);
    if (any) continue;
    // Name the closest agent and why it is missed.
    const PodInfo* closest = nullptr;
    std::size_t best = SIZE_MAX;
    for (const PodInfo* a : agents) {
      std::size_t fails = a->host_network ? 100 : 0;
      if (p->namespace_selector)
        for (const auto& r : p->namespace_selector->requirements())
          fails += r.matches(ctx.inventory.namespaces.labels_of(a->ns)) ? 0 : 1;
      for (const auto& r : p->pod_selector.requirements()) fails += r.matches(a->labels) ? 0 : 1;
      if (fails < best) best = fails, closest = a;
    }
    std::string msg = p->ref.display() + " (" + p->tier_text() + ") selects none of the " +
                      std::to_string(agents.size()) + " agent pod(s) of the input; closest: " + closest->ref.display();
    if (closest->host_network)
      msg += ", which uses hostNetwork (host-networked pods are not included in subject selection)";
    if (p->namespace_selector) {
      const Labels& nl = ctx.inventory.namespaces.labels_of(closest->ns);
      for (const auto& m : selector_misses(*p->namespace_selector, nl, "namespace " + closest->ns)) msg += ", " + m;
    }
    for (const auto& m : selector_misses(p->pod_selector, closest->labels, closest->ref.name)) msg += ", " + m;
    out.push_back({nullptr, p, p->selector_field, p->selector_line, std::nullopt, msg,
                   "fix spec.subject so it selects the agent pods it was written for"});
  }
}

}  // namespace loki::netpol::checks
