// dns-blocked (warning): an egress-isolated loki-mode pod that may not send
// DNS (UDP and TCP 53) while its LOKI_NETWORK_EGRESS_POLICY is not `none`: it
// will fail to resolve the AI API hosts. Warning: a broken agent, not an open
// one (fails closed). Where cluster network policies select the pod, the
// tiers decide (an Admin Deny of DNS blocks it whatever the namespace allows,
// an Admin Accept lets it past a NetworkPolicy, a Baseline rule counts only
// where no NetworkPolicy isolates the pod).
#include "net_check.hpp"

#include <algorithm>

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

namespace {

const char* const kAllowDnsYaml =
    "- to:\n"
    "  - namespaceSelector:\n"
    "      matchLabels: {kubernetes.io/metadata.name: kube-system}\n"
    "    podSelector:\n"
    "      matchLabels: {k8s-app: kube-dns}\n"
    "  ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]";

std::string promise_text(const PodInfo& pod) {
  return pod.egress_policy().present ? "LOKI_NETWORK_EGRESS_POLICY=" + pod.egress_policy().value
                                     : "LOKI_NETWORK_EGRESS_POLICY unset (unrestricted)";
}

// With cluster policies the tiers' verdict decides, per DNS server. The
// servers: the cluster's DNS (a pod resolves through kube-dns unless it says
// otherwise: the kube-dns pods of the input, else a stand-in in kube-system
// labelled k8s-app=kube-dns, the label and port names cluster DNS keeps),
// and what the policies' own port-53 rules name (a node-local cache by
// address, a resolver outside). DNS works when some server answers on UDP 53
// and some on TCP 53; a conditional verdict counts as reachable.
void dns_blocked_tiered(const NetContext& ctx, const PodInfo& pod, const PodNetwork& net, NetOut& out) {
  PodInfo stand_in;
  stand_in.ref = {"v1", "Pod", "kube-system", "kube-dns"};
  stand_in.ns = "kube-system";
  stand_in.labels = {{"k8s-app", "kube-dns"}};
  stand_in.ports = {{"dns", Protocol::UDP, 53}, {"dns-tcp", Protocol::TCP, 53}};  // CoreDNS's named ports
  std::vector<Destination> servers;
  for (const PodInfo* q : ctx.analyzer.pods_in("kube-system")) {
    auto it = q->labels.find("k8s-app");
    if (it != q->labels.end() && it->second == "kube-dns") servers.push_back(Destination::to_pod(*q));
  }
  if (servers.empty()) servers.push_back(Destination::to_pod(stand_in));
  for (const Probe& pr : egress_probes(ctx, pod, net)) {
    if (pr.port != 53) continue;
    const std::string d = pr.dest.to_string();
    if (std::none_of(servers.begin(), servers.end(), [&](const Destination& s) { return s.to_string() == d; }))
      servers.push_back(pr.dest);
  }
  bool udp = false, tcp = false;
  std::optional<Verdict> udp_no, tcp_no;  // the cluster DNS's refusal (servers[0]), for the message
  for (const Destination& d : servers) {
    for (Protocol proto : {Protocol::UDP, Protocol::TCP}) {
      bool& reached = proto == Protocol::UDP ? udp : tcp;
      if (reached) continue;
      Verdict v = ctx.analyzer.allows(net, d, 53, proto);
      if (v.possible()) {
        reached = true;
      } else {
        std::optional<Verdict>& no = proto == Protocol::UDP ? udp_no : tcp_no;
        if (!no) no = std::move(v);
      }
    }
  }
  if (udp && tcp) return;
  const Verdict& why = !udp ? *udp_no : *tcp_no;
  std::string missing = !udp && !tcp ? "UDP or TCP 53" : !udp ? "UDP 53" : "TCP 53";
  std::string remediation;
  if (why.tier == "Admin")
    remediation =
        "accept DNS to kube-dns in the Admin tier, in a rule before that Deny (a lower priority number, or an "
        "earlier rule):\n"
        "- name: accept-dns\n"
        "  action: Accept\n"
        "  to:\n"
        "  - pods:\n"
        "      namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n"
        "      podSelector: {matchLabels: {k8s-app: kube-dns}}\n"
        "  protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {number: 53}}}]";
  else if (why.tier == "Baseline")
    remediation =
        "accept DNS to kube-dns in the Baseline tier before that Deny, or in a NetworkPolicy that selects "
        "the pod:\n" +
        std::string(kAllowDnsYaml);
  else
    remediation = "allow DNS to kube-dns in a NetworkPolicy that selects the pod:\n" + std::string(kAllowDnsYaml);
  out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt,
                 "with the cluster network policies (Admin, NetworkPolicy, Baseline tiers) the pod cannot send DNS (" +
                     missing + ": " + why.reason + "), while " + promise_text(pod) +
                     ": it will fail to resolve the AI API hosts" + (udp ? " when a DNS answer needs TCP" : ""),
                 remediation});
}

}  // namespace

void dns_blocked(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (pod.egress_policy().present && (!pod.egress_policy().literal || pod.egress_policy().value == "none")) continue;
    if (!net->admin.empty() || !net->baseline.empty()) {
      dns_blocked_tiered(ctx, pod, net, out);
      continue;
    }
    if (!net->egress_isolated) continue;
    const bool udp = ctx.analyzer.any_grant_covers_port(net->egress, 53, Protocol::UDP);
    const bool tcp = ctx.analyzer.any_grant_covers_port(net->egress, 53, Protocol::TCP);
    if (udp && tcp) continue;
    std::string missing = !udp && !tcp ? "UDP or TCP 53" : !udp ? "UDP 53" : "TCP 53";
    out.push_back({&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt,
                   "the pod is egress-isolated by " + names_of(net->egress_policies) + " and no rule allows DNS (" +
                       missing + "), while " + promise_text(pod) + ": it will fail to resolve the AI API hosts" +
                       (udp ? " when a DNS answer needs TCP" : ""),
                   "allow DNS to kube-dns in one of those policies:\n" + std::string(kAllowDnsYaml)});
  }
}

}  // namespace loki::netpol::checks
