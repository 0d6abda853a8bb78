// The input of `explain` and `netmap`: manifests (files, directories, stdin)
// or the live cluster (kubeconfig and context as kubectl), as a netpol
// Inventory. One code path for both commands.
#pragma once

#include <loki/cluster.hpp>
#include <loki/engine.hpp>
#include <loki/lint.hpp>
#include <loki/netpol.hpp>
#include <loki/pipeline.hpp>

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace loki_audit {

struct InventorySource {
  std::vector<std::string> paths;  // empty: the live cluster
  std::string kubeconfig;
  std::string context;
  std::string ns;  // -n as given; live: the namespace listed (else the context's, else default)
  unsigned threads = 0;
  // Live: more namespaces to list (pods, workloads, policies), e.g. a
  // destination's. optional_more: one that cannot be listed is a note.
  std::vector<std::string> more_namespaces;
  bool optional_more = false;
  // Live: a workload with live pods is represented by its pods (they have IPs)
  // rather than also by its template.
  bool pods_over_templates = false;
};

// Config file, then --selector and --all-pods on top.
loki::EngineOptions engine_options_for(const std::string& config_path, const std::string& selector, bool all_pods);

class LoadedInventory {
 public:
  // Throws KubeError (live) and what the loaders throw; missing files are
  // reported on stderr by expand_inputs as lint does.
  LoadedInventory(const InventorySource& src, loki::EngineOptions eo);
  LoadedInventory(const LoadedInventory&) = delete;
  LoadedInventory& operator=(const LoadedInventory&) = delete;

  const loki::netpol::Inventory& get() const { return *inv_; }
  bool live() const { return live_mode_; }
  const std::string& live_namespace() const { return live_ns_; }  // live: the namespace listed

 private:
  void load_live(const InventorySource& src, const loki::EngineOptions& eo);
  void add_snapshot(const loki::ClusterSnapshot& snap, const std::string& ns, bool with_namespaces,
                    bool pods_over_templates);

  std::optional<loki::LintSession> session_;  // files: the lint session's pipeline
  std::optional<loki::Pipeline> live_;        // the live cluster
  const loki::netpol::Inventory* inv_ = nullptr;
  bool live_mode_ = false;
  std::string live_ns_;
};

}  // namespace loki_audit

namespace loki_audit {

// --pod-cidr: a CIDR with its prefix.
CLI::Validator cidr_validator();
std::vector<loki::netpol::Cidr> parse_pod_cidrs(const std::vector<std::string>& texts);

}  // namespace loki_audit
