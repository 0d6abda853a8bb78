// What the network rules in this folder share: the analysed inventory, and
// the raw finding each rule reports (core/netpol/network_checks.cpp fills in
// object, file, severity and ignores).
#pragma once

#include <loki/config.hpp>
#include <loki/netpol.hpp>
#include <loki/rules.hpp>

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace loki::netpol::checks {

struct NetContext {
  const Analyzer& analyzer;
  const Config& config;
  const Inventory& inventory;
  const std::vector<PodNetwork>& nets;  // one per inventory.pods entry
  // The pods each policy selects (by record: the inventory may refer to records it does not own).
  const std::unordered_map<const Policy*, std::vector<const PodInfo*>>& selected_by;
  const std::vector<std::string>& ai_hosts_default;  // config.ai_hosts

  const std::vector<const PodInfo*>& selected(const Policy& p) const {
    static const std::vector<const PodInfo*> kNone;
    auto it = selected_by.find(&p);
    return it == selected_by.end() ? kNone : it->second;
  }
  const PodNetwork& net_of(const PodInfo& p) const {
    return nets[static_cast<std::size_t>(&p - inventory.pods.data())];
  }
};

// What a network check reports; the network pass stamps the rule's id.
struct NetFinding {
  const PodInfo* pod = nullptr;    // the finding is about this workload...
  const Policy* policy = nullptr;  // ...or this policy
  std::string field;
  int line = 0;
  std::optional<std::string> container;
  std::string message;
  std::string remediation;
};

// Where a rule reports: each finding goes to the pass at once, so a rule's
// findings are never all held together (egress-policy-mismatch's messages
// name policies: 17 MB at 100k generated objects).
class NetOut {
 public:
  explicit NetOut(std::function<void(NetFinding&&)> sink) : sink_(std::move(sink)) {}
  void push_back(NetFinding&& f) const { sink_(std::move(f)); }
  void push_back(const NetFinding& f) const { sink_(NetFinding(f)); }

 private:
  std::function<void(NetFinding&&)> sink_;
};

// The checks, one per file in this folder (the registry names them in each Rule).
void egress_unrestricted(const NetContext&, NetOut&);
void egress_shadowed(const NetContext&, NetOut&);
void deny_egress_is_ingress_only(const NetContext&, NetOut&);
void egress_rules_ignored(const NetContext&, NetOut&);
void policy_selects_nothing(const NetContext&, NetOut&);
void egress_to_any(const NetContext&, NetOut&);
void metadata_endpoint_reachable(const NetContext&, NetOut&);
void host_network_bypasses_policy(const NetContext&, NetOut&);
void dns_blocked(const NetContext&, NetOut&);
void egress_policy_mismatch(const NetContext&, NetOut&);
void cluster_pass_unisolated(const NetContext&, NetOut&);
void baseline_deny_shadowed(const NetContext&, NetOut&);
void cluster_policy_selects_no_agent(const NetContext&, NetOut&);

// ---- helpers shared by the rules ----------------------------------------------

// A connection to test: cluster policies are ordered rules over a whole
// cluster, so what they leave open is checked by asking the engine about
// destinations that stand for each rule's peers.
struct Probe {
  Destination dest;
  int port = 0;
  Protocol protocol = Protocol::TCP;
  std::string text() const;  // "1.1.1.1 on TCP/443"
};
// Destinations a cluster rule's peers stand for (a pod of each pods peer,
// each network's first address, each domain name), on its ports (a range:
// its first port; no port: TCP 443).
std::vector<Probe> rule_probes(const NetContext& ctx, const Policy& p, const EgressRule& rule, const PodInfo& from);
// Those of every egress rule of the cluster policies selecting the pod, of
// its NetworkPolicy rules, and the outside world (IPv4, IPv6, a host name),
// on TCP 443, TCP 80 and every port the rules name.
std::vector<Probe> egress_probes(const NetContext& ctx, const PodInfo& pod, const PodNetwork& net);

// "spec.template.metadata.labels" from "/spec/template/metadata/labels".
std::string dotted(std::string_view pointer);
// "NetworkPolicy a, NetworkPolicy b" (at most `max`, then "and N more").
std::string names_of(const std::vector<const Policy*>& policies, std::size_t max = 4);
std::string names_of(const std::vector<const PodInfo*>& pods, std::size_t max = 4);
// "TCP/443, UDP/53" or "every port".
std::string ports_text(const std::vector<PortSpec>& ports);
// A port spec that only carries DNS (53, or the kube-dns port names).
bool is_dns_port(const PortSpec& p);
// The cloud metadata endpoints (IPv4 and AWS's IPv6 one).
const std::vector<IpAddress>& metadata_addresses();
// The egress-isolating policies of the pod's namespace (and clusterwide) that do not select it.
std::vector<const Policy*> missing_egress_policies(const NetContext& ctx, const PodInfo& pod);
// Whether egress-shadowed describes this pod (see egress_shadowed.cpp).
bool is_shadowed(const NetContext& ctx, const PodInfo& pod);
// Whether host-network-bypasses-policy describes this pod.
bool host_network_selected(const NetContext& ctx, const PodInfo& pod);

// The egress-isolating policy that comes closest to selecting the pod, why it
// does not ("deny-all-egress selects role=backend; llm-api has no label
// role"), and the fix (the label to add, or the selector to change).
struct NearMiss {
  const Policy* policy = nullptr;
  std::string why;
  std::string fix;
  std::vector<const Policy*> others;  // further egress policies that miss the pod
};
std::optional<NearMiss> nearest_miss(const NetContext& ctx, const PodInfo& pod);

// A default-deny egress NetworkPolicy plus DNS for the namespace, as YAML.
std::string default_deny_yaml(const std::string& ns);

}  // namespace loki::netpol::checks
