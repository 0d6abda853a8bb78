#include "cluster_cmd.hpp"

#include <loki/cluster.hpp>
#include <loki/kubeconfig.hpp>

#include <chrono>
#include <iostream>

namespace loki::audit {

void add_cluster_options(CLI::App& app, ClusterOptions& c) {
  app.add_option("--kubeconfig", c.kubeconfig,
                 "Path to the kubeconfig file (else $KUBECONFIG, ~/.kube/config, in-cluster)");
  app.add_option("--context", c.context, "The kubeconfig context to use");
  app.add_flag("-A,--all-namespaces", c.all_namespaces, "Audit every namespace");
  app.add_option("--chunk-size", c.chunk_size, "Objects per list page (limit/continue)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_flag("--timing", c.timing, "Print API and analysis time to stderr");
}

int run_cluster_audit(const CommonOptions& o, const ClusterOptions& c) {
  KubeConfigOptions ko{c.kubeconfig, c.context};
  ClusterConfig cfg = load_cluster_config(ko);
  WalkOptions wo;
  wo.all_namespaces = c.all_namespaces;
  // As kubectl: --namespace, else the context's namespace, else "default".
  wo.ns = !o.ns.empty() ? o.ns : !cfg.default_namespace.empty() ? cfg.default_namespace : "default";
  wo.chunk_size = c.chunk_size;
  CommonOptions eff = o;
  eff.ns = wo.ns;
  EngineOptions eo = engine_options(eff);
  KubeClient client(cfg);
  ClusterSnapshot snap = walk_cluster(client, wo);
  for (const auto& n : snap.notes) std::cerr << "loki-audit: note: " << n << "\n";
  auto t0 = std::chrono::steady_clock::now();
  AuditResult r = audit_snapshot(snap, eo);
  sort_findings(r.findings);
  double analysis = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (c.timing)
    std::cerr << "loki-audit: API " << snap.api_seconds << " s (" << snap.requests << " requests, " << snap.pages
              << " pages), analysis " << analysis << " s, " << snap.pods.size() << " pods, "
              << snap.networkpolicies.size() << " NetworkPolicies\n";
  ReportSummary summary;
  summary.files = 0;
  summary.objects = r.objects;
  summary.pods_checked = r.pods_checked;
  summary.pod_templates = r.pod_templates;
  int agents = check_agents_found(o, eo, summary, "in the cluster");
  int rc = o.format == "report" ? emit_policy_reports(o, eo, std::move(r.findings), r.subjects)
                                : emit_report(o, r.findings, summary, r.subjects);
  return rc == kExitOk ? agents : rc;
}

}  // namespace loki::audit
