// Background audit (issue 20): the webhook re-evaluates, from its policy
// cache, the agent pods a change can affect, and keeps one policy report per
// namespace (openreports.io Report or wgpolicyk8s.io PolicyReport, named
// loki-guard) with server-side apply. Cost is bounded: a pod's checks run
// once when its watch event arrives (only its findings are kept); a change
// marks only the namespaces it can affect dirty (its own; for a namespace's
// labels also those whose policies select namespaces by a label that
// changed, PolicyCache::apply_namespace); a dirty namespace is evaluated at most once
// per interval; everything is re-evaluated every resync; a report is written
// only when its content (timestamps aside) changed. Only the leader
// (leader_election.hpp) evaluates and writes. Pods of one template share one
// copy of their pod-check findings (interned by content, the pod's own name
// taken out), so the auditor's memory per pod is its owner reference.
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/policy_report.hpp>

#include "metrics.hpp"
#include "policy_cache.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace loki::webhook {

struct BackgroundAuditOptions {
  std::chrono::milliseconds interval{std::chrono::seconds(10)};        // per namespace, at most one evaluation
  std::chrono::milliseconds resync{std::chrono::minutes(10)};          // everything re-evaluated
  std::chrono::milliseconds debounce{std::chrono::milliseconds(200)};  // a burst of events is one evaluation
  ReportApi api = ReportApi::openreports;
  // Whether the cache is complete enough to judge (default: PolicyCache::healthy).
  std::function<bool()> cache_ready;
};

// Where reports go (the API server, or a test's recorder). list: the reports
// that exist (namespace -> object), read when leadership starts so a new
// leader does not rewrite unchanged reports.
struct ReportStore {
  std::function<std::map<std::string, nlohmann::json>()> list;
  std::function<void(const std::string& ns, const nlohmann::json& report)> apply;
  std::function<void(const std::string& ns)> remove;
};
ReportStore kube_report_store(const ClusterConfig& cfg, ReportApi api);

// An owner by ownerReference, for grouping pod findings per top-level
// workload as `loki-audit` does; nullopt when it cannot be read.
using OwnerLookup = std::function<std::optional<nlohmann::json>(const std::string& api_version, const std::string& kind,
                                                                const std::string& ns, const std::string& name)>;
OwnerLookup kube_owner_lookup(const ClusterConfig& cfg);

class BackgroundAudit {
 public:
  using Clock = std::chrono::steady_clock;
  BackgroundAudit(PolicyCache& cache, std::function<std::shared_ptr<const Config>()> config,
                  BackgroundAuditOptions opts, ReportStore store, OwnerLookup owners,
                  metrics::Registry* registry = nullptr);
  ~BackgroundAudit();

  void attach();  // the cache's listener: call before cache.start()
  void start();   // the evaluation thread
  void stop();
  void set_leader(bool leader);

  // Evaluates every namespace due at `now` and writes what changed; returns
  // how many were evaluated. (The thread calls it; tests call it directly.)
  std::size_t run_once(Clock::time_point now);
  // The report of one namespace as it stands (nullopt: no agents, no report).
  std::optional<nlohmann::json> build(const std::string& ns, std::vector<Finding>* findings = nullptr);

  struct Stats {
    std::size_t evaluations = 0, applied = 0, deleted = 0, unchanged = 0, errors = 0;
  };
  Stats stats() const;

  // The storage of a pod's pod-check findings (nullptr: it has none), to
  // tell shared storage apart; and how many distinct sets are alive.
  const void* findings_storage(const std::string& ns, const std::string& name) const;
  std::size_t findings_sets() const;

