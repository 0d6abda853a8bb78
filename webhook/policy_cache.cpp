#include "policy_cache.hpp"

#include <spdlog/spdlog.h>

#include <loki/engine.hpp>
#include <loki/json_access.hpp>
#include <loki/podspec.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace loki::webhook {

using nlohmann::json;

// Policy reflectors: NetworkPolicies, CiliumNetworkPolicies, then up to three
// of policy.networking.k8s.io (ClusterNetworkPolicy, AdminNetworkPolicy,
// BaselineAdminNetworkPolicy).
constexpr std::size_t kPolicySources = 5;

void PolicyCache::start() {
  if (started_.exchange(true)) return;
  bool cilium = false;
  std::vector<ResourceType> cluster;
  try {
    KubeClient discovery(cfg_);
    cilium = discovery.serves(resources::ciliumnetworkpolicies);
    // Cluster-wide network policy: ClusterNetworkPolicy in its newest served
    // version, and the v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy.
    if (discovery.serves(resources::clusternetworkpolicies))
      cluster.push_back(resources::clusternetworkpolicies);
    else if (discovery.serves(resources::clusternetworkpolicies_v1alpha2))
      cluster.push_back(resources::clusternetworkpolicies_v1alpha2);
    for (const ResourceType* rt : {&resources::adminnetworkpolicies, &resources::baselineadminnetworkpolicies})
      if (discovery.serves(*rt)) cluster.push_back(*rt);
  } catch (const KubeError& e) {
    // Discovery failing is not fatal: the reflectors retry; Cilium and
    // cluster network policies are then not watched until a restart (logged).
    spdlog::warn(
        R"("msg":"discovery of ciliumnetworkpolicies / policy.networking.k8s.io failed; not watching them","error":{})",
        json(e.what()).dump());
  }
  create_reflectors(cilium, cluster);
  for (auto& r : reflectors_) {
    // What operators look for when admission turns stale: which watch broke, why, and when it recovered.
    // (Messages come from the API server or the transport; they carry no object contents or credentials.)
    const std::string resource = json(r->type().display()).dump();
    r->on_error([resource](const std::string& error, int status, std::chrono::milliseconds retry) {
      if (status == 410)
        spdlog::warn(R"("msg":"policy cache: watch expired (410 Gone), re-listing","resource":{},"error":{})", resource,
                     json(error).dump());
      else
        spdlog::warn(R"("msg":"policy cache: list/watch failed, retrying","resource":{},"status":{},"retryMs":{},)"
                     R"("error":{})",
                     resource, status, retry.count(), json(error).dump());
    });
    r->on_list([resource](std::size_t objects, bool relist) {
      if (relist)
        spdlog::info(R"("msg":"policy cache: re-listed","resource":{},"objects":{})", resource, objects);
      else
        spdlog::info(R"("msg":"policy cache: synced","resource":{},"objects":{})", resource, objects);
    });
    r->start();
  }
}

void PolicyCache::create_reflectors(bool cilium, const std::vector<ResourceType>& cluster) {
  if (!reflectors_.empty()) return;
  auto add = [&](const ResourceType& rt) {
    reflectors_.push_back(std::make_unique<Reflector>(cfg_, rt));
    return reflectors_.back().get();
  };
  policies_ = add(resources::networkpolicies);
  namespaces_ = add(resources::namespaces);
  if (watch_pods_) pods_ = add(resources::pods);
  if (cilium) cilium_ = add(resources::ciliumnetworkpolicies);
  std::vector<Reflector*> cluster_reflectors;
  for (const ResourceType& rt : cluster)
    if (cluster_reflectors.size() + 2 < kPolicySources) cluster_reflectors.push_back(add(rt));
  // Each reflector's objects go straight into the snapshots, parsed once: a
  // list page by page into its staging area (each reflector has its own),
  // published as one snapshot when the list is complete.
  auto policy_sink = [this](std::size_t source) {
    return Reflector::Sink{
        [this, source] { begin_policies(source); },
        [this, source](std::vector<json>&& items) { stage_policies(source, std::move(items)); },
        [this, source] { commit_policies(source); },
        [this, source](const std::string& type, json&& o) { apply_policy(source, type, std::move(o)); }};
  };
  policies_->set_sink(policy_sink(0));
  if (cilium_) cilium_->set_sink(policy_sink(1));
  // Cluster-scoped: their policies are all "clusterwide" records of the snapshot.
  for (std::size_t i = 0; i < cluster_reflectors.size(); ++i) cluster_reflectors[i]->set_sink(policy_sink(2 + i));
  // ServiceAccounts (cluster-wide, like pods): a ServiceAccount's automountServiceAccountToken: false settles
  // service-account-token for the pods that leave the field unset, as in `loki-audit` (core/cluster.cpp).
  service_accounts_ = add(resources::serviceaccounts);
  service_accounts_->set_sink(
      {[this] { begin_service_accounts(); },
       [this](std::vector<json>&& items) { stage_service_accounts(std::move(items)); },
       [this] { commit_service_accounts(); },
       [this](const std::string& type, json&& o) { apply_service_account(type, std::move(o)); }});
  namespaces_->set_sink({[this] { begin_namespaces(); },
                         [this](std::vector<json>&& items) { stage_namespaces(std::move(items)); },
                         [this] { commit_namespaces(); },
                         [this](const std::string& type, json&& o) { apply_namespace(type, std::move(o)); }});
  if (pods_)
    pods_->set_sink({[this] { begin_pods(); }, [this](std::vector<json>&& items) { stage_pods(std::move(items)); },
                     [this] { commit_pods(); },
                     [this](const std::string& type, json&& o) { apply_pod(type, std::move(o)); }});
}

