// loki-webhook: the validating and mutating admission webhook for loki-mode
// pods. Endpoints: POST /validate, POST /mutate (AdmissionReview v1),
// GET /healthz, GET /readyz (ready while the policy cache is synced and watching),
// GET /metrics (Prometheus). The application is webhook/app.cpp; this file
// only parses the flags.
#include "app.hpp"

#include <CLI/CLI.hpp>
#if defined(LOKI_ALLOCATOR_MIMALLOC)
#include <mimalloc.h>
#endif

#include <chrono>
#include <iostream>
#include <string>

namespace {

// "10s", "500ms", "10m", "1h" or plain seconds.
std::chrono::milliseconds parse_duration(const std::string& text) {
  std::size_t pos = 0;
  const long long n = std::stoll(text, &pos);
  const std::string unit = text.substr(pos);
  if (n <= 0) throw CLI::ValidationError("duration", "must be positive: " + text);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw CLI::ValidationError("duration", "unit must be ms, s, m or h: " + text);
}

}  // namespace

using namespace loki::webhook;

int main(int argc, char** argv) {
#if defined(LOKI_ALLOCATOR_MIMALLOC)
  // Decommit freed pages at once, not 25 ms later at the thread's next allocation: an I/O thread that served
  // a near-cap body (tens of MB of JSON nodes) and then only small reviews kept them (tests/abuse "huge
  // array": RSS 14 -> 52 MiB). Steady small reviews free no whole pages: 32 madvise calls in 28k reviews.
  mi_option_set(mi_option_decommit_delay, 0);
#endif
  CLI::App app{
      "loki-webhook: validating and mutating admission webhook for AI coding-agent (loki-mode) pods.\n"
      "Endpoints: POST /validate, POST /mutate (AdmissionReview v1), GET /healthz, GET /readyz, GET /metrics."};
  AppOptions o;
  ServerOptions& so = o.server;
  unsigned read_timeout = 10, idle_timeout = 120, grace = 25;  // idle > Go clients' 90 s
  app.add_option("--listen", so.listen, "HOST:PORT to serve HTTPS on (:PORT = every interface)")->capture_default_str();
  app.add_option("--tls-cert", so.tls_cert, "Serving certificate (PEM); reloaded when the file changes")->required();
  app.add_option("--tls-key", so.tls_key, "Serving key (PEM); reloaded with the certificate")->required();
  app.add_option("--config", o.config_path, "Policy config (YAML); reloaded on change and on SIGHUP");
  app.add_option("--kubeconfig", o.kubeconfig, "Kubeconfig for the policy cache (default: in-cluster, as kubectl)");
  app.add_option("--context", o.context, "Kubeconfig context");
  app.add_flag("--without-cluster", o.without_cluster,
               "Do not watch the cluster: no NetworkPolicy awareness (decisions that need it follow "
               "cacheUnavailable)");
  app.add_option("--threads", so.threads, "Server threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--max-connections", so.max_connections, "Open connections at most")->capture_default_str();
  app.add_option("--read-timeout", read_timeout, "Seconds to read a request")->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Seconds a keep-alive connection may idle")->capture_default_str();
  app.add_option("--shutdown-grace", grace, "Seconds to finish in-flight reviews on SIGTERM")->capture_default_str();
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  std::string audit_interval = "10s", audit_resync = "10m";
  app.add_flag("--background-audit", o.background_audit,
               "Keep a policy report per namespace (openreports.io Report) from the cache; written by the holder "
               "of the Lease loki-guard-audit only");
  app.add_option("--audit-interval", audit_interval, "At most one re-audit per namespace per interval (ms, s, m, h)")
      ->capture_default_str();
  app.add_option("--audit-resync", audit_resync, "Re-audit every namespace this often (ms, s, m, h)")
      ->capture_default_str();
  app.add_option("--report-api", o.report_api, "openreports (Report) or wgpolicy (PolicyReport)")
      ->check(CLI::IsMember({"openreports", "wgpolicy"}))
      ->capture_default_str();
  app.add_option("--lease-namespace", o.lease_namespace,
                 "Namespace of the audit Lease (default: $POD_NAMESPACE, else the ServiceAccount's)");
  app.add_option("--identity", o.identity, "Lease holder identity (default: $POD_NAME, else the host name)");
  app.set_version_flag("--version", std::string("loki-webhook ") + LOKI_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    o.audit_interval = parse_duration(audit_interval);
    o.audit_resync = parse_duration(audit_resync);
  } catch (const std::exception& e) {
    std::cerr << "loki-webhook: --audit-interval/--audit-resync: " << e.what() << "\n";
    return 2;
  }
  so.read_timeout = std::chrono::seconds(read_timeout);
  so.idle_timeout = std::chrono::seconds(idle_timeout);
  so.shutdown_grace = std::chrono::seconds(grace);
  return run_app(o);
}
