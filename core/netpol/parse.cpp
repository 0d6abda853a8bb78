// Kubernetes objects to the compact network model: NetworkPolicy (with the
// API's defaulting), Namespaces, and pod templates.
#include <loki/engine.hpp>
#include <loki/netpol.hpp>
#include <loki/podspec.hpp>
#include <loki/rules.hpp>

#include <loki/json_access.hpp>
#include "internal.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <tuple>

namespace loki::netpol {

using detail::ptr;
using nlohmann::json;

// ---- small types -----------------------------------------------------------------

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::TCP:
      return "TCP";
    case Protocol::UDP:
      return "UDP";
    case Protocol::SCTP:
      return "SCTP";
  }
  return "TCP";
}

std::optional<Protocol> parse_protocol(std::string_view s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == "TCP") return Protocol::TCP;
  if (u == "UDP") return Protocol::UDP;
  if (u == "SCTP") return Protocol::SCTP;
  return std::nullopt;
}

bool PortSpec::covers_number(int p, Protocol proto) const {
  if (!covers_protocol(proto) || !name.empty()) return false;
  if (port == 0) return true;
  return end_port > 0 ? p >= port && p <= end_port : p == port;
}

std::string PortSpec::to_string() const {
  std::string s = protocol ? std::string(netpol::to_string(*protocol)) : std::string("any");
  s += '/';
  if (!name.empty())
    s += name;
  else if (port == 0)
    s += '*';
  else if (end_port > 0)
    s += std::to_string(port) + "-" + std::to_string(end_port);
  else
    s += std::to_string(port);
  return s;
}

bool Peer::reaches_anywhere() const {
  switch (kind) {
    case Kind::any:
      return true;
    case Kind::ip_block:
      return cidr.everything();
    case Kind::entity:
      return entity == "world" || entity == "all";
    case Kind::fqdn:
      return fqdn_pattern && fqdn == "*";
    case Kind::pods:
    case Kind::nodes:
      return false;
    case Kind::domain:
      return false;
  }
  return false;
}

std::string Peer::to_string() const {
  switch (kind) {
    case Kind::any:
      return "any destination";
    case Kind::pods: {
      std::string s = pod_selector.empty() ? "all pods" : "pods [" + pod_selector.to_string() + "]";
      if (!namespace_selector)
        s += " in the policy's namespace";
      else if (namespace_selector->empty())
        s += " in all namespaces";
      else
        s += " in namespaces [" + namespace_selector->to_string() + "]";
      return s;
    }
    case Kind::ip_block: {
      std::string s = "ipBlock " + cidr.to_string();
      for (std::size_t i = 0; i < except.size(); ++i) s += (i ? ", " : " except ") + except[i].to_string();
      return s;
    }
    case Kind::fqdn:
      return (fqdn_pattern ? "FQDN pattern " : "FQDN ") + fqdn;
    case Kind::entity:
      return "entity " + entity;
    case Kind::nodes:
      return pod_selector.empty() ? "all nodes" : "nodes [" + pod_selector.to_string() + "]";
    case Kind::domain:
      return "domain name " + std::string(fqdn_pattern ? "*." : "") + fqdn;
  }
  return "?";
}

std::string Grant::where() const {
  if (!policy) return "no policy";
  if (policy->is_cluster()) {
    const auto& rules = ingress ? policy->ingress_rules : policy->egress_rules;
    std::string s = policy->ref.display() + " (" + policy->tier_text() + ", " + (ingress ? "ingress[" : "egress[") +
                    std::to_string(rule) + "]";
    if (rule < rules.size() && !rules[rule].name.empty()) s += " " + rules[rule].name;
    return s + ")";
  }
  return policy->display() + (ingress ? " ingress[" : " egress[") + std::to_string(rule) + "]";
}

std::string_view to_string(Verdict::Answer a) {
  switch (a) {
    case Verdict::Answer::allowed:
      return "allowed";
    case Verdict::Answer::denied:
      return "denied";
    case Verdict::Answer::conditional:
      return "conditional";
  }
  return "denied";
}

std::string Policy::display() const {
  std::string s = ref.display();
  if (spec_index >= 0) s += " (specs[" + std::to_string(spec_index) + "])";
  return s;
}

std::string PodInfo::labels_text() const {
  if (labels.empty()) return "<none>";
  std::string s;
  for (const auto& [k, v] : labels) s.append(s.empty() ? "" : ",").append(k).append("=").append(v);
  return s;
}

