#include "inventory.hpp"

#include <loki/cluster.hpp>
#include <loki/kube_client.hpp>
#include <loki/kubeconfig.hpp>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace loki_audit {

namespace {

const nlohmann::json& meta_of(const nlohmann::json& o) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : empty;
}

std::string uid_of(const nlohmann::json& o) {
  auto it = meta_of(o).find("uid");
  return it != meta_of(o).end() && it->is_string() ? it->get<std::string>() : "";
}

using ByUid = std::unordered_map<std::string, const nlohmann::json*>;

// The workload that controls `o` (its controller ownerReference), if listed.
const nlohmann::json* controller_of(const nlohmann::json& o, const ByUid& by_uid) {
  auto refs = meta_of(o).find("ownerReferences");
  if (refs == meta_of(o).end() || !refs->is_array()) return nullptr;
  for (const auto& r : *refs) {
    if (!r.is_object() || !r.value("controller", false)) continue;
    auto it = by_uid.find(r.value("uid", ""));
    if (it != by_uid.end()) return it->second;
  }
  return nullptr;
}

// The uids of every workload a live pod belongs to (Pod -> ReplicaSet ->
// Deployment, Pod -> Job -> CronJob), following controller references.
std::set<std::string> owners_with_pods(const loki::ClusterSnapshot& snap) {
  ByUid by_uid;
  for (const auto& w : snap.workloads) by_uid[uid_of(w)] = &w;
  std::set<std::string> out;
  for (const auto& pod : snap.pods) {
    const nlohmann::json* cur = controller_of(pod, by_uid);
    for (int depth = 0; cur && depth < 8; ++depth, cur = controller_of(*cur, by_uid)) out.insert(uid_of(*cur));
  }
  return out;
}

}  // namespace

loki::EngineOptions engine_options_for(const std::string& config_path, const std::string& selector, bool all_pods) {
  loki::EngineOptions eo;
  if (!config_path.empty()) eo.config = loki::Config::load(config_path);
  if (!selector.empty()) {
    eo.config.selector = loki::LabelSelector::parse(selector);
    eo.config.selector_text = selector;
  }
  if (all_pods) eo.config.all_pods = true;
  return eo;
}

LoadedInventory::LoadedInventory(const InventorySource& src, loki::EngineOptions eo) {
  if (src.paths.empty()) {
    live_mode_ = true;
    load_live(src, eo);
    return;
  }
  eo.default_namespace = src.ns.empty() ? "default" : src.ns;
  loki::InputFiles inputs = loki::expand_inputs(src.paths);
  for (const auto& note : inputs.skipped) std::cerr << "loki-audit: " << note << "\n";
  loki::LoadOptions lo;
  lo.threads = src.threads;
  session_.emplace(eo, lo);
  for (const auto& file : inputs.files) session_->add_file(file);
  inv_ = &session_->inventory();
}

// The live cluster: the namespace's workloads (what users name), its pods,
// policies and the namespaces (for namespaceSelector); then the extra ones.
void LoadedInventory::load_live(const InventorySource& src, const loki::EngineOptions& eo) {
  loki::ClusterConfig cfg = loki::load_cluster_config({src.kubeconfig, src.context});
  loki::WalkOptions wo;
  wo.ns = !src.ns.empty() ? src.ns : !cfg.default_namespace.empty() ? cfg.default_namespace : "default";
  live_ns_ = wo.ns;
  loki::KubeClient client(cfg);
  live_.emplace(eo);
  add_snapshot(loki::walk_cluster(client, wo), wo.ns, true, src.pods_over_templates);
  for (const auto& more : src.more_namespaces) {
    if (more.empty() || more == wo.ns) continue;
    loki::WalkOptions other = wo;
    other.ns = more;
    try {
      add_snapshot(loki::walk_cluster(client, other), more, false, src.pods_over_templates);
    } catch (const loki::KubeError& e) {
      if (!src.optional_more) throw;
      std::cerr << "loki-audit: note: namespace " << more << " not listed (" << e.what() << ")\n";
    }
  }
  inv_ = &live_->inventory();
}

void LoadedInventory::add_snapshot(const loki::ClusterSnapshot& snap, const std::string& ns, bool with_namespaces,
                                   bool pods_over_templates) {
  for (const auto& n : snap.notes) std::cerr << "loki-audit: note: " << n << "\n";
  std::set<std::string> covered;
  if (pods_over_templates) covered = owners_with_pods(snap);
  loki::PipelineBatch batch;  // network records only: explain and netmap report no findings
  batch.default_namespace = ns;
  for (const auto* list : {&snap.workloads, &snap.pods, &snap.networkpolicies, &snap.ciliumnetworkpolicies,
                           &snap.clusterpolicies, &snap.namespaces}) {
    // Cluster-scoped objects once (the first namespace's walk).
    if ((list == &snap.namespaces || list == &snap.clusterpolicies) && !with_namespaces) continue;
    for (const auto& j : *list) {
      if (list == &snap.workloads && covered.count(uid_of(j))) continue;
      loki::Object obj;
      obj.json = j;
      obj.file = loki::api_path_of(j);
      live_->record(obj, batch);
    }
  }
  live_->submit(std::move(batch), 0);
}

}  // namespace loki_audit

namespace loki_audit {

CLI::Validator cidr_validator() {
  return CLI::Validator(
      [](std::string& v) {
        return v.find('/') != std::string::npos && loki::netpol::Cidr::parse(v) ? std::string() : v + " is not a CIDR";
      },
      "CIDR");
}

std::vector<loki::netpol::Cidr> parse_pod_cidrs(const std::vector<std::string>& texts) {
  std::vector<loki::netpol::Cidr> out;
  for (const auto& t : texts)
    if (auto c = loki::netpol::Cidr::parse(t)) out.push_back(*c);  // validated by the option
  return out;
}

}  // namespace loki_audit
