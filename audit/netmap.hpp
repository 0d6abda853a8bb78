// loki-audit netmap -n NS FILES|DIRS|- | --cluster: a namespace's reachability.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace loki_audit {

struct NetmapOptions {
  std::string ns;
  bool cluster = false;
  std::vector<std::string> paths;
  std::string kubeconfig;
  std::string context;
  std::string format = "text";  // text | json | dot
  std::string color = "auto";
  std::vector<std::string> pod_cidrs;
  std::string config_path;
  std::string selector;
  bool all_pods = false;
  unsigned threads = 0;
};

CLI::App* add_netmap_command(CLI::App& app, NetmapOptions& o);

// Prints the map to stdout. Exit codes: 0, 2 usage or I/O error (no input,
// files and --cluster both, an ambiguous namespace). Other errors are thrown
// for main's handler (exit 2).
int run_netmap(const NetmapOptions& o);

}  // namespace loki_audit
