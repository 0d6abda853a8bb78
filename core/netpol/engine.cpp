// Selection, isolation, allowed egress and `allows`, with the semantics of
// networking.k8s.io/v1: a pod is isolated for a direction once any policy
// that selects it has that policy type; what it may then reach is the union
// of the rules of those policies (no policy overrides or shadows another).
// hostNetwork pods: implementation-defined, both permitted behaviours are
// evaluated (see HostModel).
#include <loki/netpol.hpp>

#include <algorithm>
#include <cctype>
#include <tuple>

namespace loki::netpol {

Analyzer::Analyzer(const Inventory& inv) : inv_(inv) {
  for (const auto& p : inv.policies) {
    if (p.flavor == Policy::Flavor::cilium_clusterwide)
      clusterwide_.push_back(&p);
    else if (p.is_cluster())
      cluster_.push_back(&p);
    else
      by_ns_[p.ns].push_back(&p);
  }
  // "Policy tiers are evaluated in the following order: Admin tier,
  // NetworkPolicy tier, Baseline tier"; within a tier "Policies with lower
  // priority values have higher precedence". Same priority: any order (the
  // engine evaluates such a group as one, see tiered()); by name for output.
  std::stable_sort(cluster_.begin(), cluster_.end(), [](const Policy* a, const Policy* b) {
    return std::tuple(a->tier, a->priority, a->ref.name, a->ref.kind) <
           std::tuple(b->tier, b->priority, b->ref.name, b->ref.kind);
  });
  for (const auto& pod : inv.pods) {
    pods_by_ns_[pod.ns].push_back(&pod);
    for (const auto& np : pod.ports) named_ports_[np.name].push_back({np.protocol, np.port});
  }
  // Sorted and unique, for binary search: a name many pods map to different
  // numbers was a linear scan per question (5,000 such pods and one rule of
  // 2,000 peers: a minute).
  for (auto& [name, v] : named_ports_) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
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
  if (policy.is_cluster()) {
    // "Note that host-networked pods are not included in subject selection."
    if (pod.host_network) return false;
    return (!policy.namespace_selector || policy.namespace_selector->matches(inv_.namespaces.labels_of(pod.ns))) &&
           policy.pod_selector.matches(pod.labels);
  }
  if (policy.flavor == Policy::Flavor::cilium_clusterwide) {
    if (policy.namespace_selector && !policy.namespace_selector->matches(inv_.namespaces.labels_of(pod.ns)))
      return false;
  } else if (policy.ns != pod.ns) {
    return false;
  }
  return policy.pod_selector.matches(pod.labels);
}

GrantList GrantList::everything(bool ingress) {
  GrantList g;
  g.everything_ = true;
  g.ingress_ = ingress;
  return g;
}

GrantList GrantList::of(const std::vector<const Policy*>& policies, bool ingress) {
  GrantList g;
  g.ingress_ = ingress;
  std::size_t n = 0;
  for (const Policy* p : policies) n += (ingress ? p->ingress_rules : p->egress_rules).size();
  g.rules_.reserve(n);  // sized exactly: the network pass keeps every isolation to its end
  for (const Policy* p : policies)
    for (std::size_t r = 0; r < (ingress ? p->ingress_rules : p->egress_rules).size(); ++r) g.rules_.push_back({p, r});
  return g;
}

const EgressRule& GrantList::rule(const RuleRef& r) const {
  return (ingress_ ? r.policy->ingress_rules : r.policy->egress_rules)[r.rule];
}

std::size_t GrantList::size() const {
  if (everything_) return 1;
  std::size_t n = 0;
  for (const auto& r : rules_) n += rule(r).to.size() * rule(r).ports.size();
  return n;
}

GrantList::iterator GrantList::begin() const {
  iterator it;
  it.list_ = this;
  it.settle();
  return it;
}

GrantList::iterator GrantList::end() const {
  iterator it;
  it.list_ = this;
  it.rule_ = everything_ ? 1 : rules_.size();
  return it;
}

void GrantList::iterator::settle() {
  if (list_->everything_) return;
  while (rule_ < list_->rules_.size()) {
    const EgressRule& r = list_->rule(list_->rules_[rule_]);
    if (peer_ < r.to.size() && port_ < r.ports.size()) return;
    ++rule_;
    peer_ = port_ = 0;
  }
}

Grant GrantList::iterator::operator*() const {
  if (list_->everything_) return Grant{nullptr, 0, nullptr, nullptr, list_->ingress_};
  const RuleRef& ref = list_->rules_[rule_];
  const EgressRule& r = list_->rule(ref);
  return Grant{ref.policy, ref.rule, &r.to[peer_], &r.ports[port_], list_->ingress_};
}

GrantList::iterator& GrantList::iterator::operator++() {
  if (list_->everything_) {
    ++rule_;
    return *this;
  }
  const EgressRule& r = list_->rule(list_->rules_[rule_]);
  if (++port_ == r.ports.size()) {
    port_ = 0;
    if (++peer_ == r.to.size()) {
      peer_ = 0;
      ++rule_;
    }
  }
  settle();
  return *this;
}

std::size_t Analyzer::IsolationKeyHash::operator()(const IsolationKey& key) const noexcept {
  std::size_t h = key.policies_apply ? 0x9e3779b97f4a7c15ULL : 0;
  for (const Policy* p : key.policies) h = (h ^ std::hash<const Policy*>{}(p)) * 0x100000001b3ULL;
  return h;
}

PodNetwork Analyzer::analyze(const PodInfo& pod, bool host_network_as_pod) const {
  IsolationKey key;
  key.policies_apply = !pod.host_network || host_network_as_pod;
  auto consider = [&](const Policy* p) {
    if (selects(*p, pod)) key.policies.push_back(p);
  };
  if (auto it = by_ns_.find(pod.ns); it != by_ns_.end())
    for (const Policy* p : it->second) consider(p);
  for (const Policy* p : clusterwide_) consider(p);
  const std::size_t namespaced = key.policies.size();
  for (const Policy* p : cluster_) consider(p);
  const std::size_t hash = IsolationKeyHash{}(key);
  IsolationShard& shard = isolations_[(hash >> 32) % kIsolationShards];
  {
    std::shared_lock lk(shard.mu.m);
    if (auto it = shard.map.find(key); it != shard.map.end()) return PodNetwork{&pod, it->second};
  }

  auto iso = std::make_shared<Isolation>();
  Isolation& net = *iso;
  net.policies_apply = key.policies_apply;
  bool default_deny = false;
  net.selecting.assign(key.policies.begin(), key.policies.begin() + static_cast<std::ptrdiff_t>(namespaced));
  for (const Policy* p : net.selecting) {
    if (p->ingress) {
      net.ingress_policies.push_back(p);
      net.cilium_ingress |= p->is_cilium();
    }
    if (p->egress) {
      net.egress_policies.push_back(p);
      default_deny |= p->egress_default_deny;
    }
  }
  for (std::size_t i = namespaced; i < key.policies.size(); ++i)
    (key.policies[i]->tier == Tier::admin ? net.admin : net.baseline).push_back(key.policies[i]);
  net.ingress_isolated = net.policies_apply && !net.ingress_policies.empty();
  net.egress_isolated = net.policies_apply && default_deny;
  if (net.ingress_isolated) net.ingress = GrantList::of(net.ingress_policies, true);
  if (net.egress_isolated) net.egress = GrantList::of(net.egress_policies, false);
  // Another thread may have made the same one meanwhile: equal, either will do.
  std::unique_lock lk(shard.mu.m);
  auto [it, added] = shard.map.try_emplace(std::move(key), std::move(iso));
  return PodNetwork{&pod, it->second};
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

std::string block_text(const Peer& peer) {
  std::string s = peer.cidr.to_string();
  for (std::size_t i = 0; i < peer.except.size(); ++i) s += (i ? ", " : " and not in ") + peer.except[i].to_string();
  return s;
}

std::string what_of(const Destination& dest, int port, Protocol protocol) {
  return dest.to_string() + " on " + std::string(to_string(protocol)) + "/" + std::to_string(port);
}

// Traffic of a pod to itself: "a pod cannot block access to itself" (the
// NetworkPolicy concepts page). Only for a Pod: two replicas of a workload
// are different pods.
bool to_itself(const PodInfo& a, const PodInfo& b) {
  return &a == &b && a.ref.kind == "Pod";
}

// hostNetwork: the API leaves it to the plugin; the two permitted behaviours
// are evaluated separately. Certain only when both agree.
Verdict combine_models(Verdict as_pod, const Verdict& as_node, const std::string& who) {
  const std::string head = who +
                           " uses hostNetwork, and NetworkPolicy behaviour for hostNetwork pods is "
                           "implementation-defined (it depends on the CNI)";
  if (as_pod.answer == as_node.answer && as_pod.answer != Verdict::Answer::conditional) {
    as_pod.caveats.push_back(head + "; both permitted behaviours give the same answer");
    return as_pod;
  }
  Verdict v;
  v.set(Verdict::Answer::conditional);
  v.by = as_pod.by ? as_pod.by : as_node.by;
  v.reason =
      head + ": a plugin that applies NetworkPolicy to hostNetwork pods: " + std::string(to_string(as_pod.answer)) +
      " (" + as_pod.reason +
      "); a plugin that treats them as node traffic (the most common): " + std::string(to_string(as_node.answer)) +
      " (" + as_node.reason + ")";
  return v;
}
}  // namespace

// A pod known only by its template has some pod IP: never a flat no, unless
// the pod CIDRs rule the block out.
Match Analyzer::unknown_pod_ip(const Peer& peer) const {
  if (pod_cidrs_.empty()) return Match::maybe("the pod IP is in " + block_text(peer));
  auto overlap = [](const Cidr& a, const Cidr& b) { return a.contains(b) || b.contains(a); };
  bool any = false;
  for (bool v6 : {false, true}) {
    bool family = false, covered = true;
    for (const auto& pc : pod_cidrs_) {
      if (pc.base.v6 != v6) continue;
      family = true;
      any |= overlap(peer.cidr, pc);
      bool in = peer.cidr.contains(pc);
      for (const auto& e : peer.except) in &= !overlap(e, pc);
      covered &= in;
    }
    // The pod has an IP of this family in one of its pod CIDRs.
    if (family && covered) return Match::yes();
  }
  if (!any) return Match::no();
  return Match::maybe("the pod IP is in " + block_text(peer));
}

Match Analyzer::peer_match(const Policy& policy, const Peer& peer, const Destination& dest, HostModel model) const {
  switch (peer.kind) {
    case Peer::Kind::any:
      return Match::yes();
    case Peer::Kind::pods:
      // Under the node-IP model podSelector and namespaceSelector ignore
      // hostNetwork pods ("it ignores hostNetwork pods when matching
      // podSelector and namespaceSelector").
      if (dest.kind != Destination::Kind::pod || !dest.pod) return Match::no();
      if (dest.pod->host_network && model == HostModel::node_ip) return Match::no();
      // Cluster policies: "Note that host-networked pods are not included in this type of peer."
      if (dest.pod->host_network && policy.is_cluster()) return Match::no();
      return Match::of(namespace_matches(policy, peer, dest.pod->ns) && peer.pod_selector.matches(dest.pod->labels));
    case Peer::Kind::ip_block:
      // Cidr::contains compares address families: ::/0 holds no IPv4
      // address and 0.0.0.0/0 no IPv6 one.
      if (dest.kind == Destination::Kind::ip) return Match::of(in_block(peer, dest.ip));
      if (dest.kind == Destination::Kind::pod) {
        if (dest.pod && !dest.pod->ips.empty()) {
          for (const auto& ip : dest.pod->ips)
            if (in_block(peer, ip)) return Match::yes();
          return Match::no();
        }
        return unknown_pod_ip(peer);
      }
      // A name resolves to addresses loki-audit does not look up. Every name
      // has an IPv4 address in 0.0.0.0/0 in practice; anything narrower
      // depends on the DNS answer.
      if (peer.cidr.everything() && !peer.cidr.base.v6 && peer.except.empty()) return Match::yes();
      return Match::maybe(dest.host + " resolves to an address in " + block_text(peer));
    case Peer::Kind::fqdn:
      if (dest.kind != Destination::Kind::host) return Match::no();
      return Match::of(peer.fqdn_pattern ? fqdn_pattern_matches(peer.fqdn, dest.host)
                                         : peer.fqdn == normalize_host(dest.host));
    case Peer::Kind::nodes:
      // "It selects the nodeIPs as the peer type by matching on the IPs present
      // in the node.Status.Addresses field of the node": nodes and their
      // addresses are not in the input, so only a hostNetwork pod (which has
      // its node's IP) under an empty selector is certain.
      if (dest.kind == Destination::Kind::pod && dest.pod) {
        if (!dest.pod->host_network) return Match::no();
        if (peer.pod_selector.empty()) return Match::yes();
        return Match::maybe("the node of " + dest.pod->ref.display() + " has labels " + peer.pod_selector.to_string());
      }
      return Match::maybe(
          dest.to_string() + " is an address of a node" +
          (peer.pod_selector.empty() ? std::string() : " with labels " + peer.pod_selector.to_string()));
    case Peer::Kind::domain: {
      // "'*', the wildcard specifier, matches one or more entire labels";
      // "`*.kubernetes.io` matches subdomains of kubernetes.io".
      std::string full = (peer.fqdn_pattern ? "*." : "") + peer.fqdn;
      if (dest.kind == Destination::Kind::host) {
        std::string h = normalize_host(dest.host);
        if (!peer.fqdn_pattern) return Match::of(h == peer.fqdn);
        return Match::of(h.size() > peer.fqdn.size() + 1 &&
                         h.compare(h.size() - peer.fqdn.size(), std::string::npos, peer.fqdn) == 0 &&
                         h[h.size() - peer.fqdn.size() - 1] == '.');
      }
      // Implementations match names through the addresses they resolve to:
      // an address (a pod's too) may be one of them.
      return Match::maybe(dest.to_string() + " is an address " + full + " resolves to");
    }
    case Peer::Kind::entity:
      if (peer.entity == "all") return Match::yes();
      if (peer.entity == "world") return Match::of(dest.kind != Destination::Kind::pod);
      if (peer.entity == "cluster") return Match::of(dest.kind == Destination::Kind::pod);
      return Match::no();
  }
  return Match::no();
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
  {
    std::shared_lock lk(peer_pods_mu_.m);
    if (auto it = peer_pods_.find(&peer); it != peer_pods_.end()) return *it->second;
  }
  static const std::vector<const PodInfo*> none;
  if (peer.kind != Peer::Kind::pods) return none;
  // What decides the list (namespace_matches): the policy's own namespace, or
  // every namespace (Cilium clusterwide) or a namespace selector's, each of
  // which is compared; then the pod selector. Lists of the latter two are
  // shared by peers that read alike.
  const bool own_namespace = !peer.namespace_selector && policy.flavor != Policy::Flavor::cilium_clusterwide;
  std::string text;
  if (!own_namespace) {
    text = peer.namespace_selector ? "?" + peer.namespace_selector->to_string() : std::string("*");
    text += '\x1f';
    text += peer.pod_selector.to_string();
    std::unique_lock lk(peer_pods_mu_.m);
    if (auto it = peer_pods_by_text_.find(text); it != peer_pods_by_text_.end()) {
      peer_pods_.try_emplace(&peer, &it->second);
      return it->second;
    }
  }
  // Computed outside the lock; when two threads race, the first insert wins
  // (both computed the same list).
  std::vector<const PodInfo*> out;
  auto select = [&](const std::vector<const PodInfo*>& pods) {
    for (const PodInfo* p : pods)
      if (peer.pod_selector.matches(p->labels)) out.push_back(p);
  };
  if (own_namespace) {
    if (auto it = pods_by_ns_.find(policy.ns); it != pods_by_ns_.end()) select(it->second);
  } else {
    for (const auto& [ns, pods] : pods_by_ns_)
      if (namespace_matches(policy, peer, ns)) select(pods);
  }
  std::unique_lock lk(peer_pods_mu_.m);
  if (own_namespace) {
    auto [it, added] = peer_pods_.try_emplace(&peer, nullptr);
    if (added) it->second = &peer_pods_own_.emplace_front(std::move(out));
    return *it->second;
  }
  const auto& list = peer_pods_by_text_.try_emplace(std::move(text), std::move(out)).first->second;
  peer_pods_.try_emplace(&peer, &list);
  return list;
}

bool Analyzer::any_grant_covers_port(const GrantList& grants, int port, Protocol protocol) const {
  if (grants.is_everything()) return true;
  for (const auto& ref : grants.rules()) {
    const EgressRule& rule = grants.rule(ref);
    for (const PortSpec& s : rule.ports) {
      if (rule.to.empty()) break;
      if (auto decided = spec_covers_port(s, port, protocol)) {
        if (*decided) return true;
        continue;
      }
      for (const Peer& peer : rule.to)
        if (peer_pod_serves(*ref.policy, peer, s.name, port, protocol)) return true;
    }
  }
  return false;
}

std::optional<bool> Analyzer::spec_covers_port(const PortSpec& s, int port, Protocol protocol) const {
  if (!s.covers_protocol(protocol)) return false;
  if (s.name.empty()) return s.covers_number(port, protocol);
  // kube-dns / CoreDNS name their ports dns (UDP 53) and dns-tcp (TCP 53).
  if (port == 53 && protocol == Protocol::UDP && s.name == "dns") return true;
  if (port == 53 && protocol == Protocol::TCP && s.name == "dns-tcp") return true;
  auto known = named_ports_.find(s.name);
  if (known == named_ports_.end() ||
      !std::binary_search(known->second.begin(), known->second.end(), std::pair{protocol, port}))
    return false;  // no pod at all maps this name to this port
  return std::nullopt;
}

bool Analyzer::peer_pod_serves(const Policy& policy, const Peer& peer, const std::string& name, int port,
                               Protocol protocol) const {
  for (const PodInfo* p : pods_of_peer(policy, peer))
    for (const auto& np : p->ports)
      if (np.name == name && np.protocol == protocol && np.port == port) return true;
  return false;
}

bool Analyzer::grant_covers_port(const Grant& g, int port, Protocol protocol) const {
  if (!g.policy) return true;
  if (auto decided = spec_covers_port(*g.port, port, protocol)) return *decided;
  return peer_pod_serves(*g.policy, *g.peer, g.port->name, port, protocol);
}

Verdict Analyzer::egress_under(const PodNetwork& net, const Destination& dest, int port, Protocol protocol,
                               HostModel model, bool explain) const {
  if (!net->policies_apply || (net->admin.empty() && net->baseline.empty()))
    return np_egress(net, dest, port, protocol, model, explain);
  return tiered(
      net, false,
      [&](const Policy& p, const EgressRule& r, const Peer*& peer, const PortSpec*& spec) {
        return rule_match(p, r, dest, dest, port, protocol, model, peer, spec);
      },
      [&] { return np_egress(net, dest, port, protocol, model); }, what_of(dest, port, protocol));
}

Verdict Analyzer::np_egress(const PodNetwork& net, const Destination& dest, int port, Protocol protocol,
                            HostModel model, bool explain) const {
  Verdict v;
  const std::string what = explain ? what_of(dest, port, protocol) : std::string();
  if (!net->policies_apply) {
    v.set(Verdict::Answer::allowed);
    v.by = Grant{};
    if (explain)
      v.reason = what + " is allowed: the pod uses hostNetwork; as node traffic, no NetworkPolicy selects it";
    return v;
  }
  if (!net->egress_isolated) {
    v.set(Verdict::Answer::allowed);
    v.by = Grant{};
    if (explain) v.reason = what + " is allowed: the pod is not egress-isolated (no policy with Egress selects it)";
    return v;
  }
  FirstGrant first = first_grant(net->egress, dest, dest, port, protocol, model);
  if (first.kind == Match::Kind::yes) {
    v.set(Verdict::Answer::allowed);
    v.by = first.grant;
    if (explain)
      v.reason = what + " is allowed by " + first.grant->where() + ": to " + first.grant->peer->to_string() + " on " +
                 first.grant->port->to_string();
    return v;
  }
  const std::optional<Grant>& maybe = first.grant;
  const std::string& condition = first.condition;
  if (maybe) {
    v.set(Verdict::Answer::conditional);
    v.by = *maybe;
    if (explain)
      v.reason = what + " is allowed by " + maybe->where() + " (to " + maybe->peer->to_string() + " on " +
                 maybe->port->to_string() + ") only if " + condition;
    return v;
  }
  if (explain) {
    std::string names;
    for (const Policy* p : net->egress_policies) names += (names.empty() ? "" : ", ") + p->display();
    v.reason = what + " is denied: the pod is egress-isolated by " + names + " and no egress rule of theirs allows it";
  }
  if (model == HostModel::node_ip && dest.kind == Destination::Kind::pod && dest.pod && dest.pod->host_network) {
    // "traffic to and from the node where a Pod is running is always allowed"
    v.set(Verdict::Answer::conditional);
    if (explain) v.reason += ", unless " + dest.to_string() + " (node traffic) runs on the source pod's node";
  }
  return v;
}

// The first grant in order that allows the connection, else the first that
// may. Per rule: its first port that matches (ports do not depend on the
// peer), then its peers in order: the same grant as walking every pair, in
// P + Q steps instead of P x Q.
Analyzer::FirstGrant Analyzer::first_grant(const GrantList& grants, const Destination& peer_side,
                                           const Destination& ports_side, int port, Protocol protocol,
                                           HostModel model) const {
  FirstGrant first;
  for (const auto& ref : grants.rules()) {
    const EgressRule& rule = grants.rule(ref);
    auto spec = std::find_if(rule.ports.begin(), rule.ports.end(),
                             [&](const PortSpec& s) { return port_matches(s, ports_side, port, protocol); });
    if (spec == rule.ports.end()) continue;
    for (const Peer& peer : rule.to) {
      Match m = peer_match(*ref.policy, peer, peer_side, model);
      if (!m || (m.kind == Match::Kind::maybe && first.grant)) continue;
      first.kind = m.kind;
      first.grant = Grant{ref.policy, ref.rule, &peer, &*spec, grants.ingress()};
      first.condition = std::move(m.condition);
      if (m.kind == Match::Kind::yes) return first;
    }
  }
  return first;
}

Match Analyzer::rule_match(const Policy& policy, const EgressRule& rule, const Destination& other,
                           const Destination& ports_of, int port, Protocol protocol, HostModel model, const Peer*& peer,
                           const PortSpec*& spec) const {
  spec = nullptr;
  for (const auto& s : rule.ports)
    if (port_matches(s, ports_of, port, protocol)) {
      spec = &s;
      break;
    }
  if (!spec) return Match::no();
  Match best = Match::no();
  bool v4_all = false, v6_all = false;
  for (const auto& p : rule.to) {
    Match m = peer_match(policy, p, other, model);
    if (m.kind == Match::Kind::yes) {
      peer = &p;
      return m;
    }
    if (m.kind == Match::Kind::maybe && !best) {
      best = m;
      peer = &p;
    }
    if (p.kind == Peer::Kind::ip_block && p.cidr.everything() && p.except.empty())
      (p.cidr.base.v6 ? v6_all : v4_all) = true;
  }
  // networks 0.0.0.0/0 and ::/0 together hold every pod's IP, whatever its family.
  if (v4_all && v6_all && other.kind == Destination::Kind::pod) return Match::yes();
  return best;
}

namespace {
std::string never_consulted(const std::vector<const Policy*>& ps, const char* what) {
  if (ps.empty()) return {};
  std::string s;
  for (std::size_t i = 0; i < ps.size(); ++i) s += (i ? ", " : "") + ps[i]->display();
  return std::string("; ") + what + " " + s + (ps.size() == 1 ? " is" : " are") + " never consulted";
}
}  // namespace

// The tiers: "Admin tier, NetworkPolicy tier, Baseline tier"; "If a given
// connection wasn't allowed or denied by any of the tiers, the default
// kubernetes policy is applied, which says that all pods can communicate with
// each other." Rules of a policy are ordered ("a rule that appears at the top
// ... would take the highest precedence"). Policies of one priority form a
// group: "the implementation can apply any of the matching policies", so
// when they disagree the verdict is conditional. A rule that only may match
// (an address the input does not have) gives both branches, conditional
// when they differ.
Verdict Analyzer::tiered(const PodNetwork& net, bool ingress, const RuleMatcher& match,
                         const std::function<Verdict()>& np, const std::string& what) const {
  struct Stage {
    int kind = 0;  // 0: a group of cluster policies, 1: NetworkPolicy tier, 2: default
    std::vector<const Policy*> policies;
  };
  std::vector<Stage> stages;
  auto groups = [&](const std::vector<const Policy*>& tier) {
    for (const Policy* p : tier) {
      const auto& rules = ingress ? p->ingress_rules : p->egress_rules;
      if (rules.empty()) continue;  // "CNPs with no egress rules do not affect egress traffic."
      if (stages.empty() || stages.back().kind != 0 || stages.back().policies.front()->priority != p->priority ||
          stages.back().policies.front()->tier != p->tier)
        stages.push_back(Stage{0, {}});
      stages.back().policies.push_back(p);
    }
  };
  groups(net->admin);
  const std::size_t np_stage = stages.size();
  stages.push_back(Stage{1, {}});
  groups(net->baseline);
  const std::size_t default_stage = stages.size();
  stages.push_back(Stage{2, {}});
  const bool isolated = ingress ? net->ingress_isolated : net->egress_isolated;
  const auto& np_policies = ingress ? net->ingress_policies : net->egress_policies;
  std::vector<const Policy*> baseline;
  for (const Policy* p : net->baseline)
    if (!(ingress ? p->ingress_rules : p->egress_rules).empty()) baseline.push_back(p);

  std::function<Verdict(std::size_t)> eval = [&](std::size_t s) -> Verdict {
    const Stage& st = stages[s];
    if (st.kind == 1) {
      if (!isolated) return eval(s + 1);
      Verdict v = np();
      v.tier = "NetworkPolicy";
      v.reason += never_consulted(baseline, "the Baseline tier's");
      return v;
    }
    if (st.kind == 2) {
      Verdict v;
      v.set(Verdict::Answer::allowed);
      v.by = Grant{nullptr, 0, nullptr, nullptr, ingress};
      v.tier = "default";
      v.reason = what + " is allowed: no tier decides it (no cluster policy rule matches" +
                 std::string(isolated ? "" : ", no NetworkPolicy isolates the pod") +
                 "), and the default is that all pods can communicate";
      return v;
    }
    std::vector<Verdict> outs;
    bool may_fall_through = true;
    for (const Policy* p : st.policies) {
      const auto& rules = ingress ? p->ingress_rules : p->egress_rules;
      bool falls = true;
      for (std::size_t r = 0; r < rules.size() && falls; ++r) {
        const Peer* peer = nullptr;
        const PortSpec* spec = nullptr;
        Match m = match(*p, rules[r], peer, spec);
        if (!m) continue;
        Grant g{p, r, peer, spec, ingress};
        Verdict v;
        switch (rules[r].action) {
          case Action::accept:
            v.set(Verdict::Answer::allowed);
            v.by = g;
            v.tier = std::string(to_string(p->tier));
            v.reason = what + " is allowed by " + g.where() + ": Accept " + (ingress ? "from " : "to ") +
                       peer->to_string() + " on " + spec->to_string();
            if (p->tier == Tier::admin) v.reason += never_consulted(np_policies, "the namespace's");
            if (p->tier == Tier::admin) v.reason += never_consulted(baseline, "the Baseline tier's");
            break;
          case Action::deny:
            v.set(Verdict::Answer::denied);
            v.by = g;
            v.tier = std::string(to_string(p->tier));
            v.reason = what + " is denied by " + g.where() + ": Deny " + (ingress ? "from " : "to ") +
                       peer->to_string() + " on " + spec->to_string();
            if (p->tier == Tier::admin) v.reason += never_consulted(np_policies, "the namespace's");
            if (p->tier == Tier::admin) v.reason += never_consulted(baseline, "the Baseline tier's");
            break;
          case Action::pass: {
            // "Pass: Skips all further ClusterNetworkPolicy rules in the current
            // tier for the selected traffic, and passes evaluation to the next tier."
            v = eval(p->tier == Tier::admin ? np_stage : default_stage);
            if (!v.passed_by) v.passed_by = g;
            v.reason = g.where() + " passes it to the " + (p->tier == Tier::admin ? "NetworkPolicy tier" : "default") +
                       ": " + v.reason;
            break;
          }
        }
        if (m.kind == Match::Kind::maybe) {
          v.reason = "if " + m.condition + ": " + v.reason;
        } else {
          falls = false;
        }
        outs.push_back(std::move(v));
      }
      may_fall_through &= falls;
    }
    if (outs.empty()) return eval(s + 1);
    if (may_fall_through) {
      Verdict rest = eval(s + 1);
      rest.reason = "otherwise: " + rest.reason;
      outs.push_back(std::move(rest));
    }
    bool same = true;
    for (const auto& o : outs) same &= o.answer == outs.front().answer && o.answer != Verdict::Answer::conditional;
    if (same) {
      Verdict v = std::move(outs.front());
      if (st.policies.size() > 1 && outs.size() > 1)
        v.caveats.push_back("several policies of priority " + std::to_string(st.policies.front()->priority) +
                            " match; they agree");
      return v;
    }
    Verdict v;
    v.set(Verdict::Answer::conditional);
    for (const auto& o : outs)
      if (o.by && !v.by) v.by = o.by, v.tier = o.tier, v.passed_by = o.passed_by;
    v.reason = what + " depends: ";
    for (std::size_t i = 0; i < outs.size(); ++i)
      v.reason += (i ? " | " : "") + std::string(to_string(outs[i].answer)) + " (" + outs[i].reason + ")";
    if (st.policies.size() > 1 && !may_fall_through)
      v.caveats.push_back("policies of the same priority (" + std::to_string(st.policies.front()->priority) +
                          ") disagree: \"the implementation can apply any of the matching policies\"");
    return v;
  };
  return eval(0);
}

Verdict Analyzer::allows(const PodNetwork& net, const Destination& dest, int port, Protocol protocol,
                         bool explain) const {
  const bool dest_pod = dest.kind == Destination::Kind::pod && dest.pod;
  if (dest_pod && net.pod && to_itself(*net.pod, *dest.pod)) {
    Verdict v;
    v.set(Verdict::Answer::allowed);
    v.by = Grant{};
    v.reason =
        what_of(dest, port, protocol) + " is allowed: it is the pod itself, and a pod cannot block access to itself";
    return v;
  }
  const bool src_hn = net.pod && net.pod->host_network && !net->policies_apply;
  const bool dst_hn = dest_pod && dest.pod->host_network;
  if (!src_hn && !dst_hn) return egress_under(net, dest, port, protocol, HostModel::pod_network, explain);
  Verdict as_pod = egress_under(src_hn ? analyze(*net.pod, true) : net, dest, port, protocol, HostModel::pod_network);
  Verdict as_node = egress_under(net, dest, port, protocol, HostModel::node_ip);
  return combine_models(
      std::move(as_pod), as_node,
      src_hn && dst_hn ? std::string("both pods") : (src_hn ? net.pod->ref.display() : dest.pod->ref.display()));
}

Verdict Analyzer::ingress_under(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol,
                                HostModel model) const {
  if (!net->policies_apply || (net->admin.empty() && net->baseline.empty()))
    return np_ingress(net, source, port, protocol, model);
  const Destination self = Destination::to_pod(*net.pod);
  const Destination src = Destination::to_pod(source);
  return tiered(
      net, true,
      [&](const Policy& p, const EgressRule& r, const Peer*& peer, const PortSpec*& spec) {
        // Ports (named ones too) are the destination's: the subject's.
        return rule_match(p, r, src, self, port, protocol, model, peer, spec);
      },
      [&] { return np_ingress(net, source, port, protocol, model); },
      "from " + source.ref.display() + " to " + what_of(self, port, protocol));
}

Verdict Analyzer::np_ingress(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol,
                             HostModel model) const {
  Verdict v;
  const Destination self = Destination::to_pod(*net.pod);
  const Destination src = Destination::to_pod(source);
  const std::string what = "from " + source.ref.display() + " to " + what_of(self, port, protocol);
  if (!net->policies_apply) {
    v.set(Verdict::Answer::allowed);
    v.by = Grant{nullptr, 0, nullptr, nullptr, true};
    v.reason = what + " is allowed: the destination uses hostNetwork; as node traffic, no NetworkPolicy selects it";
    return v;
  }
  if (!net->ingress_isolated) {
    v.set(Verdict::Answer::allowed);
    v.by = Grant{nullptr, 0, nullptr, nullptr, true};
    v.reason = what + " is allowed: the destination is not ingress-isolated (no policy with Ingress selects it)";
    return v;
  }
  // Ports (named ones too) are the destination's: the pod the policy selects.
  FirstGrant first = first_grant(net->ingress, src, self, port, protocol, model);
  if (first.kind == Match::Kind::yes) {
    v.set(Verdict::Answer::allowed);
    v.by = first.grant;
    v.reason = what + " is allowed by " + first.grant->where() + ": from " + first.grant->peer->to_string() + " on " +
               first.grant->port->to_string();
    return v;
  }
  const std::optional<Grant>& maybe = first.grant;
  const std::string& condition = first.condition;
  if (maybe) {
    v.set(Verdict::Answer::conditional);
    v.by = *maybe;
    v.reason = what + " is allowed by " + maybe->where() + " (from " + maybe->peer->to_string() + " on " +
               maybe->port->to_string() + ") only if " + condition;
    return v;
  }
  std::string names;
  for (const Policy* p : net->ingress_policies) names += (names.empty() ? "" : ", ") + p->display();
  v.reason =
      what + " is denied: the destination is ingress-isolated by " + names + " and no ingress rule of theirs allows it";
  if (net->cilium_ingress) {
    v.set(Verdict::Answer::conditional);
    v.reason += " (CiliumNetworkPolicy ingress rules are not modelled: they may allow it)";
  } else if (model == HostModel::node_ip && source.host_network) {
    // "traffic to and from the node where a Pod is running is always allowed"
    v.set(Verdict::Answer::conditional);
    v.reason += ", unless " + source.ref.display() + " (node traffic) runs on the destination's node";
  }
  return v;
}

Verdict Analyzer::admits(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol) const {
  if (net.pod && to_itself(*net.pod, source)) {
    Verdict v;
    v.set(Verdict::Answer::allowed);
    v.by = Grant{nullptr, 0, nullptr, nullptr, true};
    v.reason = "from " + source.ref.display() + " to itself on " + std::string(to_string(protocol)) + "/" +
               std::to_string(port) + " is allowed: a pod cannot block access to itself";
    return v;
  }
  const bool dst_hn = net.pod && net.pod->host_network && !net->policies_apply;
  const bool src_hn = source.host_network;
  if (!src_hn && !dst_hn) return ingress_under(net, source, port, protocol, HostModel::pod_network);
  Verdict as_pod =
      ingress_under(dst_hn ? analyze(*net.pod, true) : net, source, port, protocol, HostModel::pod_network);
  Verdict as_node = ingress_under(net, source, port, protocol, HostModel::node_ip);
  return combine_models(
      std::move(as_pod), as_node,
      src_hn && dst_hn ? std::string("both pods") : (dst_hn ? net.pod->ref.display() : source.ref.display()));
}

Connection Analyzer::connect(const PodInfo& source, const Destination& dest, int port, Protocol protocol) const {
  const bool to_pod = dest.kind == Destination::Kind::pod && dest.pod;
  return connect(analyze(source), dest, to_pod ? analyze(*dest.pod) : PodNetwork{}, port, protocol);
}

Connection Analyzer::connect(const PodNetwork& source, const Destination& dest, const PodNetwork& dest_net, int port,
                             Protocol protocol) const {
  Connection c;
  c.egress = allows(source, dest, port, protocol);
  c.answer = c.egress.answer;
  if (dest.kind != Destination::Kind::pod || !dest.pod) return c;
  // "both the egress policy on the source pod and the ingress policy on the
  // destination pod need to allow the connection"
  c.ingress = admits(dest_net, *source.pod, port, protocol);
  using A = Verdict::Answer;
  if (c.egress.answer == A::denied || c.ingress->answer == A::denied)
    c.answer = A::denied;
  else if (c.egress.answer == A::allowed && c.ingress->answer == A::allowed)
    c.answer = A::allowed;
  else
    c.answer = A::conditional;
  return c;
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
          out.push_back(who + " has " + r.key + "=" + std::string(it->second) + ", not " + joined(r.values, " or "));
        break;
      case Op::NotEquals:
      case Op::NotIn:
        out.push_back(who + " has " + r.key + "=" + std::string(it->second) + ", which the selector excludes (" +
                      r.to_string() + ")");
        break;
      case Op::Exists:
        out.push_back(who + " has no label " + r.key);
        break;
      case Op::DoesNotExist:
        out.push_back(who + " has label " + r.key + "=" + std::string(it->second) +
                      ", which the selector requires to be absent");
        break;
    }
  }
  return out;
}

}  // namespace loki::netpol