Reflector* PolicyCache::reflector(std::string_view resource) const {
  for (const auto& r : reflectors_)
    if (r->type().resource == resource) return r.get();
  return nullptr;
}

void PolicyCache::stop() {
  for (auto& r : reflectors_) r->stop();
}

bool PolicyCache::synced() const {
  if (reflectors_.empty()) return false;
  for (const auto& r : reflectors_)
    if (!r->synced()) return false;
  return true;
}

bool PolicyCache::healthy() const {
  if (!synced()) return false;
  for (const auto& r : reflectors_)
    if (!r->healthy()) return false;
  return true;
}

std::string PolicyCache::status() const {
  for (const auto& r : reflectors_) {
    if (!r->synced())
      return "cache of " + r->type().display() + " not synced" +
             (r->last_error().empty() ? std::string() : ": " + r->last_error());
    if (!r->healthy())
      return "watch of " + r->type().display() + " interrupted" +
             (r->last_error().empty() ? std::string() : ": " + r->last_error());
  }
  return reflectors_.empty() ? "not started" : "ok";
}

double PolicyCache::age_seconds() const {
  auto oldest = std::chrono::steady_clock::time_point::max();
  for (const auto& r : reflectors_) oldest = std::min(oldest, r->last_event());
  if (reflectors_.empty() || oldest == std::chrono::steady_clock::time_point{}) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - oldest).count();
}

// ---- the snapshots -------------------------------------------------------------

namespace {

constexpr std::size_t kShards = 256;

std::size_t shard_of(const std::string& ns) {
  return std::hash<std::string>{}(ns) % kShards;
}

// A live pod, as compact as the network pass allows: what parse_pod reads of
// it (labels, IPs, named ports, LOKI_* settings). The rest of a PodInfo is
// the same for every live pod (ref, file, field pointers) and is filled in
// per review; a pod that parses to anything else is kept whole.
struct LivePod {
  Labels labels;  // one block (selector.hpp)
  std::vector<netpol::IpAddress> ips;
  std::vector<netpol::NamedPort> ports;
  std::shared_ptr<const netpol::AgentEnv> env;   // only when a LOKI_* variable is set
  std::unique_ptr<const netpol::PodInfo> whole;  // not the common shape
  bool host_network = false;
  bool promise = false;  // declares Loki Mode's egress promise: an agent under any config
};

using PolicyList = std::vector<netpol::Policy>;
template <class T>
using ByName = std::vector<std::pair<std::string, std::shared_ptr<const T>>>;  // sorted by name

// Labels as NamespaceSet::add keeps them (with kubernetes.io/metadata.name),
// and as written when that differs (the mode/isolation overrides read those).
struct NsLabels {
  Labels named;
  std::optional<Labels> raw;
};

struct NsPolicies {
  // NetworkPolicies, then CiliumNetworkPolicies: the order reviews see (the
  // cluster network policy sources have no namespaced records).
  std::array<ByName<PolicyList>, kPolicySources> by_source;
  bool empty() const {
    return std::all_of(by_source.begin(), by_source.end(), [](const auto& s) { return s.empty(); });
  }
};

struct NsEntry {
  std::shared_ptr<const NsLabels> labels;  // null: no Namespace object
  std::shared_ptr<const NsPolicies> policies;
  std::shared_ptr<const ByName<LivePod>> pods;
  bool empty() const { return !labels && !policies && !pods; }
};

struct Clusterwide {
  std::map<std::pair<std::size_t, std::string>, PolicyList> by_object;  // (source, "ns/name")
  PolicyList all;                                                       // in that order
};

// ServiceAccounts with automountServiceAccountToken: false, by namespace, as
// the keys drop_unmounted_token_findings takes ("namespace/name"): a few bytes
// per ServiceAccount that opts out, nothing of the others. Sharded by
// namespace, so a watch event copies one shard and one namespace's set.
using OptOuts = std::set<std::string>;
constexpr std::size_t kTokenShards = 64;

struct TokenOptOuts {
  using Shard = std::map<std::string, std::shared_ptr<const OptOuts>>;  // namespace -> its opt-outs
  std::array<std::shared_ptr<const Shard>, kTokenShards> shards;
  std::size_t count = 0;

