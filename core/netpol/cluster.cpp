// Cluster-wide network policy of SIG Network's policy.networking.k8s.io
// (sigs.k8s.io/network-policy-api v0.3.0): AdminNetworkPolicy and
// BaselineAdminNetworkPolicy (v1alpha1) and ClusterNetworkPolicy (v1alpha2,
// v1beta1, tiers Admin and Baseline), parsed into Policy records of flavor
// `cluster` whose rules keep their order and action.
//
// What is modelled, from the API's Go types (apis/v1alpha1, apis/v1beta1):
// - subject: `namespaces` (every pod of the selected namespaces) or `pods`
//   (namespaceSelector AND podSelector);
// - peers: `namespaces`, `pods`, `networks` (CIDRs), and conservatively
//   `nodes` (node IPs the input does not have) and `domainNames`;
// - ports: v1alpha1 `ports` (portNumber, namedPort, portRange; protocol
//   default TCP), CNP `protocols` (tcp/udp/sctp with destinationPort number or
//   range, destinationNamedPort); none: every port of every protocol;
// - a peer with no field this version knows: "For "Accept" rules, "fail
//   closed" means: "treat the rule as matching no traffic". For "Deny" and
//   "Pass" rules, "fail closed" means: "treat the rule as a 'Deny all' rule"."
#include <loki/netpol.hpp>

#include <loki/json_access.hpp>

#include "internal.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

