// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2), the
// egress half: endpointSelector, toEndpoints, toCIDR/toCIDRSet, toEntities,
// toFQDNs (matchName / matchPattern), toPorts.
// https://docs.cilium.io/en/stable/security/policy/language/
//
// Semantics modelled:
// - A rule section (`egress` or `egressDeny`) with at least one entry puts the
//   selected endpoints in default deny for egress, unless
//   `enableDefaultDeny.egress: false`.
// - Within one egress rule the L3 selectors are ORed and ANDed with toPorts.
//   A rule with toPorts and no L3 selector reaches every destination on those
//   ports; an empty rule (`- {}`) allows nothing.
// - toPorts protocol defaults to ANY; port "0" or no port means every port.
// - Selector keys may carry a source prefix (`k8s:`, `any:`);
//   `io.kubernetes.pod.namespace` and `io.cilium.k8s.namespace.labels.*` select
//   namespaces. A namespaced policy's toEndpoints stay in its namespace unless
//   they name one; a clusterwide policy's reach every namespace.
// Not modelled (noted on the policy): egressDeny contents, toServices, toGroups,
// toNodes, toRequires, L7 rules.
#include <loki/netpol.hpp>

#include <loki/json_access.hpp>

#include "internal.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace loki::netpol {

using detail::ptr;
using nlohmann::json;

namespace {

bool non_empty_list(const json* j) {
  return j && j->is_array() && !j->empty();
}

constexpr std::string_view kNsKey = "io.kubernetes.pod.namespace";
constexpr std::string_view kNsLabelPrefix = "io.cilium.k8s.namespace.labels.";

// Splits a Cilium selector into its pod part and its namespace part.
struct SplitSelector {
  LabelSelector pods;
  std::optional<LabelSelector> ns;
  std::string reserved;  // a reserved:<x> label (an entity), if any
};

std::optional<SplitSelector> split_selector(const json& sel, Policy& pol, const std::string& where) {
  if (!sel.is_object()) {
    pol.notes.push_back(where + ": not a mapping, ignored");
    return std::nullopt;
  }
  json pods = json::object(), ns = json::object();
  SplitSelector out;
  // Returns the key to use and whether it selects namespaces; empty key: drop.
  auto route = [&](std::string key) -> std::pair<std::string, bool> {
    auto colon = key.find(':');
    if (colon != std::string::npos) {
      std::string source = key.substr(0, colon);
      key = key.substr(colon + 1);
      if (source == "reserved") {
        out.reserved = key;
        return {"", false};
      }
      if (source != "k8s" && source != "any") {
        pol.notes.push_back(where + ": label source \"" + source + "\" is not modelled; requirement ignored");
        return {"", false};
      }
    }
    if (key == kNsKey) return {std::string(namespace_name_label), true};
    if (key.rfind(kNsLabelPrefix, 0) == 0) return {key.substr(kNsLabelPrefix.size()), true};
    if (key.rfind("io.cilium.k8s.policy.", 0) == 0) {
      pol.notes.push_back(where + ": " + key + " is not modelled; requirement ignored");
      return {"", false};
    }
    return {key, false};
  };
  if (const json* ml = member(sel, "matchLabels"); ml && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      auto [key, is_ns] = route(it.key());
      if (key.empty()) continue;
      (is_ns ? ns : pods)["matchLabels"][key] = *it;
    }
  }
  if (const json* me = member(sel, "matchExpressions"); me && me->is_array()) {
    for (const auto& e : *me) {
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string()) continue;
      auto [key, is_ns] = route(e["key"].get<std::string>());
      if (key.empty()) continue;
      json copy = e;
      copy["key"] = key;
      (is_ns ? ns : pods)["matchExpressions"].push_back(copy);
    }
  }
  try {
    out.pods = LabelSelector::from_json(pods, where);
    if (!ns.empty()) out.ns = LabelSelector::from_json(ns, where);
  } catch (const SelectorError& e) {
    pol.notes.push_back(std::string(e.what()) + "; ignored");
    return std::nullopt;
  }
  return out;
}

