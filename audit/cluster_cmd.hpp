// `loki-audit --namespace NS` / `-A`: audit what is running in a cluster.
#pragma once

#include "options.hpp"

namespace loki::audit {

struct ClusterOptions {
  std::string kubeconfig;
  std::string context;
  bool all_namespaces = false;
  std::size_t chunk_size = 500;
  bool timing = false;
};

void add_cluster_options(CLI::App& app, ClusterOptions& c);
int run_cluster_audit(const CommonOptions& o, const ClusterOptions& c);

}  // namespace loki::audit
