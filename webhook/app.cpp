#include "app.hpp"

#include <loki/config.hpp>
#include <loki/kubeconfig.hpp>

#include "admission.hpp"
#include "background_audit.hpp"
#include "leader_election.hpp"
#include "metrics.hpp"
#include "policy_cache.hpp"
#include "review_handler.hpp"

#include <malloc.h>
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace loki::webhook {

using nlohmann::json;

namespace {

// The payload of a JSON log line: messages of this file are `"key":value`
// fragments already; plain-text messages (server, TLS, Kubernetes client) are
// quoted into a "msg" field, so every line stays one valid JSON object.
class JsonPayload final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& m, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view v(m.payload.data(), m.payload.size());
    if (!v.empty() && v.front() == '"') {
      dest.append(v.data(), v.data() + v.size());
      return;
    }
    std::string q = R"("msg":)" + json(std::string(v)).dump(-1, ' ', false, json::error_handler_t::replace);
    dest.append(q.data(), q.data() + q.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonPayload>(); }
};

class ConfigHolder {
 public:
  explicit ConfigHolder(std::string path) : path_(std::move(path)) {
    cfg_ = std::make_shared<loki::Config>(path_.empty() ? loki::Config{} : loki::Config::load(path_));
    stamp_ = stamp();
  }
  std::shared_ptr<const loki::Config> get() const {
    std::lock_guard lk(mu_);
    return cfg_;
  }
  // Reloads when forced or when the file changed; a bad file keeps the old config.
  void maybe_reload(bool force) {
    if (path_.empty()) return;
    auto s = stamp();
    if (!force && s == stamp_) return;
    stamp_ = s;
    try {
      auto next = std::make_shared<loki::Config>(loki::Config::load(path_));
      std::lock_guard lk(mu_);
      cfg_ = std::move(next);
      spdlog::info(R"("msg":"config reloaded","file":{})", json(path_).dump());
    } catch (const std::exception& e) {
      spdlog::error(R"("msg":"config reload failed; keeping the previous config","error":{})", json(e.what()).dump());
    }
  }

 private:
  std::pair<long long, long long> stamp() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return {0, 0};
    return {st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, static_cast<long long>(st.st_ino)};
  }
  std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const loki::Config> cfg_;
  std::pair<long long, long long> stamp_;
};

void setup_logging(const std::string& level) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<JsonPayload>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%*})");
  spdlog::set_formatter(std::move(f));
  spdlog::set_level(spdlog::level::from_str(level));
}

void describe_metrics(metrics::Registry& registry) {
  registry.describe("loki_webhook_requests_total", "Admission reviews by endpoint, kind and decision.");
  registry.describe("loki_webhook_findings_total", "Findings in admission reviews by rule.");
  registry.describe("loki_webhook_request_duration_seconds", "Time to decide one review.");
  registry.describe("loki_webhook_policy_cache_age_seconds",
                    "Seconds since the policy cache last heard from the API server.");
  registry.describe("loki_webhook_policy_cache_policies", "NetworkPolicies (and Cilium policies) in the cache.");
  registry.describe("loki_webhook_policy_cache_pods", "Pods in the cache (for NetworkPolicy change checks).");
  registry.describe("loki_webhook_policy_cache_synced", "1 when the policy cache is synced and watching.");
  registry.describe("loki_webhook_policy_cache_relists_total",
                    "Lists after the first, by resource (after a dropped watch, 410 Gone or an error).");
  registry.describe("loki_webhook_policy_cache_watch_errors_total",
                    "Failed lists/watches, by resource and reason (expired = 410 Gone, error = anything else).");
}