  static std::size_t shard_of(const std::string& ns) { return std::hash<std::string>{}(ns) % kTokenShards; }
  std::shared_ptr<const OptOuts> find(const std::string& ns) const {
    const auto& shard = shards[shard_of(ns)];
    if (!shard) return nullptr;
    auto it = shard->find(ns);
    return it == shard->end() ? nullptr : it->second;
  }
  // The namespace of a "namespace/name" key (namespace names have no '/').
  static std::string namespace_of(const std::string& key) { return key.substr(0, key.find('/')); }
};

template <class T>
typename ByName<T>::iterator find_name(ByName<T>& v, const std::string& name) {
  return std::lower_bound(v.begin(), v.end(), name, [](const auto& e, const std::string& n) { return e.first < n; });
}

// Sorted by name; of two with one name the later wins (as a map assignment would).
template <class T>
void sort_unique(ByName<T>& v) {
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ByName<T> out;
  out.reserve(v.size());
  for (auto& e : v) {
    if (!out.empty() && out.back().first == e.first)
      out.back() = std::move(e);
    else
      out.push_back(std::move(e));
  }
  v = std::move(out);
}

std::pair<std::string, std::string> ns_and_name(const json& obj) {
  const json& md = mapping_field(obj, "metadata");
  return {md.value("namespace", ""), md.value("name", "")};
}

std::shared_ptr<const LivePod> compact(json&& object, const std::string& ns, const std::string& name) {
  const json* kind = member(object, "kind");
  if (!kind || !kind->is_string()) return nullptr;  // what Inventory::add skips
  const auto& k = kind->get_ref<const std::string&>();
  if (netpol::is_policy_kind(k) || k == "Namespace") return nullptr;
  Object o;
  o.json = std::move(object);
  o.file = "live";
  auto pod = find_pod_template(o.json);
  if (!pod) return nullptr;
  auto live = std::make_shared<LivePod>();
  live->promise = declares_egress_promise(containers_of(*pod));
  static const Config kDefaults;                    // (a named object: GCC 12 warns of a maybe-uninitialized temporary)
  auto info = netpol::parse_pod(o, kDefaults, ns);  // `loki` is recomputed per review, under its config
  if (!info) return nullptr;
  const bool common = info->ref == ObjectRef{"v1", "Pod", ns, name} && info->ns == ns && info->file == "live" &&
                      info->line == 0 && !info->inferred_kind && info->labels_field == "/metadata/labels" &&
                      info->labels_line == 0 &&
                      info->host_network_field == (info->host_network ? "/spec/hostNetwork" : "") &&
                      info->host_network_line == 0 && info->ignores.empty();
  if (!common) {
    live->whole = std::make_unique<const netpol::PodInfo>(std::move(*info));
    return live;
  }
  live->labels = std::move(info->labels);
  live->ips = std::move(info->ips);
  live->ips.shrink_to_fit();
  live->ports = std::move(info->ports);
  live->ports.shrink_to_fit();
  live->host_network = info->host_network;
  live->env = std::move(info->env);
  return live;
}

// The PodInfo parse_pod gives for the live pod under `config`.
netpol::PodInfo expand(const LivePod& p, const std::string& ns, const std::string& name, const Config& config) {
  netpol::PodInfo info;
  if (p.whole) {
    info = *p.whole;
  } else {
    info.ref = {"v1", "Pod", ns, name};
    info.file = "live";
    info.ns = ns;
    info.labels = p.labels;
    info.labels_field = "/metadata/labels";
    info.host_network = p.host_network;
    if (p.host_network) info.host_network_field = "/spec/hostNetwork";
    info.ips = p.ips;
    info.ports = p.ports;
    info.env = p.env;  // immutable: shared, not copied
  }
  info.loki = is_loki_pod(config, info.labels) || p.promise;
  return info;
}

std::shared_ptr<const NsLabels> ns_labels(const json& object, const std::string& name) {
  auto l = std::make_shared<NsLabels>();
  Labels raw = labels_of(mapping_field(object, "metadata"));
  l->named = raw;
  l->named.insert_or_assign(std::string(netpol::namespace_name_label), name);
  if (l->named != raw) l->raw = std::move(raw);
  return l;
}

// One policy object parsed: its namespace's policies and clusterwide ones.
struct ParsedPolicies {
  std::string ns, name;
  PolicyList local, clusterwide;
};

ParsedPolicies parse_policy_object(json&& object) {
  ParsedPolicies p;
  std::tie(p.ns, p.name) = ns_and_name(object);
  if (p.ns.empty()) p.ns = "default";  // as parse_policies places it
  Object o;
  o.json = std::move(object);
  o.file = "cluster";
  for (auto& pol : netpol::parse_policies(o, "default"))
    (pol.ns.empty() ? p.clusterwide : p.local).push_back(std::move(pol));
  return p;
}

}  // namespace

