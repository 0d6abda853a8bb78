// metadata-endpoint-reachable (error): the effective egress of a loki-mode
// pod reaches the cloud metadata endpoint (169.254.169.254, or AWS's
// fd00:ec2::254) on TCP 80: node credentials (IAM roles) one curl away.
// Reported when the pod is egress-isolated and a rule still lets it through
// (an ipBlock without the except, `to: []`, a world entity). A pod whose egress
// is not isolated at all reaches it too, but egress-unrestricted (or
// egress-shadowed / host-network-bypasses-policy) already says so and names
// the metadata endpoint; it is reported here only when egress-unrestricted is
// switched off. Error: credential theft.
#include "net_check.hpp"

namespace loki::checks {
extern const Rule rule_metadata_endpoint_reachable{
    .id = "metadata-endpoint-reachable",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "The loki-mode pod's effective egress reaches the cloud metadata endpoint (169.254.169.254 / fd00:ec2::254) on "
        "TCP 80, which hands out node credentials.",
    .remediation =
        "Add `except: [169.254.169.254/32]` to the ipBlock that covers it (or narrow the rule); enforcement of ipBlock "
        "for link-local addresses depends on the CNI, so verify from the pod.",
    .summary = "the pod's egress reaches 169.254.169.254 / fd00:ec2::254",
    .subject = RuleSubject::pod_template,
    .network_check = netpol::checks::metadata_endpoint_reachable,
    .network_order = 7};
}  // namespace loki::checks

namespace loki::netpol::checks {

void metadata_endpoint_reachable(const NetContext& ctx, NetOut& out) {
  static const std::string cni_note =
      " (enforcement of ipBlock for link-local addresses depends on the CNI: verify with `curl -m3 "
      "http://169.254.169.254/` from the pod)";
  const bool open_reported = ctx.config.rule_enabled("egress-unrestricted");
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    const PodNetwork& net = ctx.net_of(pod);
    if (!net->egress_isolated && open_reported) continue;
    for (const auto& addr : metadata_addresses()) {
      Verdict v = ctx.analyzer.allows(net, Destination::address(addr), 80, Protocol::TCP, false);
      if (!v.possible()) continue;  // err toward reachable
      NetFinding f{&pod, nullptr, pod.labels_field, pod.labels_line, std::nullopt, {}, {}};
      std::string cidr = addr.to_string() + (addr.v6 ? "/128" : "/32");
      f.message = "the pod can reach the cloud metadata endpoint " + addr.to_string() + " on TCP 80: ";
      if (!net->policies_apply) {
        f.field = pod.host_network_field;
        f.line = pod.host_network_line;
        f.message += "it uses hostNetwork, so no policy applies";
        f.remediation = "remove `hostNetwork: true`, then deny egress by default";
      } else if (!net->egress_isolated) {
        f.message += "its egress is not isolated";
        f.remediation = "deny egress by default; if you then allow 0.0.0.0/0, add `except: [" + cidr + "]`";
      } else {
        const Grant& g = *v.by;
        f.message += "allowed by " + g.policy->display() + " egress[" + std::to_string(g.rule) + "] (to " +
                     g.peer->to_string() + " on " + g.port->to_string() + ")";
        if (g.peer->kind == Peer::Kind::ip_block)
          f.remediation = "add `except: [" + cidr + "]` to the ipBlock " + g.peer->cidr.to_string() + " of " +
                          g.policy->display() + " egress[" + std::to_string(g.rule) + "]";
        else
          f.remediation = "replace the rule's destination (" + g.peer->to_string() +
                          ") with `ipBlock: {cidr: " + std::string(addr.v6 ? "::/0" : "0.0.0.0/0") + ", except: [" +
                          cidr + "]}`, or better, with the destinations the agent needs";
      }
      f.message += cni_note;
      out.push_back(std::move(f));
      break;  // one finding per pod: the IPv4 one when both are reachable
    }
  }
}

}  // namespace loki::netpol::checks
