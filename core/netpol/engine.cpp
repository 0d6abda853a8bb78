// Selection, isolation, allowed egress and `allows`, with the semantics of
// networking.k8s.io/v1: a pod is isolated for a direction once any policy
// that selects it has that policy type; what it may then reach is the union
// of the rules of those policies (no policy overrides or shadows another).
// hostNetwork pods are outside NetworkPolicy altogether.
#include <loki/netpol.hpp>

#include <algorithm>
#include <cctype>

namespace loki::netpol {

Analyzer::Analyzer(const Inventory& inv) : inv_(inv) {
  for (const auto& p : inv.policies) {
    if (p.flavor == Policy::Flavor::cilium_clusterwide)
      clusterwide_.push_back(&p);
    else
      by_ns_[p.ns].push_back(&p);
  }
  for (const auto& pod : inv.pods) {
    pods_by_ns_[pod.ns].push_back(&pod);
    for (const auto& np : pod.ports) {
      auto& v = named_ports_[np.name];
      if (std::find(v.begin(), v.end(), std::pair{np.protocol, np.port}) == v.end())
        v.push_back({np.protocol, np.port});
    }
  }
}

std::vector<const Policy*> Analyzer::policies_for(const std::string& ns) const {
  std::vector<const Policy*> out;
  if (auto it = by_ns_.find(ns); it != by_ns_.end()) out = it->second;
  out.insert(out.end(), clusterwide_.begin(), clusterwide_.end());
  return out;
}

const std::vector<const PodInfo*>& Analyzer::pods_in(const std::string& ns) const {
  static const std::vector<const PodInfo*> none;
  auto it = pods_by_ns_.find(ns);
  return it == pods_by_ns_.end() ? none : it->second;
}

bool Analyzer::selects(const Policy& policy, const PodInfo& pod) const {
  if (policy.flavor == Policy::Flavor::cilium_clusterwide) {
    if (policy.namespace_selector && !policy.namespace_selector->matches(inv_.namespaces.labels_of(pod.ns)))
      return false;
  } else if (policy.ns != pod.ns) {
    return false;
  }
  return policy.pod_selector.matches(pod.labels);
}

PodNetwork Analyzer::analyze(const PodInfo& pod) const {
  PodNetwork net;
  net.pod = &pod;
  net.policies_apply = !pod.host_network;
  bool default_deny = false;
  auto consider = [&](const Policy* p) {
    if (!selects(*p, pod)) return;
    net.selecting.push_back(p);
    if (p->ingress) net.ingress_policies.push_back(p);
    if (p->egress) {
      net.egress_policies.push_back(p);
      default_deny |= p->egress_default_deny;
    }
  };
  if (auto it = by_ns_.find(pod.ns); it != by_ns_.end())
    for (const Policy* p : it->second) consider(p);
  for (const Policy* p : clusterwide_) consider(p);
  net.ingress_isolated = net.policies_apply && !net.ingress_policies.empty();
  net.egress_isolated = net.policies_apply && default_deny;
  if (!net.egress_isolated) {
    net.egress.push_back(Grant{});
    return net;
  }
  for (const Policy* p : net.egress_policies)
    for (std::size_t r = 0; r < p->egress_rules.size(); ++r)
      for (const auto& peer : p->egress_rules[r].to)
        for (const auto& port : p->egress_rules[r].ports) net.egress.push_back(Grant{p, r, &peer, &port});
  return net;
}

bool Analyzer::namespace_matches(const Policy& policy, const Peer& peer, const std::string& ns) const {
  if (!peer.namespace_selector) return policy.flavor == Policy::Flavor::cilium_clusterwide ? true : ns == policy.ns;
  return peer.namespace_selector->matches(inv_.namespaces.labels_of(ns));
}

namespace {
std::string normalize_host(std::string_view h) {
  std::string s;
  for (char c : h) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool in_block(const Peer& peer, const IpAddress& ip) {
  if (!peer.cidr.contains(ip)) return false;
  for (const auto& e : peer.except)
    if (e.contains(ip)) return false;
  return true;
}
}  // namespace

bool Analyzer::peer_matches(const Policy& policy, const Peer& peer, const Destination& dest) const {
  switch (peer.kind) {
    case Peer::Kind::any:
      return true;
    case Peer::Kind::pods:
      return dest.kind == Destination::Kind::pod && dest.pod && namespace_matches(policy, peer, dest.pod->ns) &&
             peer.pod_selector.matches(dest.pod->labels);
    case Peer::Kind::ip_block:
      if (dest.kind == Destination::Kind::ip) return in_block(peer, dest.ip);
      if (dest.kind == Destination::Kind::pod) {
        // ipBlock matches a pod by its IP; without one, only a block of the
        // whole address space certainly contains it.
        if (dest.pod && dest.pod->ip) return in_block(peer, *dest.pod->ip);
        return peer.cidr.everything() && peer.except.empty();
      }
      // A name resolves to some address: only a block of everything certainly covers it.
      return peer.cidr.everything();
    case Peer::Kind::fqdn:
      if (dest.kind != Destination::Kind::host) return false;
      return peer.fqdn_pattern ? fqdn_pattern_matches(peer.fqdn, dest.host) : peer.fqdn == normalize_host(dest.host);
    case Peer::Kind::entity:
      if (peer.entity == "all") return true;
      if (peer.entity == "world") return dest.kind != Destination::Kind::pod;
      if (peer.entity == "cluster") return dest.kind == Destination::Kind::pod;
      return false;
  }
  return false;
}

bool Analyzer::port_matches(const PortSpec& spec, const Destination& dest, int port, Protocol protocol) const {
  if (!spec.covers_protocol(protocol)) return false;
  if (spec.name.empty()) return spec.covers_number(port, protocol);
  // A named port is resolved against the destination pod's container ports.
  if (dest.kind != Destination::Kind::pod || !dest.pod) return false;
  for (const auto& np : dest.pod->ports)
    if (np.name == spec.name && np.protocol == protocol && np.port == port) return true;
  return false;
}

const std::vector<const PodInfo*>& Analyzer::pods_of_peer(const Policy& policy, const Peer& peer) const {
  auto [it, fresh] = peer_pods_.try_emplace(&peer);
  std::vector<const PodInfo*>& out = it->second;
  if (!fresh || peer.kind != Peer::Kind::pods) return out;
  for (const auto& [ns, pods] : pods_by_ns_) {
    if (!namespace_matches(policy, peer, ns)) continue;
    for (const PodInfo* p : pods)
      if (peer.pod_selector.matches(p->labels)) out.push_back(p);
  }
  return out;
}

bool Analyzer::grant_covers_port(const Grant& g, int port, Protocol protocol) const {
  if (!g.policy) return true;
  const PortSpec& s = *g.port;
  if (!s.covers_protocol(protocol)) return false;
  if (s.name.empty()) return s.covers_number(port, protocol);
  // kube-dns / CoreDNS name their ports dns (UDP 53) and dns-tcp (TCP 53).
  if (port == 53 && protocol == Protocol::UDP && s.name == "dns") return true;
  if (port == 53 && protocol == Protocol::TCP && s.name == "dns-tcp") return true;
  auto known = named_ports_.find(s.name);
  if (known == named_ports_.end() ||
      std::find(known->second.begin(), known->second.end(), std::pair{protocol, port}) == known->second.end())
    return false;  // no pod at all maps this name to this port
  for (const PodInfo* p : pods_of_peer(*g.policy, *g.peer))
    for (const auto& np : p->ports)
      if (np.name == s.name && np.protocol == protocol && np.port == port) return true;
  return false;
}

Verdict Analyzer::allows(const PodNetwork& net, const Destination& dest, int port, Protocol protocol) const {
  Verdict v;
  std::string what = dest.to_string() + " on " + std::string(to_string(protocol)) + "/" + std::to_string(port);
  if (!net.policies_apply) {
    v.allowed = true;
    v.by = Grant{};
    v.reason = what + " is allowed: the pod uses hostNetwork, and NetworkPolicy does not apply to it";
    return v;
  }
  if (!net.egress_isolated) {
    v.allowed = true;
    v.by = Grant{};
    v.reason = what + " is allowed: the pod is not egress-isolated (no policy with Egress selects it)";
    return v;
  }
  for (const auto& g : net.egress) {
    if (peer_matches(*g.policy, *g.peer, dest) && port_matches(*g.port, dest, port, protocol)) {
      v.allowed = true;
      v.by = g;
      v.reason = what + " is allowed by " + g.policy->display() + " egress[" + std::to_string(g.rule) + "]: to " +
                 g.peer->to_string() + " on " + g.port->to_string();
      return v;
    }
  }
  std::string names;
  for (const Policy* p : net.egress_policies) names += (names.empty() ? "" : ", ") + p->display();
  v.reason = what + " is denied: the pod is egress-isolated by " + names + " and no egress rule of theirs allows it";
  return v;
}

std::vector<std::string> selector_misses(const LabelSelector& sel, const Labels& labels, std::string_view subject) {
  std::vector<std::string> out;
  const std::string who(subject);
  if (sel.selects_nothing()) {
    out.push_back("the selector is null and selects nothing");
    return out;
  }
  auto joined = [](const std::vector<std::string>& v, const char* sep) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
  };
  for (const auto& r : sel.requirements()) {
    if (r.matches(labels)) continue;
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    using Op = Requirement::Op;
    switch (r.op) {
      case Op::Equals:
      case Op::In:
        if (!has)
          out.push_back(who + " has no label " + r.key);
        else
          out.push_back(who + " has " + r.key + "=" + it->second + ", not " + joined(r.values, " or "));
        break;
      case Op::NotEquals:
      case Op::NotIn:
        out.push_back(who + " has " + r.key + "=" + it->second + ", which the selector excludes (" + r.to_string() +
                      ")");
        break;
      case Op::Exists:
        out.push_back(who + " has no label " + r.key);
        break;
      case Op::DoesNotExist:
        out.push_back(who + " has label " + r.key + "=" + it->second + ", which the selector requires to be absent");
        break;
    }
  }
  return out;
}

}  // namespace loki::netpol