struct PolicyCache::Shard : std::unordered_map<std::string, NsEntry> {};

// A list being received, per reflector (only its own threads touch its part).
struct PolicyCache::Staging {
  struct Policies {
    std::unordered_map<std::string, ByName<PolicyList>> by_ns;
    std::vector<ParsedPolicies> clusterwide;
  };
  std::array<Policies, kPolicySources> policies;  // per source
  std::vector<std::pair<std::string, std::shared_ptr<const NsLabels>>> namespaces;
  std::unordered_map<std::string, ByName<LivePod>> pods;
};

PolicyCache::PolicyCache(ClusterConfig cfg, bool watch_pods)
    : cfg_(std::move(cfg)),
      watch_pods_(watch_pods),
      snapshot_(std::make_shared<const Snapshot>()),
      staging_(std::make_unique<Staging>()) {}

PolicyCache::~PolicyCache() {
  stop();
}

// The Staging type is complete from here on.
void PolicyCache::begin_policies(std::size_t source) {
  staging_->policies[source] = {};
}
void PolicyCache::begin_namespaces() {
  staging_->namespaces = {};
}
void PolicyCache::begin_pods() {
  staging_->pods = {};
  if (listener_.pods_begin) listener_.pods_begin();
}

struct PolicyCache::Snapshot {
  std::array<std::shared_ptr<const Shard>, kShards> shards;
  std::shared_ptr<const Clusterwide> clusterwide;
  std::array<std::size_t, kPolicySources> policies{};  // parsed, per source
  std::size_t namespaces = 0, pods = 0;
  std::shared_ptr<const TokenOptOuts> token_opt_outs;  // null until ServiceAccounts are listed

  const NsEntry* find(const std::string& ns) const {
    const auto& shard = shards[shard_of(ns)];
    if (!shard) return nullptr;
    auto it = shard->find(ns);
    return it == shard->end() ? nullptr : &it->second;
  }
};

// A snapshot being built: each shard copied at most once, then edited.
class PolicyCache::Draft {
 public:
  explicit Draft(Snapshot& s) : s_(s) {}
  ~Draft() {
    for (std::size_t i = 0; i < kShards; ++i)
      if (copied_[i]) {
        std::erase_if(*copied_[i], [](const auto& e) { return e.second.empty(); });
        s_.shards[i] = std::move(copied_[i]);
      }
  }
  NsEntry& entry(const std::string& ns) { return (*shard(shard_of(ns)))[ns]; }
  template <class Fn>
  void each(Fn&& fn) {
    for (std::size_t i = 0; i < kShards; ++i)
      if (s_.shards[i] || copied_[i])
        for (auto& [ns, e] : *shard(i)) fn(e);
  }

 private:
  std::shared_ptr<Shard> shard(std::size_t i) {
    if (!copied_[i]) copied_[i] = s_.shards[i] ? std::make_shared<Shard>(*s_.shards[i]) : std::make_shared<Shard>();
    return copied_[i];
  }
  Snapshot& s_;
  std::array<std::shared_ptr<Shard>, kShards> copied_;
};

std::shared_ptr<const PolicyCache::Snapshot> PolicyCache::current() const {
  std::lock_guard lk(snapshot_mu_);
  return snapshot_;
}

template <class Fn>
void PolicyCache::update(Fn&& change) {
  // Writers take turns (one per reflector thread); readers only copy the pointer.
  std::lock_guard lk(write_mu_);
  auto next = std::make_shared<Snapshot>(*current());
  change(*next);
  std::shared_ptr<const Snapshot> old = std::move(next);
  {
    std::lock_guard swap(snapshot_mu_);
    snapshot_.swap(old);
  }
  // `old` is freed here, outside the pointer's lock (or by the last review still holding it).
}

