// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// leaderelection semantics (k8s.io/client-go/tools/leaderelection): a
// candidate takes the lease when it is free or when it has seen the same
// record, unrenewed, for a whole leaseDuration ("measured against time of last
// observed ack", so clocks of different hosts never matter); the holder
// renews every retryPeriod and stops leading when it could not renew for
// renewDeadline; a holder that shuts down releases the lease (ReleaseOnCancel)
// so the next replica need not wait. Only the leader writes policy reports;
// every replica keeps serving admission.
#pragma once

#include <loki/kubeconfig.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

namespace loki::webhook {

struct LeaderElectionOptions {
  std::string ns;  // where the Lease lives (the webhook's namespace)
  std::string name = "loki-guard-audit";
  std::string identity;  // holderIdentity: the pod name
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{5};
};

// The Lease I/O, injectable so the election logic is testable without an API
// server. get: the Lease, or nullopt when it does not exist (404); create and
// update throw on any failure (409 Conflict on a stale resourceVersion).
struct LeaseApi {
  std::function<std::optional<nlohmann::json>()> get;
  std::function<nlohmann::json(const nlohmann::json&)> create;
  std::function<nlohmann::json(const nlohmann::json&)> update;
};

class LeaderElector {
 public:
  using Clock = std::chrono::steady_clock;
  LeaderElector(LeaderElectionOptions opts, LeaseApi api);
  ~LeaderElector();

  // One round of client-go's tryAcquireOrRenew at `now` (steady clock:
  // expiry is judged by when this process observed the record, never by the
  // record's timestamps). True when this replica holds the lease afterwards.
  bool try_acquire_or_renew(Clock::time_point now);
  // Gives the lease up (holderIdentity empty, leaseDurationSeconds 1) if held.
  void release();

  // The loop in a thread: acquire (retrying every retryPeriod), renew, stop
  // leading after renewDeadline without a renewal. on_change(true/false) is
  // called from that thread on every transition.
  void start(std::function<void(bool)> on_change);
  void stop();  // ends the loop and releases the lease
  bool leader() const { return leader_.load(); }
  std::string observed_holder() const;

 private:
  void run();
  void set_leader(bool v);
  nlohmann::json lease_object(const std::string& holder, int duration, const std::string& acquire,
                              const std::string& renew, long transitions) const;

  LeaderElectionOptions opts_;
  LeaseApi api_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  nlohmann::json observed_spec_;  // the record as last seen
  std::string observed_rv_;
  Clock::time_point observed_time_{};
  Clock::time_point last_renew_{};
  std::function<void(bool)> on_change_;
  std::unique_ptr<std::thread> thread_;
};

// A Lease API on a KubeClient for the Lease `opts.name` in `opts.ns`.
LeaseApi kube_lease_api(const ClusterConfig& cfg, const LeaderElectionOptions& opts);

// metav1.MicroTime now: "2026-01-02T03:04:05.123456Z".
std::string micro_time_now();

}  // namespace loki::webhook