std::string Destination::to_string() const {
  switch (kind) {
    case Kind::ip:
      return ip.to_string();
    case Kind::pod:
      return pod ? pod->ref.display() : std::string("<pod>");
    case Kind::host:
      return host;
  }
  return "?";
}

// ---- namespaces --------------------------------------------------------------------

void NamespaceSet::add(const std::string& name, Labels labels) {
  labels.insert_or_assign(std::string(namespace_name_label), name);
  ns_.insert_or_assign(name, std::move(labels));
}

void NamespaceSet::merge(NamespaceSet&& other) {
  for (auto& [name, labels] : other.ns_) ns_.insert_or_assign(name, std::move(labels));
  if (!lookup_) lookup_ = std::move(other.lookup_);
}

const Labels& NamespaceSet::labels_of(const std::string& name) const {
  if (auto it = ns_.find(name); it != ns_.end()) return it->second;
  if (lookup_)
    if (const Labels* l = lookup_(name)) return *l;
  // std::map: the reference stays valid after the lock is released.
  {
    std::shared_lock lk(unknown_mu_.m);
    if (auto it = unknown_.find(name); it != unknown_.end()) return it->second;
  }
  std::unique_lock lk(unknown_mu_.m);
  auto it = unknown_.find(name);
  if (it == unknown_.end()) it = unknown_.emplace(name, Labels{{std::string(namespace_name_label), name}}).first;
  return it->second;
}

// ---- policies ------------------------------------------------------------------------

