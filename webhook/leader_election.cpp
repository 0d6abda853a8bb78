#include "leader_election.hpp"

#include <spdlog/spdlog.h>

#include <loki/kube_client.hpp>

#include <cstdio>
#include <ctime>
#include <memory>

namespace loki::webhook {

using nlohmann::json;

std::string micro_time_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", ts.tv_nsec / 1000);
  return buf;
}

LeaderElector::LeaderElector(LeaderElectionOptions opts, LeaseApi api) : opts_(std::move(opts)), api_(std::move(api)) {}

LeaderElector::~LeaderElector() {
  stop();
}

json LeaderElector::lease_object(const std::string& holder, int duration, const std::string& acquire,
                                 const std::string& renew, long transitions) const {
  json spec = {{"holderIdentity", holder},
               {"leaseDurationSeconds", duration},
               {"acquireTime", acquire},
               {"renewTime", renew},
               {"leaseTransitions", transitions}};
  json md = {{"name", opts_.name}, {"namespace", opts_.ns}};
  if (!observed_rv_.empty()) md["resourceVersion"] = observed_rv_;  // optimistic: a concurrent writer gets 409
  return {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", md}, {"spec", spec}};
}

bool LeaderElector::try_acquire_or_renew(Clock::time_point now) {
  const int duration = static_cast<int>(opts_.lease_duration.count());
  const std::string t = micro_time_now();
  std::unique_lock lk(mu_);
  std::optional<json> current;
  try {
    lk.unlock();
    current = api_.get();
    lk.lock();
  } catch (const std::exception& e) {
    lk.lock();
    spdlog::warn(R"("msg":"leader election: cannot read the lease","error":{})", json(e.what()).dump());
    return false;
  }
  if (!current) {
    // No lease yet: create it, held by us.
    observed_rv_.clear();
    json obj = lease_object(opts_.identity, duration, t, t, 0);
    try {
      lk.unlock();
      json made = api_.create(obj);
      lk.lock();
      observed_spec_ = made.value("spec", json::object());
      observed_rv_ = made["metadata"].value("resourceVersion", "");
      observed_time_ = now;
      return true;
    } catch (const std::exception& e) {
      lk.lock();
      spdlog::debug(R"("msg":"leader election: create lost","error":{})", json(e.what()).dump());
      return false;
    }
  }
  json spec = current->value("spec", json::object());
  // A changed record (renewed or taken over) restarts the expiry clock, as client-go's observedTime does.
  if (spec != observed_spec_) {
    observed_spec_ = spec;
    observed_time_ = now;
  }
  observed_rv_ = (*current)["metadata"].value("resourceVersion", "");
  const std::string holder = spec.value("holderIdentity", "");
  const auto held_for = std::chrono::seconds(spec.value("leaseDurationSeconds", duration));
  if (!holder.empty() && holder != opts_.identity && observed_time_ + held_for > now) return false;
  // Ours to renew, or free / expired to take.
  const bool ours = holder == opts_.identity;
  long transitions = spec.value("leaseTransitions", 0L);
  std::string acquire = spec.value("acquireTime", t);
  if (!ours) {
    ++transitions;
    acquire = t;
  }
  json obj = lease_object(opts_.identity, duration, acquire, t, transitions);
  try {
    lk.unlock();
    json updated = api_.update(obj);
    lk.lock();
    observed_spec_ = updated.value("spec", json::object());
    observed_rv_ = updated["metadata"].value("resourceVersion", "");
    observed_time_ = now;
    return true;
  } catch (const std::exception& e) {
    lk.lock();
    spdlog::debug(R"("msg":"leader election: update lost","error":{})", json(e.what()).dump());
    return false;
  }
}

void LeaderElector::release() {
  std::unique_lock lk(mu_);
  if (!observed_spec_.is_object() || observed_spec_.value("holderIdentity", "") != opts_.identity) return;
  const std::string t = micro_time_now();
  json obj = lease_object("", 1, t, t, observed_spec_.value("leaseTransitions", 0L));
  try {
    lk.unlock();
    api_.update(obj);
    lk.lock();
    observed_spec_ = obj["spec"];
    spdlog::info(R"("msg":"leader election: released the lease","lease":{})", json(opts_.name).dump());
  } catch (const std::exception& e) {
    spdlog::warn(R"("msg":"leader election: could not release the lease","error":{})", json(e.what()).dump());
  }
}

std::string LeaderElector::observed_holder() const {
  std::lock_guard lk(mu_);
  return observed_spec_.is_object() ? observed_spec_.value("holderIdentity", "") : "";
}

void LeaderElector::set_leader(bool v) {
  if (leader_.exchange(v) == v) return;
  spdlog::info(R"("msg":"leader election: {}","lease":{},"identity":{})", v ? "leading" : "stopped leading",
               json(opts_.ns + "/" + opts_.name).dump(), json(opts_.identity).dump());
  if (on_change_) on_change_(v);
}

void LeaderElector::start(std::function<void(bool)> on_change) {
  if (thread_) return;
  on_change_ = std::move(on_change);
  thread_ = std::make_unique<std::thread>([this] { run(); });
}

void LeaderElector::stop() {
  if (!thread_) return;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_->join();
  thread_.reset();
  const bool was = leader_.load();
  set_leader(false);
  if (was) release();
}

void LeaderElector::run() {
  while (!stop_) {
    const auto now = Clock::now();
    const bool ok = try_acquire_or_renew(now);
    if (ok) {
      last_renew_ = now;
      set_leader(true);
    } else if (leader_ && now - last_renew_ >= opts_.renew_deadline) {
      // Could not renew in time: another replica may take over from here on.
      set_leader(false);
    }
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, opts_.retry_period, [this] { return stop_.load(); });
  }
}

LeaseApi kube_lease_api(const ClusterConfig& cfg, const LeaderElectionOptions& opts) {
  auto client = std::make_shared<KubeClient>(cfg);
  const std::string collection = "/apis/coordination.k8s.io/v1/namespaces/" + opts.ns + "/leases";
  const std::string path = collection + "/" + opts.name;
  LeaseApi api;
  api.get = [client, path]() -> std::optional<json> {
    try {
      return client->get(path);
    } catch (const KubeError& e) {
      if (e.status == 404) return std::nullopt;
      throw;
    }
  };
  api.create = [client, collection](const json& o) { return client->create(collection, o); };
  api.update = [client, path](const json& o) { return client->update(path, o); };
  return api;
}

}  // namespace loki::webhook
