// egress-unrestricted (error): a loki-mode pod that no egress-isolating policy
// selects can reach anything: the internet, the cloud metadata endpoint,
// every service of the cluster. Error: egress containment is the agent
// sandbox's main network control. The shadowed case and the hostNetwork case
// with selecting policies have their own, more precise rules.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_egress_unrestricted{
    .id = "egress-unrestricted",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "No NetworkPolicy (or CiliumNetworkPolicy) with Egress selects the loki-mode pod, so its egress is "
        "unrestricted: "
        "the internet, the cloud metadata endpoint and every in-cluster service.",
    .remediation =
        "Add a default-deny egress policy for the namespace (podSelector: {}, policyTypes: [Egress]) and allow only "
        "DNS and what the agent needs.",
    .summary = "a loki-mode pod that no egress-isolating policy selects",
    .subject = RuleSubject::pod_template,
    .egress_open = true,
    .network_check = netpol::checks::egress_unrestricted,
    .network_order = 1};
}  // namespace loki::checks

namespace loki::netpol::checks {

void egress_unrestricted(const NetContext& ctx, NetOut& out) {
  const bool hn_rule = ctx.config.rule_enabled("host-network-bypasses-policy");
  const bool shadow_rule = ctx.config.rule_enabled("egress-shadowed");
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (net->egress_isolated) continue;
    if (hn_rule && host_network_selected(ctx, pod)) continue;
    if (shadow_rule && is_shadowed(ctx, pod)) continue;
    // Cluster policies (Admin, Baseline) may restrict a pod no NetworkPolicy
    // isolates: unrestricted only if the outside world stays reachable.
    if (!net->admin.empty() || !net->baseline.empty()) {
      bool open = false;
      for (const char* ip : {"1.1.1.1", "2606:4700:4700::1111"})
        open |=
            ctx.analyzer.allows(net, Destination::address(*IpAddress::parse(ip)), 443, Protocol::TCP, false).possible();
      if (!open) continue;
    }
    NetFinding f{&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt, {}, {}};
    const std::string anything =
        "it can reach anything (the internet, the cloud metadata endpoint, every service "
        "of the cluster)";
    if (pod.host_network) {
      f.field = pod.host_network_field;
      f.line = pod.host_network_line;
      f.message = "the pod uses hostNetwork: true, so NetworkPolicy does not apply to it: " + anything;
      f.remediation = "remove `hostNetwork: true` and isolate the pod with a default-deny egress policy";
      out.push_back(std::move(f));
      continue;
    }
    std::vector<const Policy*> egress_without_deny;
    for (const Policy* p : net->egress_policies)
      if (!p->egress_default_deny) egress_without_deny.push_back(p);
    if (!egress_without_deny.empty()) {
      f.message = "the egress policies that select this pod (" + names_of(egress_without_deny) +
                  ") set enableDefaultDeny.egress: false, so they do not isolate it: " + anything;
    } else if (!net->selecting.empty()) {
      f.message = "no policy with Egress selects this pod; the ones that do select it (" + names_of(net->selecting) +
                  ") are ingress-only, so " + anything;
    } else {
      f.message = "no NetworkPolicy with Egress selects this pod (labels: " + pod.labels_text() + "), so " + anything;
    }
    if (auto nm = nearest_miss(ctx, pod)) {
      f.message += ". " + nm->policy->display() + " isolates egress in this namespace but misses it: " + nm->why;
      f.remediation = nm->fix;
    } else {
      f.remediation = "deny egress by default in namespace " + pod.ns +
                      " and allow only DNS and what the agent needs:\n" + default_deny_yaml(pod.ns);
    }
    out.push_back(std::move(f));
  }
}

}  // namespace loki::netpol::checks
