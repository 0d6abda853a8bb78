#include "policy_cache.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace loki::webhook {

using nlohmann::json;

PolicyCache::PolicyCache(ClusterConfig cfg, bool watch_pods)
    : cfg_(std::move(cfg)), watch_pods_(watch_pods), prepared_(std::make_shared<Prepared>()) {}

PolicyCache::~PolicyCache() {
  stop();
}

void PolicyCache::start() {
  if (started_.exchange(true)) return;
  bool cilium = false;
  try {
    KubeClient discovery(cfg_);
    cilium = discovery.serves(resources::ciliumnetworkpolicies);
  } catch (const KubeError& e) {
    // Discovery failing is not fatal: the reflectors retry; Cilium policies
    // are then not watched until a restart (logged).
    spdlog::warn(R"("msg":"discovery of ciliumnetworkpolicies failed; not watching them","error":{})",
                 json(e.what()).dump());
  }
  create_reflectors(cilium);
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

void PolicyCache::create_reflectors(bool cilium) {
  if (!reflectors_.empty()) return;
  auto add = [&](const ResourceType& rt) {
    reflectors_.push_back(std::make_unique<Reflector>(cfg_, rt));
    return reflectors_.back().get();
  };
  policies_ = add(resources::networkpolicies);
  namespaces_ = add(resources::namespaces);
  if (watch_pods_) pods_ = add(resources::pods);
  if (cilium) cilium_ = add(resources::ciliumnetworkpolicies);
  for (auto& r : reflectors_)
    if (r.get() != pods_) r->on_change([this] { rebuild(); });
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

std::size_t PolicyCache::policies() const {
  std::lock_guard lk(mu_);
  return prepared_->policy_count;
}
std::size_t PolicyCache::namespaces() const {
  std::lock_guard lk(mu_);
  return prepared_->namespace_labels.size();
}
std::vector<PolicyCache::ReflectorStats> PolicyCache::reflector_stats() const {
  std::vector<ReflectorStats> out;
  for (const auto& r : reflectors_) out.push_back({r->type().resource, r->relists(), r->expired(), r->watch_errors()});
  return out;
}

std::size_t PolicyCache::pods() const {
  return pods_ ? pods_->snapshot()->size() : 0;
}

void PolicyCache::rebuild() {
  // One rebuild at a time; each reads the reflectors' latest snapshots.
  std::lock_guard rb(rebuild_mu_);
  auto p = std::make_shared<Prepared>();
  auto parse_all = [&](Reflector* r) {
    if (!r) return;
    for (const auto& [key, obj] : *r->snapshot()) {
      Object o;
      o.json = obj;
      o.file = "cluster";
      for (auto& pol : netpol::parse_policies(o, "default")) {
        ++p->policy_count;
        if (pol.ns.empty())
          p->clusterwide.push_back(std::move(pol));
        else
          p->by_ns[pol.ns].push_back(std::move(pol));
      }
    }
  };
  parse_all(policies_);
  parse_all(cilium_);
  if (namespaces_) {
    for (const auto& [key, obj] : *namespaces_->snapshot()) {
      const json& md = obj.value("metadata", json::object());
      p->namespace_labels[md.value("name", "")] = labels_of(md);
    }
  }
  std::lock_guard lk(mu_);
  prepared_ = std::move(p);
}

ClusterView PolicyCache::view(const Config& config) const {
  ClusterView v;
  std::shared_ptr<const Prepared> prep;
  {
    std::lock_guard lk(mu_);
    prep = prepared_;
  }
  v.available = healthy();
  if (!v.available) v.unavailable_reason = status();
  v.fill = [prep](const std::string& ns, netpol::Inventory& inv) {
    if (auto it = prep->by_ns.find(ns); it != prep->by_ns.end())
      inv.policies.insert(inv.policies.end(), it->second.begin(), it->second.end());
    inv.policies.insert(inv.policies.end(), prep->clusterwide.begin(), prep->clusterwide.end());
    for (const auto& [name, labels] : prep->namespace_labels) inv.namespaces.add(name, labels);
  };
  v.namespace_labels = [prep](const std::string& ns) {
    auto it = prep->namespace_labels.find(ns);
    return it == prep->namespace_labels.end() ? Labels{} : it->second;
  };
  auto pods = pods_ ? pods_->snapshot() : std::shared_ptr<const Reflector::Store>();
  (void)config;
  // Every pod of the namespace: the inventory decides which are agents (the
  // selector, or a LOKI_NETWORK_EGRESS_POLICY promise).
  v.pods = [pods](const std::string& ns) {
    std::vector<json> out;
    if (!pods) return out;
    const std::string prefix = ns + "/";
    for (auto it = pods->lower_bound(prefix); it != pods->end() && it->first.rfind(prefix, 0) == 0; ++it)
      out.push_back(it->second);
    return out;
  };
  return v;
}

}  // namespace loki::webhook
