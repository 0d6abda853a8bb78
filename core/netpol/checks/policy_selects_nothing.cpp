// policy-selects-nothing (warning): a policy whose podSelector matches no pod
// of its namespace in the input (lint: the manifest set; cluster audit: live
// pods). Usually a label typo, and the pods it was written for are
// unprotected. Only reported when the input has pods in that namespace:
// policies linted without their workloads say nothing either way. Warning:
// the gap itself is reported on the pods.
#include "net_check.hpp"

#include <algorithm>

namespace loki::checks {
extern const Rule rule_policy_selects_nothing{
    .id = "policy-selects-nothing",
    .severity = Severity::warning,
    .scope = RuleScope::network,
    .description =
        "The policy's podSelector matches no pod of its namespace in the input: a label typo, or a policy for "
        "workloads that are not there.",
    .remediation = "Fix the podSelector (or the pods' labels) so the policy selects the pods it was written for.",
    .summary = "a policy whose `podSelector` matches no pod of the input (cluster audit: no live pod)",
    .subject = RuleSubject::policy,
    .network_check = netpol::checks::policy_selects_nothing,
    .network_order = 5};
}  // namespace loki::checks

namespace loki::netpol::checks {

void policy_selects_nothing(const NetContext& ctx, NetOut& out) {
  for (const auto& p : ctx.inventory.policies) {
    if (p.is_cluster()) continue;  // tiered cluster policies: cluster-policy-* rules
    if (!ctx.selected(p).empty()) continue;
    std::vector<const PodInfo*> candidates;
    if (p.flavor == Policy::Flavor::cilium_clusterwide) {
      for (const auto& pod : ctx.inventory.pods)
        if (!p.namespace_selector || p.namespace_selector->matches(ctx.inventory.namespaces.labels_of(pod.ns)))
          candidates.push_back(&pod);
    } else {
      candidates = ctx.analyzer.pods_in(p.ns);
    }
    if (candidates.empty()) continue;
    // Name the closest pod and why it is missed.
    const PodInfo* closest = nullptr;
    std::size_t best = SIZE_MAX;
    for (const PodInfo* c : candidates) {
      std::size_t fails = 0;
      for (const auto& r : p.pod_selector.requirements()) fails += r.matches(c->labels) ? 0 : 1;
      if (fails < best) best = fails, closest = c;
    }
    std::string where = p.ns.empty() ? std::string("any namespace") : "namespace " + p.ns;
    std::string sel_name = p.is_cilium() ? "endpointSelector" : "podSelector";
    std::string msg = p.ref.name + "'s " + sel_name + " " + p.pod_selector.to_string() + " selects none of the " +
                      std::to_string(candidates.size()) + " pod(s) of " + where + " in the input";
    if (closest) {
      auto misses = selector_misses(p.pod_selector, closest->labels, closest->ref.name);
      msg += "; closest: " + closest->ref.display() + " (labels " + closest->labels_text() + ")";
      for (const auto& m : misses) msg += ", " + m;
    }
    out.push_back({nullptr, &p, p.selector_field, p.selector_line, std::nullopt, msg,
                   "fix spec." + sel_name + " (or the pods' labels) so it selects the pods it was written for"});
  }
}

}  // namespace loki::netpol::checks