namespace loki::netpol {

using detail::ptr;
using nlohmann::json;

std::string_view to_string(Action a) {
  switch (a) {
    case Action::accept:
      return "Accept";
    case Action::deny:
      return "Deny";
    case Action::pass:
      return "Pass";
  }
  return "Deny";
}

std::string_view to_string(Tier t) {
  return t == Tier::admin ? "Admin" : "Baseline";
}

std::string Policy::tier_text() const {
  if (!is_cluster()) return {};
  // BaselineAdminNetworkPolicy has no priority (a singleton named "default").
  if (ref.kind == "BaselineAdminNetworkPolicy") return "Baseline";
  return std::string(to_string(tier)) + ", priority " + std::to_string(priority);
}

bool is_cluster_policy_kind(std::string_view kind) {
  return kind == "AdminNetworkPolicy" || kind == "BaselineAdminNetworkPolicy" || kind == "ClusterNetworkPolicy";
}

namespace {

std::optional<LabelSelector> selector(const json* j, Policy& pol, const std::string& where) {
  if (!j || !j->is_object()) {
    pol.notes.push_back(where + ": not a label selector; ignored");
    return std::nullopt;
  }
  try {
    return LabelSelector::from_json(*j, where);
  } catch (const SelectorError& e) {
    pol.notes.push_back(std::string(e.what()) + "; ignored");
    return std::nullopt;
  }
}

// `pods: {namespaceSelector, podSelector}`. Both are struct fields (not
// pointers): omitted is empty, and "if empty, it selects all Namespaces"
// (v1beta1 marks namespaceSelector +optional).
bool namespaced_pod(const json& j, Policy& pol, const std::string& where, LabelSelector& ns, LabelSelector& pods) {
  static const json empty = json::object();
  const json* nj = member(j, "namespaceSelector");
  const json* pj = member(j, "podSelector");
  auto n = selector(nj ? nj : &empty, pol, where + ".namespaceSelector");
  auto p = selector(pj ? pj : &empty, pol, where + ".podSelector");
  if (!n || !p) return false;
  ns = std::move(*n);
  pods = std::move(*p);
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// The peers of one `to`/`from` entry (networks and domainNames give several).
// false: no known field (fail closed).
bool cluster_peer(const json& j, Policy& pol, const std::string& where, std::vector<Peer>& out) {
  if (!j.is_object()) return false;
  bool known = false;
  if (const json* ns = member(j, "namespaces")) {
    known = true;
    if (auto s = selector(ns, pol, where + ".namespaces")) {
      Peer p;
      p.kind = Peer::Kind::pods;
      p.namespace_selector = std::move(*s);
      out.push_back(std::move(p));
    }
  }
  if (const json* pods = member(j, "pods")) {
    known = true;
    Peer p;
    p.kind = Peer::Kind::pods;
    LabelSelector n;
    if (namespaced_pod(*pods, pol, where + ".pods", n, p.pod_selector)) {
      p.namespace_selector = std::move(n);
      out.push_back(std::move(p));
    }
  }
  if (const json* nodes = member(j, "nodes")) {
    known = true;
    if (auto s = selector(nodes, pol, where + ".nodes")) {
      Peer p;
      p.kind = Peer::Kind::nodes;
      p.pod_selector = std::move(*s);
      out.push_back(std::move(p));
    }
  }
  if (const json* nets = member(j, "networks"); nets && nets->is_array()) {
    known = true;
    for (const auto& n : *nets) {
      auto c = n.is_string() ? Cidr::parse(n.get<std::string>()) : std::nullopt;
      if (!c) {
        pol.notes.push_back(where + ".networks: " + n.dump() + " is not a CIDR; ignored");
        continue;
      }
      Peer p;
      p.kind = Peer::Kind::ip_block;
      p.cidr = *c;
      out.push_back(std::move(p));
    }
  }
  if (const json* names = member(j, "domainNames"); names && names->is_array()) {
    known = true;
    for (const auto& n : *names) {
      if (!n.is_string()) continue;
      Peer p;
      p.kind = Peer::Kind::domain;
      p.fqdn = lower(n.get<std::string>());
      // "'*' may only be specified as a prefix": "*.kubernetes.io".
      if (p.fqdn.rfind("*.", 0) == 0) {
        p.fqdn_pattern = true;
        p.fqdn = p.fqdn.substr(2);
      }
      out.push_back(std::move(p));
    }
  }
  return known;
}

std::optional<Protocol> proto_of(const json* j, Policy& pol, const std::string& where) {
  // "If not specified, this field defaults to TCP."
  if (!j) return Protocol::TCP;
  auto p = j->is_string() ? parse_protocol(j->get<std::string>()) : std::nullopt;
  if (!p) pol.notes.push_back(where + ": protocol " + j->dump() + " is not TCP, UDP or SCTP; port ignored");
  return p;
}

// v1alpha1 `ports` (AdminNetworkPolicyPort: exactly one field).
std::vector<PortSpec> anp_ports(const json* ports, Policy& pol, const std::string& where) {
  // "If Ports is not set then the rule does not filter traffic via port."
  if (!ports || !ports->is_array()) return {PortSpec::all()};
  std::vector<PortSpec> out;
  for (std::size_t i = 0; i < ports->size(); ++i) {
    const json& p = (*ports)[i];
    const std::string w = where + ".ports[" + std::to_string(i) + "]";
    if (const json* pn = member(p, "portNumber")) {
      auto proto = proto_of(member(*pn, "protocol"), pol, w);
      const json* port = member(*pn, "port");
      if (proto && port && port->is_number_integer()) out.push_back(PortSpec{proto, port->get<int>(), 0, {}});
    } else if (const json* np = member(p, "namedPort"); np && np->is_string()) {
      // A named port is resolved against the destination's container ports, any protocol.
      out.push_back(PortSpec{std::nullopt, 0, 0, np->get<std::string>()});
    } else if (const json* pr = member(p, "portRange")) {
      auto proto = proto_of(member(*pr, "protocol"), pol, w);
      const json* s = member(*pr, "start");
      const json* e = member(*pr, "end");
      if (proto && s && e && s->is_number_integer() && e->is_number_integer())
        out.push_back(PortSpec{proto, s->get<int>(), e->get<int>(), {}});
    } else {
      pol.notes.push_back(w + ": no portNumber, namedPort or portRange; ignored");
    }
  }
  return out;
}

// ClusterNetworkPolicy `protocols` (exactly one of tcp, udp, sctp, destinationNamedPort).
std::vector<PortSpec> cnp_protocols(const json* protocols, Policy& pol, const std::string& where) {
  // "If unspecified, protocol-specific attributes will not be used to match traffic."
  if (!protocols || !protocols->is_array()) return {PortSpec::all()};
  std::vector<PortSpec> out;
  for (std::size_t i = 0; i < protocols->size(); ++i) {
    const json& p = (*protocols)[i];
    const std::string w = where + ".protocols[" + std::to_string(i) + "]";
    bool found = false;
    for (auto [key, proto] : {std::pair{"tcp", Protocol::TCP}, {"udp", Protocol::UDP}, {"sctp", Protocol::SCTP}}) {
      const json* x = member(p, key);
      if (!x) continue;
      found = true;
      PortSpec s{proto, 0, 0, {}};
      if (const json* dp = member(*x, "destinationPort")) {
        if (const json* n = member(*dp, "number"); n && n->is_number_integer() && n->get<int>() > 0) {
          s.port = n->get<int>();
        } else if (const json* r = member(*dp, "range")) {
          const json* st = member(*r, "start");
          const json* en = member(*r, "end");
          if (!st || !en || !st->is_number_integer() || !en->is_number_integer()) {
            pol.notes.push_back(w + ": a range without start and end; ignored");
            continue;
          }
          s.port = st->get<int>();
          s.end_port = en->get<int>();
        }
      }
      out.push_back(s);
    }
    if (const json* np = member(p, "destinationNamedPort"); np && np->is_string()) {
      found = true;
      out.push_back(PortSpec{std::nullopt, 0, 0, np->get<std::string>()});
    }
    if (!found) pol.notes.push_back(w + ": no tcp, udp, sctp or destinationNamedPort; ignored");
  }
  return out;
}

}  // namespace

namespace detail {

std::vector<Policy> parse_cluster(const Object& o) {
  const std::string kind = o.json.value("kind", "");
  Policy p = policy_base(o, "");
  p.flavor = Policy::Flavor::cluster;
  p.ns.clear();
  p.ref.ns.clear();
  const json* spec = member(o.json, "spec");
  if (!spec || !spec->is_object()) return {};
  const bool cnp = kind == "ClusterNetworkPolicy";
  if (cnp) {
    const json* t = member(*spec, "tier");
    if (!t || !t->is_string() || (*t != "Admin" && *t != "Baseline")) return {};
    p.tier = *t == "Admin" ? Tier::admin : Tier::baseline;
  } else {
    p.tier = kind == "AdminNetworkPolicy" ? Tier::admin : Tier::baseline;
  }
  if (const json* pr = member(*spec, "priority"); pr && pr->is_number_integer()) p.priority = pr->get<int>();
  // BaselineAdminNetworkPolicy has no priority: after every ClusterNetworkPolicy
  // of the Baseline tier (the two APIs define no order between them).
  if (kind == "BaselineAdminNetworkPolicy") p.priority = 1001;

  // Subject: exactly one of namespaces, pods.
  const json* subject = member(*spec, "subject");
  p.selector_field = "/spec/subject";
  p.selector_line = o.line_of(p.selector_field);
  if (!subject || !subject->is_object()) return {};
  if (const json* ns = member(*subject, "namespaces")) {
    auto s = selector(ns, p, "spec.subject.namespaces");
    if (!s) return {};
    p.namespace_selector = std::move(*s);
    p.selector_field = "/spec/subject/namespaces";
  } else if (const json* pods = member(*subject, "pods")) {
    LabelSelector n;
    if (!namespaced_pod(*pods, p, "spec.subject.pods", n, p.pod_selector)) return {};
    p.namespace_selector = std::move(n);
    p.selector_field = "/spec/subject/pods";
  } else {
    return {};
  }
  p.selector_line = o.line_of(p.selector_field);

  auto rules = [&](const char* key, const char* peers_key, std::vector<EgressRule>& out) {
    const json* list = member(*spec, key);
    if (!list || !list->is_array()) return;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& r = (*list)[i];
      const std::string base = ptr(std::string("/spec/") + key, i);
      const std::string where = std::string("spec.") + key + "[" + std::to_string(i) + "]";
      EgressRule rule;
      rule.field = base;
      rule.line = o.line_of(base);
      rule.name = r.value("name", "");
      const std::string action = r.value("action", "");
      if (action == "Accept" || action == "Allow")
        rule.action = Action::accept;
      else if (action == "Deny")
        rule.action = Action::deny;
      else if (action == "Pass" && p.tier == Tier::admin)
        rule.action = Action::pass;
      else {
        // An action this version does not know: fail closed as for an unknown peer.
        p.notes.push_back(where + ": action \"" + action + "\" is not known; treated as Deny all (fail closed)");
        rule.action = Action::deny;
        rule.to = {Peer{}};
        rule.ports = {PortSpec::all()};
        out.push_back(std::move(rule));
        continue;
      }
      bool unknown_peer = false;
      if (const json* peers = member(r, peers_key); peers && peers->is_array())
        for (std::size_t j = 0; j < peers->size(); ++j)
          unknown_peer |=
              !cluster_peer((*peers)[j], p, where + "." + peers_key + "[" + std::to_string(j) + "]", rule.to);
      rule.ports = cnp ? cnp_protocols(member(r, "protocols"), p, where) : anp_ports(member(r, "ports"), p, where);
      if (unknown_peer && rule.action != Action::accept) {
        // "For "Deny" and "Pass" rules, "fail closed" means: "treat the rule as a 'Deny all' rule"."
        p.notes.push_back(where + ": a peer with no field this version knows; treated as Deny all (fail closed)");
        rule.action = Action::deny;
        rule.to = {Peer{}};
        rule.ports = {PortSpec::all()};
      }
      // An Accept rule with such a peer matches nothing through it ("treat the rule as matching no traffic").
      if (rule.to.empty() || rule.ports.empty()) {
        p.notes.push_back(where + ": matches no traffic");
        rule.to.clear();
      }
      out.push_back(std::move(rule));
    }
  };
  rules("egress", "to", p.egress_rules);
  rules("ingress", "from", p.ingress_rules);
  p.written_egress_rules = p.egress_rules.size();
  p.egress_line = o.line_of("/spec/egress");
  std::vector<Policy> out;
  out.push_back(std::move(p));
  return out;
}

}  // namespace detail

}  // namespace loki::netpol