namespace detail {

bool contains_ci(std::string_view h, std::string_view n) {
  auto it = std::search(h.begin(), h.end(), n.begin(), n.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != h.end();
}

Policy policy_base(const Object& o, const std::string& default_namespace) {
  Policy p;
  p.ref = o.ref(default_namespace);
  p.file = o.file;
  p.line = o.line;
  p.ns = p.ref.ns;
  p.spec_line = o.line_of("/spec");
  for (auto& ig : ignore_annotations(o, std::nullopt))
    if (ig.honoured()) p.ignores.push_back(std::move(ig));
  p.mentions_egress = contains_ci(p.ref.name, "egress");
  if (auto md = o.json.find("metadata"); md != o.json.end() && md->is_object()) {
    if (auto ann = md->find("annotations"); ann != md->end() && ann->is_object()) {
      for (auto it = ann->begin(); it != ann->end(); ++it) {
        if (it.key().rfind(ignore_annotation_prefix, 0) == 0) continue;
        if (contains_ci(it.key(), "egress") || (it->is_string() && contains_ci(it->get<std::string>(), "egress")))
          p.mentions_egress = true;
      }
    }
  }
  return p;
}

}  // namespace detail

namespace {

// A Kubernetes NetworkPolicyPort.
std::optional<PortSpec> k8s_port(const json& p, Policy& pol, const std::string& where) {
  if (!p.is_object()) {
    pol.notes.push_back(where + ": not a mapping, ignored");
    return std::nullopt;
  }
  PortSpec s;
  s.protocol = Protocol::TCP;
  if (const json* proto = member(p, "protocol")) {
    auto pr = proto->is_string() ? parse_protocol(proto->get<std::string>()) : std::nullopt;
    if (!pr) {
      pol.notes.push_back(where + ".protocol: unsupported value " + proto->dump() + ", port ignored");
      return std::nullopt;
    }
    s.protocol = *pr;
  }
  if (const json* port = member(p, "port")) {
    if (port->is_number_integer()) {
      s.port = port->get<int>();
    } else if (port->is_string()) {
      const auto& v = port->get_ref<const std::string&>();
      bool digits = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits && v.size() <= 5)
        s.port = std::stoi(v);
      else
        s.name = v;
    }
    if (s.name.empty() && (s.port < 1 || s.port > 65535)) {
      pol.notes.push_back(where + ".port: out of range, port ignored");
      return std::nullopt;
    }
  }
  if (const json* end = member(p, "endPort"); end && end->is_number_integer() && s.port > 0 && s.name.empty()) {
    int e = end->get<int>();
    if (e >= s.port && e <= 65535) s.end_port = e == s.port ? 0 : e;
  }
  return s;
}

std::optional<Peer> k8s_peer(const json& j, Policy& pol, const std::string& where) {
  if (!j.is_object()) {
    pol.notes.push_back(where + ": not a mapping, ignored");
    return std::nullopt;
  }
  Peer peer;
  if (const json* ib = member(j, "ipBlock")) {
    peer.kind = Peer::Kind::ip_block;
    const json* c = member(*ib, "cidr");
    auto cidr = c && c->is_string() ? Cidr::parse(c->get<std::string>()) : std::nullopt;
    if (!cidr) {
      pol.notes.push_back(where + ".ipBlock.cidr: not a CIDR, peer ignored");
      return std::nullopt;
    }
    peer.cidr = *cidr;
    if (const json* ex = member(*ib, "except"); ex && ex->is_array()) {
      for (const auto& e : *ex) {
        auto ec = e.is_string() ? Cidr::parse(e.get<std::string>()) : std::nullopt;
        if (ec)
          peer.except.push_back(*ec);
        else
          pol.notes.push_back(where + ".ipBlock.except: " + e.dump() + " is not a CIDR, ignored");
      }
    }
    return peer;
  }
  const json* ps = member(j, "podSelector");
  const json* ns = member(j, "namespaceSelector");
  if (!ps && !ns) {
    pol.notes.push_back(where + ": a peer needs podSelector, namespaceSelector or ipBlock; ignored");
    return std::nullopt;
  }
  peer.kind = Peer::Kind::pods;
  try {
    if (ps) peer.pod_selector = LabelSelector::from_json(*ps, where + ".podSelector");
    if (ns) peer.namespace_selector = LabelSelector::from_json(*ns, where + ".namespaceSelector");
  } catch (const SelectorError& e) {
    pol.notes.push_back(std::string(e.what()) + "; peer ignored");
    return std::nullopt;
  }
  return peer;
}

std::vector<Policy> parse_k8s(const Object& o, const std::string& default_namespace) {
  const json* spec = member(o.json, "spec");
  if (!spec || !spec->is_object()) return {};
  Policy p = detail::policy_base(o, default_namespace);
  p.flavor = Policy::Flavor::kubernetes;
  p.selector_field = "/spec/podSelector";
  p.selector_line = o.line_of(p.selector_field);
  try {
    // podSelector is a struct in the API: missing means empty, every pod.
    if (const json* ps = member(*spec, "podSelector"))
      p.pod_selector = LabelSelector::from_json(*ps, "spec.podSelector");
  } catch (const SelectorError&) {
    return {};  // invalid-manifest reports it; a policy the API rejects selects nothing
  }
  const json* ingress = member(*spec, "ingress");
  const json* egress = member(*spec, "egress");
  p.has_ingress_rules = ingress && ingress->is_array() && !ingress->empty();
  p.written_egress_rules = egress && egress->is_array() ? egress->size() : 0;
  p.has_egress_rules = p.written_egress_rules > 0;
  p.egress_line = o.line_of("/spec/egress");
  const json* types = member(*spec, "policyTypes");
  if (types && types->is_array() && !types->empty()) {
    p.policy_types_set = true;
    p.policy_types_line = o.line_of("/spec/policyTypes");
    for (const auto& t : *types) {
      if (t == "Ingress") p.ingress = true;
      if (t == "Egress") p.egress = true;
    }
  } else {
    // SetDefaults_NetworkPolicy: Ingress always; Egress when there are egress rules.
    p.ingress = true;
    p.egress = p.has_egress_rules;
  }
  // Rules of a direction the policy has; for ingress the peers are `from`.
  auto rules = [&](const json* list, const char* dir, const char* peers_key, std::vector<EgressRule>& into) {
    if (!list || !list->is_array()) return;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& r = (*list)[i];
      EgressRule rule;
      rule.field = ptr(std::string("/spec/") + dir, i);
      rule.line = o.line_of(rule.field);
      std::string where = std::string("spec.") + dir + "[" + std::to_string(i) + "]";
      const json* to = member(r, peers_key);
      if (!to || !to->is_array() || to->empty()) {
        rule.to_missing = true;
        rule.to.push_back(Peer{});
      } else {
        for (std::size_t k = 0; k < to->size(); ++k)
          if (auto peer = k8s_peer((*to)[k], p, where + "." + peers_key + "[" + std::to_string(k) + "]"))
            rule.to.push_back(*peer);
      }
      const json* ports = member(r, "ports");
      if (!ports || !ports->is_array() || ports->empty()) {
        rule.ports.push_back(PortSpec::all());
      } else {
        for (std::size_t k = 0; k < ports->size(); ++k)
          if (auto ps = k8s_port((*ports)[k], p, where + ".ports[" + std::to_string(k) + "]"))
            rule.ports.push_back(*ps);
      }
      into.push_back(std::move(rule));
    }
  };
  if (p.egress) rules(egress, "egress", "to", p.egress_rules);
  if (p.ingress) rules(ingress, "ingress", "from", p.ingress_rules);
  return {std::move(p)};
}