void PolicyCache::stage_policies(std::size_t source, std::vector<json>&& items) {
  auto& [by_ns, clusterwide] = staging_->policies[source];
  for (auto& item : items) {
    ParsedPolicies p = parse_policy_object(std::move(item));
    if (!p.clusterwide.empty()) clusterwide.push_back({p.ns, p.name, {}, std::move(p.clusterwide)});
    if (!p.local.empty()) by_ns[p.ns].emplace_back(p.name, std::make_shared<const PolicyList>(std::move(p.local)));
  }
  items = {};
}

void PolicyCache::commit_policies(std::size_t source) {
  auto by_ns = std::move(staging_->policies[source].by_ns);
  auto clusterwide = std::move(staging_->policies[source].clusterwide);
  begin_policies(source);
  std::size_t count = 0;
  for (auto& [ns, list] : by_ns) {
    sort_unique(list);
    for (const auto& e : list) count += e.second->size();
  }
  update([&](Snapshot& s) {
    {
      Draft d(s);
      d.each([&](NsEntry& e) {
        if (!e.policies || e.policies->by_source[source].empty()) return;
        auto p = std::make_shared<NsPolicies>(*e.policies);
        p->by_source[source].clear();
        e.policies = p->empty() ? nullptr : std::move(p);
      });
      for (auto& [ns, list] : by_ns) {
        NsEntry& e = d.entry(ns);
        auto p = e.policies ? std::make_shared<NsPolicies>(*e.policies) : std::make_shared<NsPolicies>();
        p->by_source[source] = std::move(list);
        e.policies = std::move(p);
      }
    }
    if (s.clusterwide || !clusterwide.empty()) {
      auto cw = s.clusterwide ? std::make_shared<Clusterwide>(*s.clusterwide) : std::make_shared<Clusterwide>();
      std::erase_if(cw->by_object, [&](const auto& e) { return e.first.first == source; });
      for (auto& p : clusterwide) {
        count += p.clusterwide.size();
        cw->by_object[{source, p.ns + "/" + p.name}] = std::move(p.clusterwide);
      }
      cw->all.clear();
      for (const auto& [key, list] : cw->by_object) cw->all.insert(cw->all.end(), list.begin(), list.end());
      s.clusterwide = cw->by_object.empty() ? nullptr : std::move(cw);
    }
    s.policies[source] = count;
  });
  changed("");
}

void PolicyCache::apply_policy(std::size_t source, const std::string& type, json&& object) {
  ParsedPolicies p;
  if (type == "DELETED") {
    std::tie(p.ns, p.name) = ns_and_name(object);
    if (p.ns.empty()) p.ns = "default";
  } else {
    p = parse_policy_object(std::move(object));
  }
  bool clusterwide_changed = false;
  update([&](Snapshot& s) {
    std::size_t& count = s.policies[source];
    {
      Draft d(s);
      NsEntry& e = d.entry(p.ns);
      auto pols = e.policies ? std::make_shared<NsPolicies>(*e.policies) : std::make_shared<NsPolicies>();
      auto& list = pols->by_source[source];
      auto it = find_name(list, p.name);
      if (it != list.end() && it->first == p.name) {
        count -= it->second->size();
        it = list.erase(it);
      }
      if (!p.local.empty()) {
        count += p.local.size();
        list.emplace(it, p.name, std::make_shared<const PolicyList>(std::move(p.local)));
      }
      e.policies = pols->empty() ? nullptr : std::move(pols);
    }
    const std::pair<std::size_t, std::string> key{source, p.ns + "/" + p.name};
    if ((s.clusterwide && s.clusterwide->by_object.count(key)) || !p.clusterwide.empty()) {
      auto cw = s.clusterwide ? std::make_shared<Clusterwide>(*s.clusterwide) : std::make_shared<Clusterwide>();
      if (auto it = cw->by_object.find(key); it != cw->by_object.end()) {
        count -= it->second.size();
        cw->by_object.erase(it);
      }
      if (!p.clusterwide.empty()) {
        count += p.clusterwide.size();
        cw->by_object[key] = std::move(p.clusterwide);
      }
      cw->all.clear();
      for (const auto& [k, list] : cw->by_object) cw->all.insert(cw->all.end(), list.begin(), list.end());
      s.clusterwide = cw->by_object.empty() ? nullptr : std::move(cw);
      clusterwide_changed = true;
    }
  });
  changed(clusterwide_changed ? std::string() : p.ns);
}

