// The text of `loki-audit explain`: what an operator needs to see why a pod
// can (or cannot) reach something.
#include <loki/netpol.hpp>

#include <algorithm>
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
  for (const auto& [k, v] : l) s += (s.empty() ? "" : ",") + k + "=" + v;
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

}  // namespace

std::string explain(const Analyzer& an, const PodInfo& pod, const std::optional<ExplainTarget>& to) {
  std::ostringstream out;
  const Inventory& inv = an.inventory();
  PodNetwork net = an.analyze(pod);

  out << pod.ref.display() << "\n";
  out << "  file:        " << pod.file << ":" << pod.line << "\n";
  out << "  namespace:   " << pod.ns << " (labels " << labels_text(inv.namespaces.labels_of(pod.ns))
      << (inv.namespaces.known(pod.ns) ? "" : "; no Namespace object in the input") << ")\n";
  out << "  labels:      " << pod.labels_text() << "\n";
  out << "  loki-mode:   " << (pod.loki ? "yes" : "no") << "\n";
  out << "  hostNetwork: " << (pod.host_network ? "true (NetworkPolicy does not apply to this pod)" : "false") << "\n";
  if (!pod.ports.empty()) {
    std::vector<std::string> ps;
    for (const auto& p : pod.ports)
      ps.push_back(p.name + "=" + std::string(to_string(p.protocol)) + "/" + std::to_string(p.port));
    out << "  named ports: " << join(ps, ", ") << "\n";
  }
  for (const EnvSetting* e : {&pod.egress_policy, &pod.allowed_hosts, &pod.block_metadata}) {
    if (!e->present) continue;
    const char* name = e == &pod.egress_policy   ? "LOKI_NETWORK_EGRESS_POLICY"
                       : e == &pod.allowed_hosts ? "LOKI_ALLOWED_HOSTS"
                                                 : "LOKI_BLOCK_METADATA_ENDPOINT";
    out << "  env:         " << name << "=" << (e->literal ? e->value : std::string("<valueFrom>")) << " (container "
        << e->container << ")\n";
  }

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

  out << "\nIsolation:\n";
  if (!net.policies_apply) {
    out << "  ingress: NOT isolated: hostNetwork pods are outside NetworkPolicy\n";
    out << "  egress:  NOT isolated: hostNetwork pods are outside NetworkPolicy\n";
  } else {
    std::vector<const Policy*> deny;
    for (const Policy* p : net.egress_policies)
      if (p->egress_default_deny) deny.push_back(p);
    auto names = [](const std::vector<const Policy*>& ps) {
      std::vector<std::string> v;
      v.reserve(ps.size());
      for (const Policy* p : ps) v.push_back(p->display());
      return join(v, ", ");
    };
    out << "  ingress: "
        << (net.ingress_isolated ? "isolated by " + names(net.ingress_policies)
                                 : std::string("NOT isolated: no selecting policy has Ingress; all ingress allowed"))
        << "\n";
    out << "  egress:  "
        << (net.egress_isolated ? "isolated by " + names(deny)
                                : std::string("NOT isolated: no selecting policy has Egress; all egress allowed"))
        << "\n";
  }

  out << "\nAllowed egress:\n";
  if (!net.egress_isolated) {
    out << "  everything (every destination, every port)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"POLICY", "RULE", "TO", "PORTS"}};
    for (const Policy* p : net.egress_policies) {
      for (std::size_t r = 0; r < p->egress_rules.size(); ++r) {
        const auto& rule = p->egress_rules[r];
        std::vector<std::string> peers, ports;
        for (const auto& peer : rule.to) peers.push_back(peer.to_string());
        for (const auto& port : rule.ports)
          ports.push_back(port.all_ports() && !port.protocol ? "every port" : port.to_string());
        rows.push_back({p->display(), "egress[" + std::to_string(r) + "]",
                        peers.empty() ? "nothing" : join(peers, " | "), join(ports, ", ")});
      }
      if (p->egress_rules.empty()) rows.push_back({p->display(), "-", "nothing (no egress rules)", "-"});
    }
    table(out, rows, "  ");
  }

  if (to) {
    Verdict v = an.allows(net, to->dest, to->port, to->protocol);
    out << "\nTo " << to->text << ": " << (v.allowed ? "ALLOWED" : "DENIED") << "\n  " << v.reason << "\n";
    if (!v.allowed) {
      for (const Policy* p : net.egress_policies) {
        for (std::size_t r = 0; r < p->egress_rules.size(); ++r) {
          const auto& rule = p->egress_rules[r];
          std::vector<std::string> matched;
          for (const auto& peer : rule.to)
            if (an.peer_matches(*p, peer, to->dest)) matched.push_back(peer.to_string());
          std::string why;
          if (matched.empty()) {
            std::vector<std::string> peers;
            for (const auto& peer : rule.to) peers.push_back(peer.to_string());
            why = to->dest.to_string() + " is not " + (peers.empty() ? std::string("anything") : join(peers, " or "));
            if (to->dest.kind == Destination::Kind::host)
              why +=
                  " (NetworkPolicy matches addresses and pods; a host name is only matched by FQDN rules or a /0 "
                  "block)";
          } else {
            std::vector<std::string> ports;
            for (const auto& port : rule.ports) ports.push_back(port.to_string());
            why = "matches " + join(matched, " | ") + ", but " + std::string(to_string(to->protocol)) + "/" +
                  std::to_string(to->port) + " is not among " + join(ports, ", ");
          }
          out << "  - " << p->display() << " egress[" << r << "]: " << why << "\n";
        }
        if (p->egress_rules.empty()) out << "  - " << p->display() << ": no egress rules (denies all)\n";
      }
    }
  }
  return out.str();
}

}  // namespace loki::netpol
