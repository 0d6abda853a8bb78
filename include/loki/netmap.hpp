// The reachability map of a namespace (`loki-audit netmap`): every pod (or
// workload's pod template) to every other, plus the internet, the cloud
// metadata endpoint and cluster DNS, each cell a verdict of Analyzer::connect
// (the source's egress and, for a pod, the destination's ingress). Pure.
#pragma once

#include <loki/netpol.hpp>

#include <memory>
#include <string>
#include <vector>

namespace loki::netpol {

// An inclusive range of ports of one protocol.
struct PortRange {
  Protocol protocol = Protocol::TCP;
  int first = 1;
  int last = 65535;
  bool operator==(const PortRange&) const = default;
};

// The connections from one pod to another, as np-guard's netpol-analyzer lists
// them: the exact set of (protocol, port) pairs, every port of every protocol
// considered. `conditional` holds the ones allowed only under a condition.
struct ConnSet {
  std::vector<PortRange> allowed;  // sorted by protocol then port, adjacent ranges merged
  std::vector<PortRange> conditional;
  std::string condition;  // the first condition met (a reason of Analyzer::connect)

  Verdict::Answer answer() const;  // allowed if any port is, else conditional if any is, else denied
};

// "all" (every port of TCP, UDP and SCTP), "TCP/80,443 UDP/53", "TCP/*", "-" (empty).
std::string to_string(const std::vector<PortRange>& ranges);

// One of the fixed destinations of the map, probed on one port each.
struct NetmapProbe {
  Destination dest;
  int port = 0;
  Protocol protocol = Protocol::TCP;
  std::string text;  // "1.1.1.1:443/TCP"
};

struct NetmapExternal {
  std::string id;     // "internet", "metadata", "dns"
  std::string label;  // for headers and nodes
  std::vector<NetmapProbe> probes;
  bool sensitive = false;  // open egress to it is what an agent must not have
};

// A cell to a fixed destination: its probes' connections; allowed when any
// probe is (an open family is enough), else conditional when any is.
struct ExternalCell {
  std::vector<Connection> probes;
  Verdict::Answer answer = Verdict::Answer::denied;
};

struct Netmap {
  std::string ns;
  std::vector<const PodInfo*> pods;            // the namespace's, in inventory order
  std::vector<std::vector<ConnSet>> conns;     // [from][to]; [i][i] empty (a workload to itself is not listed)
  std::vector<NetmapExternal> externals;       // internet, metadata, dns
  std::vector<std::vector<ExternalCell>> out;  // [from][external]
  // The DNS destination when the input has no kube-dns pod: a stand-in
  // (kube-system, k8s-app=kube-dns, dns UDP/53 and dns-tcp TCP/53).
  std::shared_ptr<PodInfo> dns_stand_in;
};

// The cluster DNS pod of the inventory (kube-system, k8s-app=kube-dns), or nullptr.
const PodInfo* find_kube_dns(const Analyzer& analyzer);

// The connections from `from` to `to` over every protocol and port. Ports are
// split into ranges on which every policy of either side agrees (each
// numeric port, endPort and the destination's named ports is a boundary), and
// connect() answers one port of each range.
ConnSet connections(const Analyzer& analyzer, const PodInfo& from, const PodInfo& to);

// The map of `ns`: its pods in inventory order, the fixed destinations.
Netmap compute_netmap(const Analyzer& analyzer, const std::string& ns);

struct NetmapTextOptions {
  bool color = false;  // ANSI colours (a tty)
};
std::string netmap_text(const Netmap& map, const NetmapTextOptions& opts = {});
// The schema is in the README ("loki-audit netmap").
nlohmann::json netmap_json(const Netmap& map);
// A Graphviz digraph for `dot -Tsvg`.
std::string netmap_dot(const Netmap& map);

}  // namespace loki::netpol