void PolicyCache::stage_namespaces(std::vector<json>&& items) {
  auto& labels = staging_->namespaces;
  labels.reserve(labels.size() + items.size());
  for (const auto& item : items) {
    std::string name = ns_and_name(item).second;
    auto l = ns_labels(item, name);
    labels.emplace_back(std::move(name), std::move(l));
  }
  items = {};
}

void PolicyCache::commit_namespaces() {
  auto labels = std::move(staging_->namespaces);
  begin_namespaces();
  update([&](Snapshot& s) {
    Draft d(s);
    d.each([](NsEntry& e) { e.labels = nullptr; });
    s.namespaces = 0;
    for (auto& [name, l] : labels) {
      auto& slot = d.entry(name).labels;
      if (!slot) ++s.namespaces;
      slot = std::move(l);  // of two with one name the later wins
    }
  });
  changed("");
}

namespace {

// Whether a selector of namespaces judges the two label sets differently.
bool flips(const std::optional<LabelSelector>& sel, const Labels& before, const Labels& after) {
  return sel && sel->matches(before) != sel->matches(after);
}

// Whether the verdicts of a policy can change when a namespace's labels go
// from `before` to `after`: its subject (Cilium clusterwide, cluster policies)
// or one of its peers selects namespaces by those labels.
bool policy_flips(const netpol::Policy& p, const Labels& before, const Labels& after) {
  if (flips(p.namespace_selector, before, after)) return true;
  for (const auto* rules : {&p.egress_rules, &p.ingress_rules})
    for (const auto& r : *rules)
      for (const auto& peer : r.to)
        if (peer.kind == netpol::Peer::Kind::pods && flips(peer.namespace_selector, before, after)) return true;
  return false;
}

}  // namespace

void PolicyCache::apply_namespace(const std::string& type, json&& object) {
  std::string name = ns_and_name(object).second;
  std::shared_ptr<const NsLabels> l = type == "DELETED" ? nullptr : ns_labels(object, name);
  std::shared_ptr<const NsLabels> before;
  update([&](Snapshot& s) {
    Draft d(s);
    auto& slot = d.entry(name).labels;
    s.namespaces += (l ? 1 : 0) - (slot ? 1 : 0);
    before = slot;
    slot = l;
  });
  changed(name);
  if (!listener_.changed) return;
  // Other namespaces' verdicts read this namespace's labels too: a peer's
  // namespaceSelector, a cluster policy's subject or peers. Those whose
  // policies judge the old and the new labels differently are affected.
  // (A namespace that does not exist has only kubernetes.io/metadata.name.)
  const Labels absent{{std::string(netpol::namespace_name_label), name}};
  const Labels& old_labels = before ? before->named : absent;
  const Labels& new_labels = l ? l->named : absent;
  if (old_labels == new_labels) return;
  auto snap = current();
  if (snap->clusterwide)
    for (const auto& p : snap->clusterwide->all)
      if (policy_flips(p, old_labels, new_labels)) {
        changed("");  // a clusterwide policy: any namespace's agents
        return;
      }
  std::vector<std::string> affected;
  for (const auto& shard : snap->shards)
    if (shard)
      for (const auto& [ns, e] : *shard)
        if (ns != name && e.policies)
          for (const auto& source : e.policies->by_source)
            for (const auto& [policy_name, list] : source)
              if (std::any_of(list->begin(), list->end(),
                              [&](const netpol::Policy& p) { return policy_flips(p, old_labels, new_labels); }) &&
                  (affected.empty() || affected.back() != ns))
                affected.push_back(ns);
  for (const auto& ns : affected) changed(ns);
}

void PolicyCache::stage_pods(std::vector<json>&& items) {
  // The listener (the background audit) checks each pod while its JSON is in hand.
  if (listener_.pods_page) listener_.pods_page(items);
  auto& by_ns = staging_->pods;
  for (auto& item : items) {
    auto [ns, name] = ns_and_name(item);
    auto p = compact(std::move(item), ns, name);
    by_ns[ns].emplace_back(std::move(name), std::move(p));
  }
  items = {};
}

void PolicyCache::commit_pods() {
  auto by_ns = std::move(staging_->pods);
  staging_->pods = {};
  std::size_t count = 0;
  for (auto& [ns, list] : by_ns) {
    sort_unique(list);
    count += list.size();
  }
  update([&](Snapshot& s) {
    Draft d(s);
    d.each([](NsEntry& e) { e.pods = nullptr; });
    for (auto& [ns, list] : by_ns) d.entry(ns).pods = std::make_shared<const ByName<LivePod>>(std::move(list));
    s.pods = count;
  });
  if (listener_.pods_commit) listener_.pods_commit();
  changed("");
}