 private:
  // A pod's pod-check findings with what names the pod itself taken out
  // (its ObjectRef, its API path, its name in the texts): identical for
  // every pod of one template, so they are stored once (intern()).
  struct PodFindings {
    enum Own : std::uint8_t { object = 1, file = 2, name = 4 };  // what `restore` puts back
    std::vector<Finding> findings;
    std::vector<std::uint8_t> own;  // per finding, Own bits
    // The name of the ServiceAccount whose automountServiceAccountToken the
    // pod inherits when it has a service-account-token finding (empty: none,
    // or the pod sets the field): settled at each evaluation, as SAs change.
    // (Its name only: pods of one template share the set across namespaces.)
    std::string token_service_account;
    std::size_t hash = 0;
  };
  struct PodState {
    std::shared_ptr<const PodFindings> findings;               // of the pod checks (per-object rules); null: none
    std::string owner_api, owner_kind, owner_name, owner_uid;  // the controlling ownerReference
    bool agent = false;
  };
  static PodFindings strip(std::vector<Finding>&& findings, const std::string& ns, const std::string& name);
  static std::vector<Finding> restore(const PodFindings& pf, const std::string& ns, const std::string& name);
  std::shared_ptr<const PodFindings> intern(PodFindings&& pf) const;
  struct Owner {
    ObjectRef ref;
    std::string file;
    std::string up_api, up_kind, up_name, up_uid;  // its own controller
    bool found = false;
  };
  PodState check_pod(const nlohmann::json& pod, const Config& cfg) const;
  void on_pod(const std::string& ns, const std::string& name, const nlohmann::json* pod);
  // A list of pods arrives page by page; the pods seen so far replace the
  // old ones only when it is complete.
  void on_list_begin();
  void on_list_page(const std::vector<nlohmann::json>& pods);
  void on_list_commit();
  void mark(const std::string& ns);
  void mark_all();
  // (owner ref, owner file) of the top-level controller of a pod.
  std::pair<ObjectRef, std::string> top_owner(const std::string& ns, const std::string& pod_name, const PodState& p);
  const Owner& owner(const std::string& api, const std::string& kind, const std::string& ns, const std::string& name,
                     const std::string& uid);
  void evaluate(const std::string& ns);
  void update_metrics(const std::string& ns, const std::vector<Finding>& findings);
  void run();

  PolicyCache& cache_;
  std::function<std::shared_ptr<const Config>()> config_;
  BackgroundAuditOptions opts_;
  ReportStore store_;
  OwnerLookup owners_;
  metrics::Registry* registry_;

  mutable std::mutex mu_;  // pods_, dirty_, leader_, written_, stats_
  // ns -> pod name -> state; shared so an evaluation copies the namespace's map, not the findings.
  using PodMap = std::map<std::string, std::shared_ptr<const PodState>>;
  std::unordered_map<std::string, PodMap> pods_;
  std::unordered_map<std::string, PodMap> listing_;  // the pods of a list in progress
  std::map<std::string, Clock::time_point> dirty_;   // ns -> marked at
  bool leader_ = false;
  bool leader_started_ = false;                 // the existing reports still to be read
  std::map<std::string, std::string> written_;  // ns -> digest of the report as stored
  std::condition_variable cv_;
  bool stop_ = false;

  // The evaluation thread's own state.
  std::unordered_map<std::string, Owner> owner_cache_;                                // uid -> owner
  std::map<std::string, Clock::time_point> last_eval_;                                // ns -> when
  std::map<std::string, std::map<std::pair<std::string, std::string>, int>> gauges_;  // ns -> (rule, severity)
  Clock::time_point last_resync_{};
  Clock::time_point next_list_{};
  Stats stats_;
  std::unique_ptr<std::thread> thread_;

  // The interned finding sets by content hash (weak: a set lives as long as a pod uses it).
  mutable std::mutex intern_mu_;
  mutable std::unordered_multimap<std::size_t, std::weak_ptr<const PodFindings>> interned_;
  mutable std::size_t interned_sweep_at_ = 1024;  // sweep expired entries when the table reaches this
};

// The content of a report a write would change (results without timestamps,
// summary, source, labels), to skip writes that change nothing.
std::string report_digest(const nlohmann::json& report);

}  // namespace loki::webhook