// The cache's gauges and counters, read when /metrics is scraped.
void register_cache_metrics(metrics::Registry& registry, PolicyCache& cache) {
  PolicyCache* c = &cache;
  registry.gauge_callback("loki_webhook_policy_cache_age_seconds", {}, [c] { return c->age_seconds(); });
  registry.gauge_callback("loki_webhook_policy_cache_policies", {}, [c] { return double(c->policies()); });
  registry.gauge_callback("loki_webhook_policy_cache_pods", {}, [c] { return double(c->pods()); });
  registry.gauge_callback("loki_webhook_policy_cache_synced", {}, [c] { return c->healthy() ? 1.0 : 0.0; });
  const auto stats = cache.reflector_stats();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    auto stat = [c, i](auto field) { return [c, i, field] { return double(c->reflector_stats()[i].*field); }; };
    const std::string& res = stats[i].resource;
    registry.counter_callback("loki_webhook_policy_cache_relists_total", {{"resource", res}},
                              stat(&PolicyCache::ReflectorStats::relists));
    registry.counter_callback("loki_webhook_policy_cache_watch_errors_total",
                              {{"resource", res}, {"reason", "expired"}}, stat(&PolicyCache::ReflectorStats::expired));
    registry.counter_callback("loki_webhook_policy_cache_watch_errors_total", {{"resource", res}, {"reason", "error"}},
                              [c, i] {
                                auto s = c->reflector_stats()[i];
                                return double(s.errors - s.expired);
                              });
  }
}

// The watching policy cache, or none with --without-cluster.
std::unique_ptr<PolicyCache> start_cache(const AppOptions& opts, const ConfigHolder& config,
                                         metrics::Registry& registry,
                                         const std::function<void(PolicyCache&, const ClusterConfig&)>& before_start) {
  if (opts.without_cluster) return nullptr;
  ClusterConfig cc = load_cluster_config({opts.kubeconfig, opts.context});
  // The background audit needs every pod, whatever networkPolicyChanges says.
  auto cache =
      std::make_unique<PolicyCache>(cc, config.get()->network_policy_changes != Action::off || opts.background_audit);
  if (before_start) before_start(*cache, cc);
  cache->start();
  register_cache_metrics(registry, *cache);
  spdlog::info(R"("msg":"watching the cluster","server":{},"context":{})", json(cc.server).dump(),
               json(cc.context).dump());
  return cache;
}

// The routes: the two admission endpoints, health, readiness and metrics.
Handler make_handler(const ReviewEndpoint& review, const PolicyCache* cache, metrics::Registry& registry) {
  return [&review, cache, &registry](const HttpRequest& req) -> HttpResponse {
    std::string path = req.target.substr(0, req.target.find('?'));
    if (path == "/validate" || path == "/mutate") {
      // Memory of a big body is given back by the server (release_freed_memory in webhook/server.cpp).
      return review(req, path == "/validate");
    }
    if (path == "/healthz") return {200, "text/plain", "ok\n"};
    if (path == "/readyz") {
      if (!cache) return {200, "text/plain", "ok (without cluster)\n"};
      // 503 until synced and whenever a watch is interrupted (API server
      // gone, re-list in backoff): policy-dependent reviews are then
      // decided by cacheUnavailable, so the replica is not fully ready.
      if (cache->healthy()) return {200, "text/plain", "ok\n"};
      return {503, "text/plain", cache->status() + "\n"};
    }
    if (path == "/metrics") return {200, metrics::kContentType, registry.render()};
    return {404, "application/json", R"({"error":"not found"})"};
  };
}

// Signals are handled on one thread with sigwait, never in a handler; blocked
// before any thread starts so every thread inherits the mask.
sigset_t block_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

// Until SIGTERM/SIGINT: SIGHUP reloads config and certificates; otherwise the
// config is reloaded when its file changed (a ConfigMap update).
void handle_signals(sigset_t sigs, ConfigHolder& config, Server& server, const std::atomic<bool>& stopping) {
  while (!stopping) {
    timespec ts{1, 0};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGHUP) {
      config.maybe_reload(true);
      server.reload_certificates();
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info(R"("msg":"shutting down: finishing in-flight reviews","signal":{})", sig);
      server.shutdown();
      return;
    } else {
      config.maybe_reload(false);
    }
  }
}

// Who this replica is and where its Lease lives (the chart sets POD_NAME and POD_NAMESPACE).
std::string identity_of(const AppOptions& opts) {
  if (!opts.identity.empty()) return opts.identity;
  if (const char* p = std::getenv("POD_NAME"); p && *p) return p;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) return host;
  return "loki-webhook-" + std::to_string(getpid());
}