void PolicyCache::apply_pod(const std::string& type, json&& object) {
  std::string ns, name;  // not a structured binding: the lambda below uses them (clang 14 cannot)
  std::tie(ns, name) = ns_and_name(object);
  const bool deleted = type == "DELETED";
  if (listener_.pod) listener_.pod(ns, name, deleted ? nullptr : &object);
  std::shared_ptr<const LivePod> p = deleted ? nullptr : compact(std::move(object), ns, name);
  update([&](Snapshot& s) {
    Draft d(s);
    NsEntry& e = d.entry(ns);
    auto pods = e.pods ? std::make_shared<ByName<LivePod>>(*e.pods) : std::make_shared<ByName<LivePod>>();
    auto it = find_name(*pods, name);
    const bool found = it != pods->end() && it->first == name;
    if (deleted) {
      if (found) {
        pods->erase(it);
        --s.pods;
      }
    } else if (found) {
      it->second = std::move(p);
    } else {
      pods->emplace(it, name, std::move(p));
      ++s.pods;
    }
    e.pods = pods->empty() ? nullptr : std::move(pods);
  });
  changed(ns);
}

// ---- ServiceAccounts --------------------------------------------------------------

void PolicyCache::begin_service_accounts() {
  staged_opt_outs_.clear();
}

void PolicyCache::stage_service_accounts(std::vector<json>&& items) {
  for (auto& item : items) {
    Object o;
    o.json = std::move(item);
    // The same test as `loki-audit`'s, on the object as listed.
    if (auto key = service_account_opting_out(o, "")) staged_opt_outs_.push_back(std::move(*key));
  }
  items = {};
}

void PolicyCache::commit_service_accounts() {
  std::map<std::string, OptOuts> by_ns;
  for (auto& key : staged_opt_outs_) by_ns[TokenOptOuts::namespace_of(key)].insert(std::move(key));
  staged_opt_outs_ = {};
  auto next = std::make_shared<TokenOptOuts>();
  std::array<std::shared_ptr<TokenOptOuts::Shard>, kTokenShards> shards;
  for (auto& [ns, keys] : by_ns) {
    auto& shard = shards[TokenOptOuts::shard_of(ns)];
    if (!shard) shard = std::make_shared<TokenOptOuts::Shard>();
    next->count += keys.size();
    shard->emplace(ns, std::make_shared<const OptOuts>(std::move(keys)));
  }
  for (std::size_t i = 0; i < kTokenShards; ++i) next->shards[i] = std::move(shards[i]);
  // The namespaces whose opt-outs differ from before: only their verdicts can change.
  std::vector<std::string> affected;
  update([&](Snapshot& s) {
    // (A namespace's set is never empty: null is none.)
    auto differs = [](const std::shared_ptr<const OptOuts>& a, const std::shared_ptr<const OptOuts>& b) {
      return !a != !b || (a && *a != *b);
    };
    std::set<std::string> seen;
    for (const auto* side : {s.token_opt_outs.get(), static_cast<const TokenOptOuts*>(next.get())})
      if (side)
        for (const auto& shard : side->shards)
          if (shard)
            for (const auto& [ns, keys] : *shard)
              if (seen.insert(ns).second &&
                  differs(s.token_opt_outs ? s.token_opt_outs->find(ns) : nullptr, next->find(ns)))
                affected.push_back(ns);
    s.token_opt_outs = std::move(next);
  });
  for (const auto& ns : affected) changed(ns);
}