std::vector<PortSpec> cilium_ports(const json* to_ports, Policy& pol, const std::string& where) {
  std::vector<PortSpec> out;
  if (!non_empty_list(to_ports)) return {PortSpec::all()};
  for (std::size_t i = 0; i < to_ports->size(); ++i) {
    const json& pr = (*to_ports)[i];
    if (member(pr, "rules"))
      pol.notes.push_back(where + ".toPorts[" + std::to_string(i) +
                          "].rules: L7 rules are not modelled (they only narrow the L4 allowance shown)");
    const json* ports = member(pr, "ports");
    if (!non_empty_list(ports)) {
      out.push_back(PortSpec::all());
      continue;
    }
    for (const auto& p : *ports) {
      PortSpec s = PortSpec::all();
      if (const json* proto = member(p, "protocol"); proto && proto->is_string() && *proto != "ANY") {
        auto pp = parse_protocol(proto->get<std::string>());
        if (!pp) {
          pol.notes.push_back(where + ": protocol " + proto->dump() + " is not modelled; port ignored");
          continue;
        }
        s.protocol = *pp;
      }
      if (const json* port = member(p, "port")) {
        std::string v = port->is_string() ? port->get<std::string>() : port->dump();
        bool digits = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits && v.size() <= 5)
          s.port = std::stoi(v);
        else
          s.name = v;
        if (s.name.empty() && s.port > 65535) {
          pol.notes.push_back(where + ": port " + v + " out of range; ignored");
          continue;
        }
      }
      if (const json* end = member(p, "endPort"); end && end->is_number_integer() && s.port > 0) {
        int e = end->get<int>();
        if (e > s.port && e <= 65535) s.end_port = e;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::optional<Peer> cidr_peer(const std::string& text, const json* except, Policy& pol, const std::string& where) {
  auto c = Cidr::parse(text);
  if (!c) {
    pol.notes.push_back(where + ": \"" + text + "\" is not a CIDR; ignored");
    return std::nullopt;
  }
  Peer p;
  p.kind = Peer::Kind::ip_block;
  p.cidr = *c;
  if (except && except->is_array())
    for (const auto& e : *except)
      if (auto ec = e.is_string() ? Cidr::parse(e.get<std::string>()) : std::nullopt) p.except.push_back(*ec);
  return p;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

EgressRule cilium_rule(const json& r, Policy& pol, bool clusterwide, const std::string& field,
                       const std::string& where) {
  EgressRule rule;
  rule.field = field;
  bool has_l3 = false;
  if (const json* eps = member(r, "toEndpoints"); non_empty_list(eps)) {
    has_l3 = true;
    for (std::size_t i = 0; i < eps->size(); ++i) {
      auto sel = split_selector((*eps)[i], pol, where + ".toEndpoints[" + std::to_string(i) + "]");
      if (!sel) continue;
      Peer p;
      if (!sel->reserved.empty()) {
        p.kind = Peer::Kind::entity;
        p.entity = sel->reserved;
      } else {
        p.kind = Peer::Kind::pods;
        p.pod_selector = std::move(sel->pods);
        p.namespace_selector = std::move(sel->ns);
        if (!p.namespace_selector && clusterwide) p.namespace_selector = LabelSelector();
      }
      rule.to.push_back(std::move(p));
    }
  }
  if (const json* cidrs = member(r, "toCIDR"); non_empty_list(cidrs)) {
    has_l3 = true;
    for (const auto& c : *cidrs)
      if (c.is_string())
        if (auto p = cidr_peer(c.get<std::string>(), nullptr, pol, where + ".toCIDR")) rule.to.push_back(*p);
  }
  if (const json* sets = member(r, "toCIDRSet"); non_empty_list(sets)) {
    has_l3 = true;
    for (const auto& s : *sets) {
      const json* c = member(s, "cidr");
      if (!c || !c->is_string()) {
        pol.notes.push_back(where + ".toCIDRSet: entry without cidr (cidrGroupRef?) is not modelled");
        continue;
      }
      if (auto p = cidr_peer(c->get<std::string>(), member(s, "except"), pol, where + ".toCIDRSet"))
        rule.to.push_back(*p);
    }
  }
  if (const json* ents = member(r, "toEntities"); non_empty_list(ents)) {
    has_l3 = true;
    for (const auto& e : *ents) {
      if (!e.is_string()) continue;
      Peer p;
      p.kind = Peer::Kind::entity;
      p.entity = e.get<std::string>();
      rule.to.push_back(std::move(p));
    }
  }
  if (const json* fq = member(r, "toFQDNs"); non_empty_list(fq)) {
    has_l3 = true;
    for (const auto& f : *fq) {
      Peer p;
      p.kind = Peer::Kind::fqdn;
      if (const json* n = member(f, "matchName"); n && n->is_string()) {
        p.fqdn = lower(n->get<std::string>());
      } else if (const json* m = member(f, "matchPattern"); m && m->is_string()) {
        p.fqdn = lower(m->get<std::string>());
        p.fqdn_pattern = true;
      } else {
        continue;
      }
      rule.to.push_back(std::move(p));
    }
  }
  for (const char* k : {"toServices", "toGroups", "toNodes", "toRequires"}) {
    if (non_empty_list(member(r, k))) {
      has_l3 = true;
      pol.notes.push_back(where + "." + k + " is not modelled: the destinations it allows are not shown");
    }
  }
  const json* to_ports = member(r, "toPorts");
  rule.ports = cilium_ports(to_ports, pol, where);
  if (!has_l3 && non_empty_list(to_ports)) {
    rule.to_missing = true;  // L4-only rule: every destination on these ports
    rule.to.push_back(Peer{});
  }
  // No L3 and no L4: `- {}` allows nothing (it only puts the endpoint in default deny).
  return rule;
}

}  // namespace

namespace detail {

std::vector<Policy> parse_cilium(const Object& o, const std::string& default_namespace) {
  bool clusterwide = o.json.value("kind", "") == "CiliumClusterwideNetworkPolicy";
  std::vector<std::pair<const json*, std::string>> specs;
  if (const json* s = member(o.json, "spec"); s && s->is_object()) specs.push_back({s, "/spec"});
  if (const json* ss = member(o.json, "specs"); ss && ss->is_array())
    for (std::size_t i = 0; i < ss->size(); ++i)
      if ((*ss)[i].is_object()) specs.push_back({&(*ss)[i], ptr("/specs", i)});
  std::vector<Policy> out;
  for (const auto& [spec, base] : specs) {
    Policy p = policy_base(o, default_namespace);
    p.flavor = clusterwide ? Policy::Flavor::cilium_clusterwide : Policy::Flavor::cilium;
    if (clusterwide) p.ns.clear();
    if (base != "/spec") p.spec_index = std::stoi(base.substr(7));
    p.spec_line = o.line_of(base);
    p.selector_field = base + "/endpointSelector";
    p.selector_line = o.line_of(p.selector_field);
    const json* es = member(*spec, "endpointSelector");
    if (!es) {
      // nodeSelector: a host policy, which does not apply to pods.
      continue;
    }
    auto sel = split_selector(*es, p, base.substr(1) + ".endpointSelector");
    if (!sel || !sel->reserved.empty()) continue;
    p.pod_selector = std::move(sel->pods);
    if (sel->ns) {
      if (clusterwide)
        p.namespace_selector = std::move(sel->ns);
      else
        p.notes.push_back("endpointSelector: the namespace part is redundant in a namespaced policy; ignored");
    }
    const json* egress = member(*spec, "egress");
    const json* egress_deny = member(*spec, "egressDeny");
    p.has_ingress_rules = non_empty_list(member(*spec, "ingress")) || non_empty_list(member(*spec, "ingressDeny"));
    p.ingress = p.has_ingress_rules;
    p.written_egress_rules = egress && egress->is_array() ? egress->size() : 0;
    p.has_egress_rules = p.written_egress_rules > 0;
    p.egress = non_empty_list(egress) || non_empty_list(egress_deny);
    p.egress_line = o.line_of(base + "/egress");
    if (const json* dd = member(*spec, "enableDefaultDeny")) {
      if (const json* e = member(*dd, "egress"); e && e->is_boolean()) p.egress_default_deny = e->get<bool>();
    }
    if (non_empty_list(egress_deny))
      p.notes.push_back("egressDeny is not modelled: the allowed egress shown may be wider than what is enforced");
    if (non_empty_list(egress)) {
      for (std::size_t i = 0; i < egress->size(); ++i) {
        std::string field = ptr(base + "/egress", i);
        EgressRule r =
            cilium_rule((*egress)[i], p, clusterwide, field, base.substr(1) + ".egress[" + std::to_string(i) + "]");
        r.line = o.line_of(field);
        p.egress_rules.push_back(std::move(r));
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace detail

bool fqdn_pattern_matches(std::string_view pattern, std::string_view name) {
  std::string p = lower(std::string(pattern)), n = lower(std::string(name));
  if (p == "*") return !n.empty();
  // Glob where `*` matches [-a-zA-Z0-9_]* (never a dot), by backtracking.
  std::size_t pi = 0, ni = 0, star = std::string::npos, mark = 0;
  while (ni < n.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ni;
    } else if (pi < p.size() && p[pi] == n[ni]) {
      ++pi;
      ++ni;
    } else if (star != std::string::npos && n[mark] != '.') {
      pi = star + 1;
      ni = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace loki::netpol