std::string lease_namespace_of(const AppOptions& opts) {
  if (!opts.lease_namespace.empty()) return opts.lease_namespace;
  if (const char* p = std::getenv("POD_NAMESPACE"); p && *p) return p;
  std::ifstream f("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns;
  if (f >> ns && !ns.empty()) return ns;
  return "default";
}

// The background audit and its leader election (nothing without --background-audit).
struct Audit {
  std::unique_ptr<BackgroundAudit> audit;
  std::unique_ptr<LeaderElector> elector;
  void stop() {
    if (elector) elector->stop();  // releases the lease: another replica takes over at once
    if (audit) audit->stop();
  }
  ~Audit() { stop(); }
};

int serve(const AppOptions& opts, sigset_t sigs) {
  ConfigHolder config(opts.config_path);
  metrics::Registry registry;
  describe_metrics(registry);
  // The audit reads the cache: declared after it, so it is stopped and freed first on every path.
  std::unique_ptr<PolicyCache> cache;
  Audit audit;
  auto with_audit = [&](PolicyCache& cache, const ClusterConfig& cc) {
    if (!opts.background_audit) return;
    BackgroundAuditOptions bo;
    bo.interval = opts.audit_interval;
    bo.resync = opts.audit_resync;
    bo.api = opts.report_api == "wgpolicy" ? ReportApi::wgpolicy : ReportApi::openreports;
    audit.audit = std::make_unique<BackgroundAudit>(
        cache, [&config] { return config.get(); }, bo, kube_report_store(cc, bo.api), kube_owner_lookup(cc), &registry);
    audit.audit->attach();
    LeaderElectionOptions lo;
    lo.ns = lease_namespace_of(opts);
    lo.identity = identity_of(opts);
    audit.elector = std::make_unique<LeaderElector>(lo, kube_lease_api(cc, lo));
    spdlog::info(R"("msg":"background audit on","lease":{},"identity":{},"intervalMs":{},"resyncMs":{},"reportApi":{})",
                 json(lo.ns + "/" + lo.name).dump(), json(lo.identity).dump(), opts.audit_interval.count(),
                 opts.audit_resync.count(), json(opts.report_api).dump());
  };
  cache = start_cache(opts, config, registry, with_audit);
  if (audit.audit) {
    audit.audit->start();
    BackgroundAudit* a = audit.audit.get();
    audit.elector->start([a](bool leader) { a->set_leader(leader); });
  }
  auto view_for = [&](const Config& cfg) {
    if (cache) return cache->view(cfg);
    ClusterView v;
    v.available = false;
    v.unavailable_reason = "running --without-cluster";
    return v;
  };
  ReviewEndpoint review{registry, [&] { return config.get(); }, view_for};
  Server server(opts.server, make_handler(review, cache.get(), registry));
  server.register_metrics(registry);
  spdlog::info(R"("msg":"serving","listen":{},"port":{},"threads":{})", json(opts.server.listen).dump(), server.port(),
               opts.server.threads);
  std::cout.flush();
  std::atomic<bool> stopping{false};
  std::thread signals([&] { handle_signals(sigs, config, server, stopping); });
  server.run();
  stopping = true;
  signals.join();
  audit.stop();
  if (cache) cache->stop();
  spdlog::info(R"("msg":"stopped")");
  return 0;
}

}  // namespace

int run_app(const AppOptions& opts) {
  setup_logging(opts.log_level);
  // Fixed thresholds: glibc otherwise raises its mmap threshold after a large
  // block (a near-cap body) is freed, so later large blocks land in the heap
  // and RSS stays up after an attack even with malloc_trim.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  sigset_t sigs = block_signals();
  try {
    return serve(opts, sigs);
  } catch (const std::exception& e) {
    spdlog::critical(R"("msg":"cannot start","error":{})", json(e.what()).dump());
    return 1;
  }
}

}  // namespace loki::webhook
