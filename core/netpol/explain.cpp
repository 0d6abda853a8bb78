// The text of `loki-audit explain`: what an operator needs to see why a pod
// can (or cannot) reach something.
#include <loki/netpol.hpp>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

namespace loki::netpol {

namespace {

std::string types_of(const Policy& p) {
  std::string s;
  if (p.ingress) s = "Ingress";
  if (p.egress) s += std::string(s.empty() ? "" : ",") + "Egress";
  if (s.empty()) s = "none";
  if (p.flavor == Policy::Flavor::kubernetes && !p.policy_types_set) s += " (defaulted: no policyTypes)";
  if (p.egress && !p.egress_default_deny) s += " (enableDefaultDeny.egress: false)";
  return s;
}

std::string labels_text(const Labels& l) {
  if (l.empty()) return "<none>";
  std::string s;
  for (const auto& [k, v] : l) s.append(s.empty() ? "" : ",").append(k).append("=").append(v);
  return s;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

void table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string upper(Verdict::Answer a) {
  std::string s(to_string(a));
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Per rule of the policies of one direction: why it does not allow the
// connection. `peer` is the other end (the destination for egress, the
// source for ingress); ports are the destination's.
void why_not(std::ostream& out, const Analyzer& an, const std::vector<const Policy*>& policies, bool ingress,
             const Destination& peer, int port, Protocol protocol, const Destination& port_owner) {
  for (const Policy* p : policies) {
    const auto& rules = ingress ? p->ingress_rules : p->egress_rules;
    const char* dir = ingress ? "ingress" : "egress";
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const auto& rule = rules[r];
      std::vector<std::string> matched;
      for (const auto& pr : rule.to)
        if (an.peer_match(*p, pr, peer)) matched.push_back(pr.to_string());
      std::string why;
      if (matched.empty()) {
        std::vector<std::string> peers;
        for (const auto& pr : rule.to) peers.push_back(pr.to_string());
        why = peer.to_string() + " is not " + (peers.empty() ? std::string("anything") : join(peers, " or "));
        if (peer.kind == Destination::Kind::host)
          why +=
              " (NetworkPolicy matches addresses and pods; a host name is only matched by FQDN rules or a /0 "
              "block)";
        if (peer.kind == Destination::Kind::pod && peer.pod && peer.pod->host_network)
          why += " (as node traffic of a hostNetwork pod)";
      } else {
        std::vector<std::string> ports;
        for (const auto& pt : rule.ports) ports.push_back(pt.to_string());
        bool port_ok = false;
        for (const auto& pt : rule.ports) port_ok |= an.port_matches(pt, port_owner, port, protocol);
        why = "matches " + join(matched, " | ");
        if (port_ok)
          why += " only under a condition (see above)";
        else
          why += ", but " + std::string(to_string(protocol)) + "/" + std::to_string(port) + " is not among " +
                 join(ports, ", ");
      }
      out << "    - " << p->display() << " " << dir << "[" << r << "]: " << why << "\n";
    }
    if (rules.empty()) out << "    - " << p->display() << ": no " << dir << " rules (denies all)\n";
  }
}

nlohmann::json side_json(const Verdict& v) {
  nlohmann::json j = {{"verdict", to_string(v.answer)}, {"reason", v.reason}, {"caveats", v.caveats}};
  if (v.by && v.by->policy) {
    j["policy"] = v.by->policy->display();
    j["rule"] = v.by->rule;
    j["peer"] = v.by->peer->to_string();
    j["ports"] = v.by->port->to_string();
  } else {
    j["policy"] = nullptr;
    j["rule"] = nullptr;
  }
  // Only when a cluster policy selects the pod (NetworkPolicy-only answers keep their shape).
  if (!v.tier.empty()) j["tier"] = v.tier;
  if (v.passed_by) j["passed_by"] = v.passed_by->where();
  return j;
}

}  // namespace

nlohmann::json explain_json(const Analyzer& an, const PodInfo& pod, const ExplainTarget& to) {
  Connection c = an.connect(pod, to.dest, to.port, to.protocol);
  nlohmann::json j = {{"from", pod.ref.display()},
                      {"to", to.dest.to_string()},
                      {"target", to.text},
                      {"port", to.port},
                      {"protocol", to_string(to.protocol)},
                      {"verdict", to_string(c.answer)},
                      {"egress", side_json(c.egress)}};
  if (!to.port_name.empty()) j["port_name"] = to.port_name;
  if (c.ingress)
    j["ingress"] = side_json(*c.ingress);
  else
    j["ingress"] = {{"verdict", "not-applicable"},
                    {"reason", to.dest.to_string() + " is not a pod of the input; only the source's egress applies"}};
  return j;
}

namespace {

// The pod: where it is defined, its labels, addresses, ports and the env
// settings that promise something about its network.
void describe_pod(std::ostream& out, const Inventory& inv, const PodInfo& pod) {
  out << pod.ref.display() << "\n";
  out << "  file:        " << pod.file << ":" << pod.line << "\n";
  out << "  namespace:   " << pod.ns << " (labels " << labels_text(inv.namespaces.labels_of(pod.ns))
      << (inv.namespaces.known(pod.ns) ? "" : "; no Namespace object in the input") << ")\n";
  out << "  labels:      " << pod.labels_text() << "\n";
  out << "  loki-mode:   " << (pod.loki ? "yes" : "no") << "\n";
  out << "  hostNetwork: "
      << (pod.host_network ? "true (NetworkPolicy behaviour is implementation-defined; most CNIs see node traffic)"
                           : "false")
      << "\n";
  if (!pod.ips.empty()) {
    std::vector<std::string> ips;
    for (const auto& ip : pod.ips) ips.push_back(ip.to_string());
    out << "  pod IPs:     " << join(ips, ", ") << "\n";
  }
  if (!pod.ports.empty()) {
    std::vector<std::string> ps;
    for (const auto& p : pod.ports)
      ps.push_back(p.name + "=" + std::string(to_string(p.protocol)) + "/" + std::to_string(p.port));
    out << "  named ports: " << join(ps, ", ") << "\n";
  }
  const std::pair<const EnvSetting*, const char*> envs[] = {{&pod.egress_policy(), "LOKI_NETWORK_EGRESS_POLICY"},
                                                            {&pod.allowed_hosts(), "LOKI_ALLOWED_HOSTS"},
                                                            {&pod.block_metadata(), "LOKI_BLOCK_METADATA_ENDPOINT"}};
  for (auto [e, name] : envs) {
    if (!e->present) continue;
    out << "  env:         " << name << "=" << (e->literal ? e->value : std::string("<valueFrom>")) << " (container "
        << e->container << ")\n";
  }
}

// The namespace's policies, whether each selects the pod and why not.
void describe_policies(std::ostream& out, const Analyzer& an, const Inventory& inv, const PodInfo& pod) {
  auto policies = an.policies_for(pod.ns);
  out << "\nPolicies of namespace " << pod.ns << " (" << policies.size() << "):\n";
  if (policies.empty()) out << "  none\n";
  for (const Policy* p : policies) {
    bool sel = an.selects(*p, pod);
    out << "  " << (sel ? "[selects]     " : "[not selected] ") << p->display() << "  types: " << types_of(*p) << "\n";
    out << "      " << (p->is_cilium() ? "endpointSelector: " : "podSelector: ") << p->pod_selector.to_string();
    if (p->namespace_selector) out << "  namespaces: " << p->namespace_selector->to_string();
    out << "   (" << p->file << ":" << p->selector_line << ")\n";
    if (!sel) {
      if (p->namespace_selector && !p->namespace_selector->matches(inv.namespaces.labels_of(pod.ns)))
        out << "      why not: namespace " << pod.ns << " is not selected\n";
      for (const auto& m : selector_misses(p->pod_selector, pod.labels, pod.ref.name))
        out << "      why not: " << m << "\n";
    }
    for (const auto& n : p->notes) out << "      note: " << n << "\n";
  }
}

// AdminNetworkPolicy / BaselineAdminNetworkPolicy / ClusterNetworkPolicy in
// evaluation order, whether each selects the pod, and its ordered rules.
void describe_cluster_policies(std::ostream& out, const Analyzer& an, const Inventory& inv, const PodInfo& pod) {
  const auto& policies = an.cluster_policies();
  if (policies.empty()) return;
  out << "\nCluster network policies, in evaluation order: Admin tier, then the namespace's NetworkPolicies, "
         "then Baseline tier ("
      << policies.size() << "):\n";
  for (const Policy* p : policies) {
    bool sel = an.selects(*p, pod);
    out << "  " << (sel ? "[selects]     " : "[not selected] ") << p->display() << "  (" << p->tier_text() << ")\n";
    out << "      subject: namespaces " << (p->namespace_selector ? p->namespace_selector->to_string() : "{}")
        << ", pods " << p->pod_selector.to_string() << "   (" << p->file << ":" << p->selector_line << ")\n";
    if (!sel) {
      if (pod.host_network) out << "      why not: host-networked pods are not included in subject selection\n";
      if (p->namespace_selector && !p->namespace_selector->matches(inv.namespaces.labels_of(pod.ns)))
        out << "      why not: namespace " << pod.ns << " is not selected\n";
      for (const auto& m : selector_misses(p->pod_selector, pod.labels, pod.ref.name))
        out << "      why not: " << m << "\n";
    }
    for (bool ingress : {false, true}) {
      const auto& rules = ingress ? p->ingress_rules : p->egress_rules;
      for (std::size_t r = 0; r < rules.size(); ++r) {
        std::vector<std::string> peers, ports;
        for (const auto& peer : rules[r].to) peers.push_back(peer.to_string());
        for (const auto& port : rules[r].ports)
          ports.push_back(port.all_ports() && !port.protocol ? "every port" : port.to_string());
        out << "      " << (ingress ? "ingress[" : "egress[") << r << "]"
            << (rules[r].name.empty() ? "" : " " + rules[r].name) << ": " << to_string(rules[r].action)
            << (ingress ? " from " : " to ") << (peers.empty() ? std::string("nothing") : join(peers, " | ")) << " on "
            << join(ports, ", ") << "\n";
      }
    }
    for (const auto& n : p->notes) out << "      note: " << n << "\n";
  }
}

std::string names(const std::vector<const Policy*>& ps) {
  std::vector<std::string> v;
  v.reserve(ps.size());
  for (const Policy* p : ps) v.push_back(p->display());
  return join(v, ", ");
}

void describe_isolation(std::ostream& out, const PodNetwork& net) {
  out << "\nIsolation:\n";
  if (!net->policies_apply) {
    out << "  ingress: NOT isolated as node traffic (hostNetwork; what a CNI does is implementation-defined)\n";
    out << "  egress:  NOT isolated as node traffic (hostNetwork; what a CNI does is implementation-defined)\n";
    return;
  }
  std::vector<const Policy*> deny;
  for (const Policy* p : net->egress_policies)
    if (p->egress_default_deny) deny.push_back(p);
  out << "  ingress: "
      << (net->ingress_isolated ? "isolated by " + names(net->ingress_policies)
                                : std::string("NOT isolated: no selecting policy has Ingress; all ingress allowed"))
      << "\n";
  out << "  egress:  "
      << (net->egress_isolated ? "isolated by " + names(deny)
                               : std::string("NOT isolated: no selecting policy has Egress; all egress allowed"))
      << "\n";
}

// One row per rule of the selecting policies of a direction.
void allowed_rows(std::vector<std::vector<std::string>>& rows, const Policy& p, bool ingress) {
  const auto& rules = ingress ? p.ingress_rules : p.egress_rules;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    const auto& rule = rules[r];
    std::vector<std::string> peers, ports;
    for (const auto& peer : rule.to) peers.push_back(peer.to_string());
    for (const auto& port : rule.ports)
      ports.push_back(port.all_ports() && !port.protocol ? "every port" : port.to_string());
    rows.push_back({p.display(), std::string(ingress ? "ingress[" : "egress[") + std::to_string(r) + "]",
                    peers.empty() ? "nothing" : join(peers, " | "), join(ports, ", ")});
  }
  if (rules.empty())
    rows.push_back({p.display(), "-",
                    p.is_cilium() && ingress
                        ? "not modelled (Cilium ingress)"
                        : std::string("nothing (no ") + (ingress ? "ingress" : "egress") + " rules)",
                    "-"});
}

void allowed_table(std::ostream& out, const PodNetwork& net, bool ingress) {
  const bool isolated = ingress ? net->ingress_isolated : net->egress_isolated;
  out << (ingress ? "\nAllowed ingress:\n" : "\nAllowed egress:\n");
  if (!net->admin.empty() || !net->baseline.empty())
    out << "  (the NetworkPolicy tier: Admin rules above come first; Baseline rules apply "
        << (isolated ? "nowhere here: NetworkPolicy isolates the pod" : "since no NetworkPolicy isolates the pod")
        << ")\n";
  if (!isolated) {
    out << (ingress ? "  everything (every source, every port)\n" : "  everything (every destination, every port)\n");
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"POLICY", "RULE", ingress ? "FROM" : "TO", "PORTS"}};
  for (const Policy* p : ingress ? net->ingress_policies : net->egress_policies) allowed_rows(rows, *p, ingress);
  table(out, rows, "  ");
}

// The verdict for one connection, each side with its reason and, when
// refused, why no rule allows it.
void describe_connection(std::ostream& out, const Analyzer& an, const PodInfo& pod, const PodNetwork& net,
                         const ExplainTarget& to) {
  Connection c = an.connect(pod, to.dest, to.port, to.protocol);
  out << "\nTo " << to.text;
  if (!to.port_name.empty())
    out << " (" << to_string(to.protocol) << "/" << to.port << ", named port " << to.port_name << ")";
  out << ": " << upper(c.answer) << "\n";
  out << "  egress (source side, " << pod.ref.display() << "): " << upper(c.egress.answer) << "\n    "
      << c.egress.reason << "\n";
  for (const auto& cv : c.egress.caveats) out << "    note: " << cv << "\n";
  if (!c.egress.tier.empty()) out << "    decided by: " << c.egress.tier << " tier\n";
  if (c.egress.answer != Verdict::Answer::allowed && (c.egress.tier.empty() || c.egress.tier == "NetworkPolicy"))
    why_not(out, an, net->egress_policies, false, to.dest, to.port, to.protocol, to.dest);
  if (!c.ingress) {
    out << "  ingress: not applicable: " << to.dest.to_string()
        << " is not a pod of the input; only the source's egress applies\n";
    return;
  }
  const PodInfo& dst = *to.dest.pod;
  out << "  ingress (destination side, " << dst.ref.display() << "): " << upper(c.ingress->answer) << "\n    "
      << c.ingress->reason << "\n";
  for (const auto& cv : c.ingress->caveats) out << "    note: " << cv << "\n";
  if (!c.ingress->tier.empty()) out << "    decided by: " << c.ingress->tier << " tier\n";
  if (c.ingress->answer != Verdict::Answer::allowed &&
      (c.ingress->tier.empty() || c.ingress->tier == "NetworkPolicy")) {
    PodNetwork dnet = an.analyze(dst);
    why_not(out, an, dnet->ingress_policies, true, Destination::to_pod(pod), to.port, to.protocol,
            Destination::to_pod(dst));
  }
}

}  // namespace

std::string explain(const Analyzer& an, const PodInfo& pod, const std::optional<ExplainTarget>& to) {
  std::ostringstream out;
  const Inventory& inv = an.inventory();
  PodNetwork net = an.analyze(pod);
  describe_pod(out, inv, pod);
  describe_policies(out, an, inv, pod);
  describe_cluster_policies(out, an, inv, pod);
  describe_isolation(out, net);
  allowed_table(out, net, false);
  allowed_table(out, net, true);
  if (to) describe_connection(out, an, pod, net, *to);
  return out.str();
}

}  // namespace loki::netpol
