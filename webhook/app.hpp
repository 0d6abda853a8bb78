// The loki-webhook application behind main(): JSON logging, the reloadable
// config, the metrics registry, the policy cache, the HTTP routes and the
// signal loop. main() only parses flags into AppOptions and calls run_app.
#pragma once

#include "server.hpp"

#include <chrono>
#include <string>

namespace loki::webhook {

struct AppOptions {
  ServerOptions server;
  std::string config_path;  // empty: the built-in defaults
  std::string kubeconfig, context;
  std::string log_level = "info";
  bool without_cluster = false;  // no policy cache: decisions that need it follow cacheUnavailable
  // Background audit (policy reports), written by the holder of a Lease only.
  bool background_audit = false;
  std::chrono::milliseconds audit_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds audit_resync{std::chrono::minutes(10)};
  std::string report_api = "openreports";  // or wgpolicy
  std::string lease_namespace;             // empty: $POD_NAMESPACE, the ServiceAccount's namespace, else "default"
  std::string identity;                    // empty: $POD_NAME, else the host name
};

// Serves until SIGTERM/SIGINT; reloads config and certificates on SIGHUP (the
// config also when its file changes). Returns the process exit code: 0 after
// a clean shutdown, 1 when it cannot start.
int run_app(const AppOptions& opts);

}  // namespace loki::webhook