// Finds the first container env entry named `name`.
// The first env entry named `name`, as the pod's setting (for messages).
void find_env(const std::vector<ContainerRef>& containers, std::string_view name, EnvSetting& out, const Object& o) {
  auto entries = env_entries(containers, name);
  if (entries.empty()) return;
  const EnvRef& ref = entries.front();
  const json& e = *ref.entry;
  out.present = true;
  out.container = ref.container->name;
  out.field = ptr(ptr(ref.container->path, "env"), ref.index);
  out.line = o.line_of(out.field);
  if (auto v = e.find("value"); v != e.end() && v->is_string()) {
    out.value = v->get<std::string>();
  } else if (e.contains("valueFrom")) {
    out.literal = false;
  } else if (v != e.end() && !v->is_null()) {
    out.value = v->dump();  // a number or boolean the API would reject; keep it for the message
  }
}

// A pod's addresses (status.podIPs, else the older status.podIP): ipBlock
// peers match pods by them. hostNetwork pods report their node's IPs here.
void add_pod_ips(const json& object, PodInfo& info) {
  const json* status = member(object, "status");
  if (!status || !status->is_object()) return;
  auto add_ip = [&](const json* v) {
    if (!v || !v->is_string()) return;
    if (auto ip = IpAddress::parse(v->get<std::string>()))
      if (std::find(info.ips.begin(), info.ips.end(), *ip) == info.ips.end()) info.ips.push_back(*ip);
  };
  if (const json* ips = member(*status, "podIPs"); ips && ips->is_array())
    for (const auto& e : *ips) add_ip(member(e, "ip"));
  add_ip(member(*status, "podIP"));
}

// Named container ports, for policies that name a port.
void add_named_ports(const std::vector<ContainerRef>& containers, PodInfo& info) {
  for (const auto& c : containers) {
    if (c.kind == ContainerKind::ephemeral) continue;  // ephemeral containers declare no ports
    for (const ContainerPort& p : ports_of(c)) {
      if (!p.name || !p.container_port) continue;
      NamedPort np{*p.name, Protocol::TCP, static_cast<int>(*p.container_port)};
      if (p.protocol) np.protocol = parse_protocol(*p.protocol).value_or(Protocol::TCP);
      info.ports.push_back(std::move(np));
    }
  }
}

}  // namespace

bool is_policy_kind(std::string_view kind) {
  return kind == "NetworkPolicy" || kind == "CiliumNetworkPolicy" || kind == "CiliumClusterwideNetworkPolicy" ||
         is_cluster_policy_kind(kind);
}

std::vector<Policy> parse_policies(const Object& o, const std::string& default_namespace) {
  const json* kind = member(o.json, "kind");
  if (!kind || !kind->is_string()) return {};
  const auto& k = kind->get_ref<const std::string&>();
  if (k == "NetworkPolicy") return parse_k8s(o, default_namespace);
  if (k == "CiliumNetworkPolicy" || k == "CiliumClusterwideNetworkPolicy")
    return detail::parse_cilium(o, default_namespace);
  if (is_cluster_policy_kind(k)) return detail::parse_cluster(o);
  return {};
}

std::optional<PodInfo> parse_pod(const Object& o, const Config& config, const std::string& default_namespace) {
  auto pod = find_pod_template(o.json);
  if (!pod) return std::nullopt;
  PodInfo info;
  info.ref = o.ref(default_namespace);
  info.inferred_kind = pod->inferred;
  info.file = o.file;
  info.line = o.line;
  info.ns = info.ref.ns;
  if (pod->metadata) info.labels = labels_of(*pod->metadata);
  info.labels_field = pod->metadata_path + "/labels";
  info.labels_line = o.line_of(pod->metadata ? info.labels_field.str() : pod->spec_path);
  if (auto hn = pod->spec->find("hostNetwork"); hn != pod->spec->end() && hn->is_boolean() && hn->get<bool>()) {
    info.host_network = true;
    info.host_network_field = pod->spec_path + "/hostNetwork";
    info.host_network_line = o.line_of(info.host_network_field);
  }
  add_pod_ips(o.json, info);
  auto containers = containers_of(*pod);
  add_named_ports(containers, info);
  AgentEnv env;
  find_env(containers, "LOKI_NETWORK_EGRESS_POLICY", env.egress_policy, o);
  find_env(containers, "LOKI_ALLOWED_HOSTS", env.allowed_hosts, o);
  find_env(containers, "LOKI_BLOCK_METADATA_ENDPOINT", env.block_metadata, o);
  info.set_env(std::move(env));
  // A loki-mode pod under the config, or a pod that declares Loki Mode's
  // egress promise (the same test as the pod rules: is_agent_pod).
  info.loki = is_loki_pod(config, info.labels) || declares_egress_promise(containers);
  for (auto& ig : ignore_annotations(o, pod))
    if (ig.honoured()) info.ignores.push_back(std::move(ig));
  return info;
}

