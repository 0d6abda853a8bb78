// loki-audit explain KIND/NAME [-n NS] [--to HOST_OR_IP:PORT[/PROTO]] [FILES...]
// (no files: the live cluster, with --kubeconfig/--context as kubectl)
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace loki_audit {

struct ExplainOptions {
  std::string target;                  // KIND/NAME
  std::string ns;                      // empty: wherever the name is unique
  std::string to;                      // HOST_OR_IP:PORT[/PROTO], [IPv6]:PORT, or KIND/NAME:PORT_OR_NAME[/PROTO]
  std::string to_ns;                   // namespace of a KIND/NAME destination (default: the workload's, else unique)
  std::string format = "text";         // text | json
  std::string queries;                 // a file of queries (JSON lines), answered as a JSON array
  std::vector<std::string> pod_cidrs;  // the cluster's pod CIDRs, for pods whose IP is unknown
  std::string config_path;
  std::string selector;
  bool all_pods = false;
  std::string default_ns = "default";
  unsigned threads = 0;
  std::vector<std::string> paths;  // empty: the live cluster
  std::string kubeconfig;
  std::string context;
};

CLI::App* add_explain_command(CLI::App& app, ExplainOptions& o);

// Prints the explanation to stdout. Exit codes: 0 (with --to: allowed), 1 (with
// --to: denied), 3 (with --to: conditional, it depends on facts the input
// lacks), 2 usage error (workload not found, bad --to). With --queries: 0 once
// every query is answered. Other errors are thrown (std::exception) for
// main's handler.
int run_explain(const ExplainOptions& o);

}  // namespace loki_audit
