// egress-shadowed (error): the fourth seed. An egress-isolating policy exists
// in the pod's namespace but its podSelector misses the pod, and the only
// policies that do select the pod are ingress-only, so `kubectl describe`
// shows the pod "covered" while its egress is wide open. Error: the operator
// believes egress is denied and it is not, the most dangerous gap there is.
#include "net_check.hpp"

#include <algorithm>

namespace loki::checks {
extern const Rule rule_egress_shadowed{
    .id = "egress-shadowed",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "A loki-mode pod is selected only by ingress-only policies while an egress-isolating policy of its namespace "
        "misses it (its podSelector does not match the pod's labels): egress is wide open although the namespace "
        "looks locked down.",
    .remediation = "Add the label the egress policy selects to the pod template, or widen that policy's podSelector.",
    .summary =
        "only ingress-only policies select the pod while an egress-isolating policy of its namespace misses it; names "
        "the "
        "policy and the missing label",
    .subject = RuleSubject::pod_template,
    .egress_open = true,
    .network_check = netpol::checks::egress_shadowed,
    .network_order = 2};
}  // namespace loki::checks

namespace loki::netpol::checks {

namespace {

std::string label_fix(const Requirement& r, const Labels& labels) {
  using Op = Requirement::Op;
  auto it = labels.find(r.key);
  switch (r.op) {
    case Op::Equals:
    case Op::In:
      return (it == labels.end() ? "add the label `" : "set the label `") + r.key + ": " + r.values.front() + "`";
    case Op::Exists:
      return "add a label `" + r.key + "`";
    case Op::NotEquals:
    case Op::NotIn:
      return "change the label `" + r.key + "` (the selector excludes " +
             (it == labels.end() ? "" : std::string(it->second)) + ")";
    case Op::DoesNotExist:
      return "remove the label `" + r.key + "`";
  }
  return {};
}

}  // namespace

std::string default_deny_yaml(const std::string& ns) {
  return "apiVersion: networking.k8s.io/v1\n"
         "kind: NetworkPolicy\n"
         "metadata:\n"
         "  name: deny-all-egress\n"
         "  namespace: " +
         ns +
         "\n"
         "spec:\n"
         "  podSelector: {}\n"
         "  policyTypes: [Egress]\n"
         "  egress:\n"
         "  - to:\n"
         "    - namespaceSelector:\n"
         "        matchLabels: {kubernetes.io/metadata.name: kube-system}\n"
         "      podSelector:\n"
         "        matchLabels: {k8s-app: kube-dns}\n"
         "    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]";
}

std::optional<NearMiss> nearest_miss(const NetContext& ctx, const PodInfo& pod) {
  auto missing = missing_egress_policies(ctx, pod);
  if (missing.empty()) return std::nullopt;
  // Fewest failing requirements first; then the first in the files.
  std::vector<std::pair<std::size_t, const Policy*>> ranked;
  for (const Policy* p : missing) {
    std::size_t fails = 0;
    for (const auto& r : p->pod_selector.requirements()) fails += r.matches(pod.labels) ? 0 : 1;
    ranked.push_back({p->pod_selector.selects_nothing() ? 1000 : fails, p});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  NearMiss nm;
  nm.policy = ranked.front().second;
  for (std::size_t i = 1; i < ranked.size(); ++i) nm.others.push_back(ranked[i].second);
  const Policy& p = *nm.policy;
  nm.why = p.ref.name + " selects " + p.pod_selector.to_string();
  for (const auto& m : selector_misses(p.pod_selector, pod.labels, pod.ref.name)) nm.why += "; " + m;
  std::vector<std::string> fixes;
  for (const auto& r : p.pod_selector.requirements())
    if (!r.matches(pod.labels)) fixes.push_back(label_fix(r, pod.labels));
  std::string where = dotted(pod.labels_field) + " of " + pod.ref.display();
  std::string fix;
  for (std::size_t i = 0; i < fixes.size(); ++i) fix += (i ? " and " : "") + fixes[i];
  std::string selector_field = p.is_cilium() ? "endpointSelector" : "podSelector";
  nm.fix =
      (fix.empty() ? std::string("fix the selector") : fix + " in " + where) + ", or change the " + selector_field +
      " of " + p.display() + " (now " + p.pod_selector.to_string() + ") so it also selects " + pod.labels_text() +
      (p.ns.empty() ? std::string() : " (`" + selector_field + ": {}` selects every pod of namespace " + p.ns + ")");
  return nm;
}

void egress_shadowed(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!is_shadowed(ctx, pod)) continue;
    const PodNetwork& net = ctx.net_of(pod);
    auto nm = nearest_miss(ctx, pod);
    if (!nm) continue;
    std::string msg = "egress is unrestricted although " + nm->policy->display() +
                      " isolates egress in this namespace: " + nm->why + " (pod labels: " + pod.labels_text() +
                      "). Only ingress-only policies select the pod (" + names_of(net->selecting) +
                      "), and they leave its egress open";
    if (!nm->others.empty()) msg += "; " + names_of(nm->others) + " miss it too";
    out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt, msg, nm->fix});
  }
}

}  // namespace loki::netpol::checks
