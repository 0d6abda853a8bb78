#include "netmap.hpp"

#include "inventory.hpp"

#include <loki/netmap.hpp>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <set>

namespace loki_audit {

namespace {

constexpr const char* kHelp =
    "Print a namespace's reachability: every pod (or workload's pod template) to every other, and to the internet "
    "(1.1.1.1 and 2606:4700::1111 on TCP/443), the metadata endpoint (169.254.169.254 on TCP/80) and DNS (kube-dns "
    "on UDP/53), each a verdict of the source's egress and the destination's ingress: allowed, denied or "
    "conditional. Pod to pod cells list every protocol and port allowed, as np-guard's netpol-analyzer "
    "connectivity lists do (\"all\", \"TCP/80,443 UDP/53\"); a workload to itself is not listed. Agents "
    "(loki-mode pods) are marked *, open egress to the internet or the metadata endpoint !. Formats: text (a "
    "table), json (schema in the README), dot (Graphviz: dot -Tsvg). Exit codes: 0, 2 usage or I/O error.";

std::string namespaces_with_pods(const loki::netpol::Inventory& inv) {
  std::set<std::string> seen;
  for (const auto& p : inv.pods) seen.insert(p.ns);
  std::string list;
  for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  return list.empty() ? std::string("the input has no pods") : "the input has pods in " + list;
}

// Which namespace to map from files: -n, else the only one with pods. A
// namespace without pods there is most likely a typo: a usage error.
bool file_namespace(const loki::netpol::Inventory& inv, std::string& ns) {
  if (ns.empty()) {
    std::set<std::string> seen;
    for (const auto& p : inv.pods) seen.insert(p.ns);
    if (seen.size() == 1) ns = *seen.begin();
  }
  if (ns.empty()) {
    std::cerr << "loki-audit: netmap: pick a namespace with -n (" << namespaces_with_pods(inv) << ")\n";
    return false;
  }
  for (const auto& p : inv.pods)
    if (p.ns == ns) return true;
  std::cerr << "loki-audit: netmap: no pods or pod templates in namespace " << ns << " (" << namespaces_with_pods(inv)
            << ")\n";
  return false;
}

bool use_color(const std::string& mode) {
  if (mode == "always") return true;
  return mode == "auto" && ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
}

}  // namespace

CLI::App* add_netmap_command(CLI::App& app, NetmapOptions& o) {
  auto* cmd = app.add_subcommand("netmap", kHelp);
  cmd->add_option("paths", o.paths, "Files, directories or - (stdin)");
  cmd->add_flag("--cluster", o.cluster, "Read the live cluster instead (kubeconfig and context as kubectl)");
  cmd->add_option("--kubeconfig", o.kubeconfig, "Kubeconfig (--cluster; else $KUBECONFIG, ~/.kube/config, in-cluster)");
  cmd->add_option("--context", o.context, "Kubeconfig context (--cluster)");
  cmd->add_option("-n,--namespace", o.ns,
                  "The namespace to map (files: default the only namespace with pods, and the namespace of objects "
                  "that set none; --cluster: default the context's, else default)");
  cmd->add_option("-f,--format", o.format, "text, json or dot")
      ->check(CLI::IsMember({"text", "json", "dot"}))
      ->capture_default_str();
  cmd->add_option("--color", o.color, "Colour the text table: auto (a tty without NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->add_option("--pod-cidr", o.pod_cidrs,
                  "The cluster's pod CIDR (repeatable): decides ipBlock rules for pods known only by their template")
      ->check(cidr_validator())
      ->allow_extra_args(false);
  cmd->add_option("--config", o.config_path, "Policy config file (selector)");
  cmd->add_option("-l,--selector", o.selector, "Which pods are agents (loki-mode; kubectl label-selector syntax)");
  cmd->add_flag("--all-pods", o.all_pods, "Treat every pod as an agent");
  cmd->add_option("--threads", o.threads, "Parser threads (0: one per core)");
  return cmd;
}

int run_netmap(const NetmapOptions& o) {
  if (o.cluster == !o.paths.empty()) {
    std::cerr << "loki-audit: netmap: give FILES|DIRS|- or --cluster (one of them)\n";
    return 2;
  }
  InventorySource src;
  src.paths = o.paths;
  src.kubeconfig = o.kubeconfig;
  src.context = o.context;
  src.ns = o.ns;
  src.threads = o.threads;
  // The DNS column: the real kube-dns pods and their ingress policies, when listable.
  src.more_namespaces = {"kube-system"};
  src.optional_more = true;
  src.pods_over_templates = true;
  LoadedInventory loaded(src, engine_options_for(o.config_path, o.selector, o.all_pods));
  std::string ns = loaded.live() ? loaded.live_namespace() : o.ns;
  if (!loaded.live() && !file_namespace(loaded.get(), ns)) return 2;
  loki::netpol::Analyzer analyzer(loaded.get());
  analyzer.set_pod_cidrs(parse_pod_cidrs(o.pod_cidrs));
  const loki::netpol::Netmap map = loki::netpol::compute_netmap(analyzer, ns);
  if (o.format == "json")
    std::cout << loki::netpol::netmap_json(map).dump(2) << "\n";
  else if (o.format == "dot")
    std::cout << loki::netpol::netmap_dot(map);
  else
    std::cout << loki::netpol::netmap_text(map, {use_color(o.color)});
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "loki-audit: error writing to stdout\n";
    return 2;
  }
  return 0;
}

}  // namespace loki_audit