PolicyList::PolicyList(const PolicyList& other) {
  for (const Policy& p : other) push_back(p);
}

PolicyList& PolicyList::operator=(const PolicyList& other) {
  if (this != &other) *this = PolicyList(other);
  return *this;
}

void PolicyList::push_back(Policy policy) {
  if (!owned_) {
    auto store = std::make_shared<std::deque<Policy>>();
    owned_ = store.get();
    owners_.push_back(std::move(store));
  }
  owned_->push_back(std::move(policy));
  items_.push_back(&owned_->back());
}

void PolicyList::push_back_ref(const Policy& policy) {
  items_.push_back(&policy);
}

void PolicyList::keep_alive(std::shared_ptr<const void> owner) {
  owners_.push_back(std::move(owner));
}

void PolicyList::append(PolicyList&& other) {
  if (items_.empty() && owners_.empty()) {
    *this = std::move(other);
    return;
  }
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
  // The other's records stay where they are; their stores now live as long as this list.
  owners_.insert(owners_.end(), std::make_move_iterator(other.owners_.begin()),
                 std::make_move_iterator(other.owners_.end()));
  other = PolicyList();
}

void Inventory::add(const Object& o, const Config& config, const std::string& default_namespace) {
  const json* kind = member(o.json, "kind");
  if (!kind || !kind->is_string()) return;
  const auto& k = kind->get_ref<const std::string&>();
  if (is_policy_kind(k)) {
    for (auto& p : parse_policies(o, default_namespace)) policies.push_back(std::move(p));
    return;
  }
  if (k == "Namespace") {
    const json* md = member(o.json, "metadata");
    const json* name = md ? member(*md, "name") : nullptr;
    if (name && name->is_string()) namespaces.add(name->get<std::string>(), labels_of(*md));
    return;
  }
  if (auto pod = parse_pod(o, config, default_namespace)) pods.push_back(std::move(*pod));
}

void Inventory::merge(Inventory&& other) {
  // Take the other's storage whole when this one is empty: no doubling copies
  // of large pod lists (the lint session merges per document, then per file).
  policies.append(std::move(other.policies));
  if (pods.empty())
    pods = std::move(other.pods);
  else
    for (auto& p : other.pods) pods.push_back(std::move(p));
  namespaces.merge(std::move(other.namespaces));
}

namespace {
// std::stable_sort's order, but each record moved once: a merge sort moved
// every ~750-byte PodInfo about log2(n) times (100k pods: a few percent of a
// lint run), and records usually arrive (nearly) sorted already.
template <class T, class Less>
void stable_sort_records(std::vector<T>& v, Less less) {
  if (std::is_sorted(v.begin(), v.end(), less)) return;
  std::vector<std::uint32_t> order(v.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return less(v[a], v[b]); });
  // Apply the permutation (new[j] = old[order[j]]) cycle by cycle, in place.
  std::vector<bool> placed(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (placed[i] || order[i] == i) continue;
    T held = std::move(v[i]);
    std::size_t j = i;
    while (true) {
      placed[j] = true;
      std::size_t k = order[j];
      if (k == i) {
        v[j] = std::move(held);
        break;
      }
      v[j] = std::move(v[k]);
      j = k;
    }
  }
}
}  // namespace

void Inventory::sort() {
  policies.stable_sort([](const Policy& a, const Policy& b) {
    return std::tie(a.file, a.line, a.spec_index) < std::tie(b.file, b.line, b.spec_index);
  });
  stable_sort_records(
      pods, [](const PodInfo& a, const PodInfo& b) { return std::tie(a.file, a.line) < std::tie(b.file, b.line); });
}

}  // namespace loki::netpol