void PolicyCache::apply_service_account(const std::string& type, json&& object) {
  std::string ns, name;
  std::tie(ns, name) = ns_and_name(object);
  const std::string key = ns + "/" + name;
  Object o;
  o.json = std::move(object);
  const bool opts_out = type != "DELETED" && service_account_opting_out(o, "").has_value();
  auto listed = [&](const Snapshot& s) {
    std::shared_ptr<const OptOuts> before = s.token_opt_outs ? s.token_opt_outs->find(ns) : nullptr;
    return before && before->count(key) > 0;
  };
  // An edit of something else (labels, secrets): nothing to publish. (This
  // reflector's thread is the only writer of the opt-outs.)
  if (auto cur = current(); cur->token_opt_outs && opts_out == listed(*cur)) return;
  bool changed_here = false;
  update([&](Snapshot& s) {
    std::shared_ptr<const OptOuts> before = s.token_opt_outs ? s.token_opt_outs->find(ns) : nullptr;
    if (opts_out == listed(s)) {
      if (!s.token_opt_outs) s.token_opt_outs = std::make_shared<const TokenOptOuts>();
      return;
    }
    auto next = s.token_opt_outs ? std::make_shared<TokenOptOuts>(*s.token_opt_outs) : std::make_shared<TokenOptOuts>();
    auto& slot = next->shards[TokenOptOuts::shard_of(ns)];
    auto shard = slot ? std::make_shared<TokenOptOuts::Shard>(*slot) : std::make_shared<TokenOptOuts::Shard>();
    auto keys = before ? std::make_shared<OptOuts>(*before) : std::make_shared<OptOuts>();
    if (opts_out) {
      keys->insert(key);
      ++next->count;
    } else {
      keys->erase(key);
      --next->count;
    }
    if (keys->empty())
      shard->erase(ns);
    else
      (*shard)[ns] = std::move(keys);
    slot = shard->empty() ? nullptr : std::move(shard);
    s.token_opt_outs = std::move(next);
    changed_here = true;
  });
  if (changed_here) changed(ns);
}

std::size_t PolicyCache::token_opt_outs() const {
  auto s = current();
  return s->token_opt_outs ? s->token_opt_outs->count : 0;
}

std::size_t PolicyCache::policies() const {
  auto s = current();
  std::size_t n = 0;
  for (std::size_t c : s->policies) n += c;
  return n;
}
std::size_t PolicyCache::namespaces() const {
  return current()->namespaces;
}
std::size_t PolicyCache::pods() const {
  return current()->pods;
}

std::vector<PolicyCache::ReflectorStats> PolicyCache::reflector_stats() const {
  std::vector<ReflectorStats> out;
  for (const auto& r : reflectors_) out.push_back({r->type().resource, r->relists(), r->expired(), r->watch_errors()});
  return out;
}

ClusterView PolicyCache::view(const Config& config) const {
  (void)config;  // the pods' loki-mode flag is decided per call of `pods`, under the review's config
  ClusterView v;
  // One consistent snapshot for the whole decision; nothing is copied here.
  std::shared_ptr<const Snapshot> snap = current();
  v.available = healthy();
  if (!v.available) v.unavailable_reason = status();
  // Not listed yet: none known, so service-account-token stays reported, as before the webhook read them.
  v.token_opt_outs = [snap](const std::string& ns) -> std::shared_ptr<const OptOuts> {
    return snap->token_opt_outs ? snap->token_opt_outs->find(ns) : nullptr;
  };
  v.fill = [snap](const std::string& ns, netpol::Inventory& inv) {
    const NsEntry* e = snap->find(ns);
    // The snapshot's records, referred to (the inventory keeps the snapshot alive): no copies.
    if (e && e->policies) {
      for (const auto& source : e->policies->by_source)
        for (const auto& [name, list] : source)
          for (const auto& p : *list) inv.policies.push_back_ref(p);
    }
    if (snap->clusterwide)
      for (const auto& p : snap->clusterwide->all) inv.policies.push_back_ref(p);
    inv.policies.keep_alive(snap);
    // Namespaces by lookup: a peer's namespaceSelector reads only the namespaces it is asked about.
    inv.namespaces.set_lookup([snap](const std::string& name) -> const Labels* {
      const NsEntry* e = snap->find(name);
      return e && e->labels ? &e->labels->named : nullptr;
    });
  };
  v.namespace_labels = [snap](const std::string& ns) {
    const NsEntry* e = snap->find(ns);
    if (!e || !e->labels) return Labels{};
    return e->labels->raw ? *e->labels->raw : e->labels->named;
  };
  // Every pod of the namespace: the inventory decides which are agents (the
  // selector, or a LOKI_NETWORK_EGRESS_POLICY promise).
  v.pod_namespaces = [snap] {
    std::vector<std::string> out;
    for (const auto& shard : snap->shards)
      if (shard)
        for (const auto& [ns, e] : *shard)
          if (e.pods && !e.pods->empty()) out.push_back(ns);
    std::sort(out.begin(), out.end());
    return out;
  };
  v.pods = [snap](const std::string& ns, const Config& cfg, netpol::Inventory& inv) {
    const NsEntry* e = snap->find(ns);
    if (!e || !e->pods) return;
    inv.pods.reserve(inv.pods.size() + e->pods->size());
    for (const auto& [name, p] : *e->pods)
      if (p) inv.pods.push_back(expand(*p, ns, name, cfg));
  };
  return v;
}

}  // namespace loki::webhook
