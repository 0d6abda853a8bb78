// The background audit (issue 20): leader election on a Lease with
// client-go's semantics, and the per-namespace policy reports built from the
// policy cache: the same findings `loki-audit` reports for the same objects,
// written only when they change, only by the leader, at most once per
// interval per namespace.
#include <doctest/doctest.h>

#include <loki/cluster.hpp>
#include <loki/config.hpp>
#include <loki/report.hpp>

#include "background_audit.hpp"
#include "leader_election.hpp"
#include "policy_cache.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using loki::webhook::BackgroundAudit;
using loki::webhook::BackgroundAuditOptions;
using loki::webhook::LeaderElectionOptions;
using loki::webhook::LeaderElector;
using loki::webhook::LeaseApi;
using loki::webhook::PolicyCache;
using loki::webhook::ReportStore;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A Lease "in the API server": optimistic concurrency on resourceVersion.
struct FakeLease {
  std::optional<json> obj;
  int rv = 0;
  int writes = 0;
  LeaseApi api() {
    LeaseApi a;
    a.get = [this] { return obj; };
    a.create = [this](const json& o) {
      if (obj) throw std::runtime_error("409 AlreadyExists");
      obj = o;
      (*obj)["metadata"]["resourceVersion"] = std::to_string(++rv);
      ++writes;
      return *obj;
    };
    a.update = [this](const json& o) {
      if (!obj || o["metadata"].value("resourceVersion", "") != (*obj)["metadata"]["resourceVersion"])
        throw std::runtime_error("409 Conflict");
      obj = o;
      (*obj)["metadata"]["resourceVersion"] = std::to_string(++rv);
      ++writes;
      return *obj;
    };
    return a;
  }
  std::string holder() const { return obj ? (*obj)["spec"].value("holderIdentity", "") : ""; }
};

LeaderElectionOptions lease_opts(const std::string& id) {
  LeaderElectionOptions o;
  o.ns = "loki-guard";
  o.identity = id;
  return o;
}

}  // namespace

TEST_CASE("leader election: one holder; the other takes over only after a whole unrenewed leaseDuration") {
  FakeLease lease;
  LeaderElector a(lease_opts("a"), lease.api()), b(lease_opts("b"), lease.api());
  const auto t0 = LeaderElector::Clock::now();
  CHECK(a.try_acquire_or_renew(t0));
  CHECK(lease.holder() == "a");
  CHECK((*lease.obj)["spec"]["leaseDurationSeconds"] == 15);
  CHECK_FALSE(b.try_acquire_or_renew(t0 + 1s));
  // a renews every 5 s: b keeps seeing a changed record and never takes over.
  for (int i = 1; i <= 6; ++i) {
    CHECK(a.try_acquire_or_renew(t0 + i * 5s));
    CHECK_FALSE(b.try_acquire_or_renew(t0 + i * 5s + 1s));
  }
  // a stops renewing: b waits leaseDuration from when it last saw a change, by its own clock.
  CHECK_FALSE(b.try_acquire_or_renew(t0 + 31s + 14s));
  CHECK(b.try_acquire_or_renew(t0 + 31s + 16s));
  CHECK(lease.holder() == "b");
  CHECK((*lease.obj)["spec"]["leaseTransitions"] == 1);
  // a comes back: the lease is b's (b renewed it just now).
  CHECK_FALSE(a.try_acquire_or_renew(t0 + 48s));
}

TEST_CASE("leader election: a released lease is taken at once; a stale write loses with 409") {
  FakeLease lease;
  LeaderElector a(lease_opts("a"), lease.api()), b(lease_opts("b"), lease.api());
  const auto t0 = LeaderElector::Clock::now();
  REQUIRE(a.try_acquire_or_renew(t0));
  CHECK_FALSE(b.try_acquire_or_renew(t0 + 1s));
  a.release();
  CHECK(lease.holder().empty());
  CHECK((*lease.obj)["spec"]["leaseDurationSeconds"] == 1);
  CHECK(b.try_acquire_or_renew(t0 + 2s));
  CHECK(lease.holder() == "b");
  // Two candidates that read the same expired record: only the first write wins.
  FakeLease l2;
  LeaderElector c(lease_opts("c"), l2.api()), d(lease_opts("d"), l2.api());
  LeaseApi racing = l2.api();
  auto real_update = racing.update;
  bool raced = false;
  racing.update = [&](const json& o) {
    if (!raced) {
      raced = true;
      json steal = *l2.obj;
      steal["spec"]["holderIdentity"] = "d";
      real_update(steal);  // d's write lands between c's read and c's write
    }
    return real_update(o);
  };
  REQUIRE(c.try_acquire_or_renew(t0));
  c.release();
  LeaderElector c2(lease_opts("c"), racing);
  CHECK_FALSE(c2.try_acquire_or_renew(t0 + 1s));
  CHECK(l2.holder() == "d");
}

namespace {

json ns_object(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/metadata.name", name}}}}}};
}

json agent_pod(const std::string& ns, const std::string& name, json labels, json owner = nullptr) {
  json md = {{"name", name}, {"namespace", ns}, {"labels", labels}, {"uid", "pod-" + name}};
  if (!owner.is_null()) md["ownerReferences"] = json::array({owner});
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", md},
          {"spec", {{"containers", json::array({{{"name", "agent"}, {"image", "loki:1"}}})}}},
          {"status", {{"podIP", "10.1.0.1"}}}};
}

json controller(const std::string& api, const std::string& kind, const std::string& name, const std::string& uid) {
  return {{"apiVersion", api}, {"kind", kind}, {"name", name}, {"uid", uid}, {"controller", true}};
}

json workload(const std::string& api, const std::string& kind, const std::string& ns, const std::string& name,
              const std::string& uid, json owner = nullptr) {
  json md = {{"name", name}, {"namespace", ns}, {"uid", uid}};
  if (!owner.is_null()) md["ownerReferences"] = json::array({owner});
  json tmpl = {{"metadata", {{"labels", {{"app", "loki-mode"}}}}},
               {"spec", {{"containers", json::array({{{"name", "agent"}, {"image", "loki:1"}}})}}}};
  return {{"apiVersion", api},
          {"kind", kind},
          {"metadata", md},
          {"spec", {{"selector", {{"matchLabels", {{"app", "loki-mode"}}}}}, {"template", tmpl}}}};
}

json egress_policy(const std::string& ns, const std::string& name, json selector) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"podSelector", {{"matchLabels", selector}}}, {"policyTypes", {"Egress"}}}}};
}

json ingress_policy(const std::string& ns, const std::string& name, json selector) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"podSelector", {{"matchLabels", selector}}}, {"policyTypes", {"Ingress"}}}}};
}

struct Recorder {
  std::map<std::string, json> stored;
  int applies = 0, removes = 0;
  ReportStore store() {
    ReportStore s;
    s.list = [this] { return stored; };
    s.apply = [this](const std::string& ns, const json& r) {
      stored[ns] = r;
      ++applies;
    };
    s.remove = [this](const std::string& ns) {
      stored.erase(ns);
      ++removes;
    };
    return s;
  }
};

std::vector<std::string> results(const json& report, const std::string& result) {
  std::vector<std::string> out;
  for (const auto& r : report["results"])
    if (r["result"] == result)
      for (const auto& res : r["resources"])  // a pass result names every subject that passed
        out.push_back(r["policy"].get<std::string>() + " " + res["kind"].get<std::string>() + "/" +
                      res["name"].get<std::string>());
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("background audit: reports follow pods and policies, written once per change, only by the leader") {
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  Recorder rec;
  // Owners as the API server would answer: Pod -> ReplicaSet -> Deployment.
  std::map<std::string, json> owners = {
      {"ReplicaSet/agent-7d4", workload("apps/v1", "ReplicaSet", "team", "agent-7d4", "rs-uid",
                                        controller("apps/v1", "Deployment", "agent", "dep-uid"))},
      {"Deployment/agent", workload("apps/v1", "Deployment", "team", "agent", "dep-uid")}};
  int owner_gets = 0;
  auto lookup = [&](const std::string&, const std::string& kind, const std::string&,
                    const std::string& name) -> std::optional<json> {
    ++owner_gets;
    auto it = owners.find(kind + "/" + name);
    return it == owners.end() ? std::nullopt : std::optional<json>(it->second);
  };
  BackgroundAuditOptions opts;
  opts.interval = 10s;
  opts.resync = 1h;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, rec.store(), lookup);
  audit.attach();

  const json rs_owner = controller("apps/v1", "ReplicaSet", "agent-7d4", "rs-uid");
  cache.reflector("namespaces")->replace({ns_object("team"), ns_object("quiet")});
  // egress-shadowed: the egress policy wants egress=restricted, the pods are selected by an ingress-only policy.
  cache.reflector("networkpolicies")
      ->replace({egress_policy("team", "isolate", {{"egress", "restricted"}}),
                 ingress_policy("team", "ingress-only", {{"app", "loki-mode"}})});
  cache.reflector("pods")->replace({agent_pod("team", "agent-7d4-a", {{"app", "loki-mode"}}, rs_owner),
                                    agent_pod("team", "agent-7d4-b", {{"app", "loki-mode"}}, rs_owner),
                                    agent_pod("team", "solo", {{"app", "loki-mode"}}),
                                    agent_pod("quiet", "web", {{"app", "web"}})});

  auto t = BackgroundAudit::Clock::now() + 1s;
  CHECK(audit.run_once(t) == 0);  // not the leader: nothing evaluated, nothing written
  CHECK(rec.applies == 0);
  audit.set_leader(true);
  CHECK(audit.run_once(t) == 2);  // team and quiet (it has pods, no agents)
  REQUIRE(rec.stored.count("team"));
  CHECK_FALSE(rec.stored.count("quiet"));
  CHECK(rec.applies == 1);
  const json& report = rec.stored["team"];
  CHECK(report["apiVersion"] == "openreports.io/v1alpha1");
  CHECK(report["kind"] == "Report");
  CHECK(report["metadata"]["name"] == "loki-guard");
  auto fails = results(report, "fail");
  CHECK(has(fails, "egress-shadowed Deployment/agent"));  // grouped on the top-level owner
  CHECK(has(fails, "egress-shadowed Pod/solo"));
  CHECK(has(results(report, "pass"), "host-port Deployment/agent"));
  CHECK(owner_gets == 2);  // each owner read once

  // The same objects through `loki-audit`'s cluster audit: the same findings.
  loki::ClusterSnapshot snap;
  snap.namespaces = {ns_object("team"), ns_object("quiet")};
  snap.networkpolicies = {egress_policy("team", "isolate", {{"egress", "restricted"}}),
                          ingress_policy("team", "ingress-only", {{"app", "loki-mode"}})};
  snap.pods = {agent_pod("team", "agent-7d4-a", {{"app", "loki-mode"}}, rs_owner),
               agent_pod("team", "agent-7d4-b", {{"app", "loki-mode"}}, rs_owner),
               agent_pod("team", "solo", {{"app", "loki-mode"}}), agent_pod("quiet", "web", {{"app", "web"}})};
  snap.workloads = {owners["ReplicaSet/agent-7d4"], owners["Deployment/agent"]};
  loki::EngineOptions eo;
  eo.config = *cfg;
  eo.record_subjects = true;
  auto cli = loki::audit_snapshot(snap, eo);
  std::vector<loki::Finding> mine;
  REQUIRE(audit.build("team", &mine));
  auto key = [](const std::vector<loki::Finding>& v) {
    std::vector<std::string> out;
    for (const auto& f : v)
      if (!f.suppressed && f.object.ns == "team") out.push_back(f.rule + "|" + f.object.display() + "|" + f.message);
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(key(mine) == key(cli.findings));
  CHECK(key(mine).size() >= 2);
  // And the report `loki-audit -f report` prints for the namespace (audit/options.cpp's emit_policy_reports).
  std::erase_if(cli.findings, [&](const loki::Finding& f) { return !cfg->rule_enabled(f.rule); });
  std::vector<loki::ReportSubject> checked;
  for (const auto& s : cli.subjects) checked.push_back({s});
  json cli_team;
  for (auto& r : loki::build_policy_reports(cli.findings, checked, loki::report_rules(*cfg), {}))
    if (r["metadata"].value("namespace", "") == "team") cli_team = r;
  REQUIRE(cli_team.is_object());
  CHECK(loki::webhook::report_digest(cli_team) == loki::webhook::report_digest(report));

  // Nothing changed: nothing evaluated or written.
  CHECK(audit.run_once(t + 20s) == 0);
  // An event that changes nothing in the report: evaluated, not written.
  cache.reflector("pods")->apply("MODIFIED", agent_pod("team", "solo", {{"app", "loki-mode"}}));
  CHECK(audit.run_once(t + 20s) == 1);
  CHECK(rec.applies == 1);
  CHECK(audit.stats().unchanged == 1);

  // Labelling the pod the egress policy selects removes its finding, within one interval; two events
  // in a row are one evaluation.
  cache.reflector("pods")->apply("MODIFIED",
                                 agent_pod("team", "solo", {{"app", "loki-mode"}, {"egress", "restricted"}}));
  cache.reflector("pods")->apply("MODIFIED",
                                 agent_pod("team", "solo", {{"app", "loki-mode"}, {"egress", "restricted"}}));
  CHECK(audit.run_once(t + 25s) == 0);  // 5 s after the last evaluation: waits for the interval
  CHECK(audit.run_once(t + 31s) == 1);
  CHECK(rec.applies == 2);
  CHECK_FALSE(has(results(rec.stored["team"], "fail"), "egress-shadowed Pod/solo"));
  CHECK(has(results(rec.stored["team"], "pass"), "egress-shadowed Pod/solo"));
  // Another change right after: waits for the interval (at most one evaluation per interval per namespace).
  cache.reflector("networkpolicies")->apply("DELETED", egress_policy("team", "isolate", {{"egress", "restricted"}}));
  CHECK(audit.run_once(t + 32s) == 0);
  CHECK(audit.run_once(t + 41s) == 1);
  CHECK(rec.applies == 3);
  // Deleting the isolating policy brings the open egress back (now unrestricted: nothing isolates anything).
  CHECK(has(results(rec.stored["team"], "fail"), "egress-unrestricted Pod/solo"));

  // A new leader (another replica) with the same reports stored writes nothing.
  Recorder rec2;
  rec2.stored = rec.stored;
  BackgroundAudit other(
      cache, [cfg] { return cfg; }, opts, rec2.store(), lookup);
  other.attach();  // (the listener moves to this one; the first one is done)
  cache.reflector("pods")->replace({agent_pod("team", "agent-7d4-a", {{"app", "loki-mode"}}, rs_owner),
                                    agent_pod("team", "agent-7d4-b", {{"app", "loki-mode"}}, rs_owner),
                                    agent_pod("team", "solo", {{"app", "loki-mode"}, {"egress", "restricted"}}),
                                    agent_pod("quiet", "web", {{"app", "web"}})});
  other.set_leader(true);
  CHECK(other.run_once(t + 42s) == 2);
  CHECK(rec2.applies == 0);

  // No agents left in the namespace: its report is deleted.
  cache.reflector("pods")->replace({agent_pod("quiet", "web", {{"app", "web"}})});
  CHECK(other.run_once(t + 53s) >= 1);
  CHECK(rec2.removes == 1);
  CHECK_FALSE(rec2.stored.count("team"));
}

TEST_CASE("background audit: report digests ignore timestamps only") {
  json a = {{"metadata", {{"labels", {{"x", "1"}}}}},
            {"summary", {{"pass", 1}}},
            {"results", json::array({{{"policy", "p"}, {"timestamp", {{"seconds", 1}}}}})}};
  json b = a;
  b["results"][0]["timestamp"]["seconds"] = 99;
  CHECK(loki::webhook::report_digest(a) == loki::webhook::report_digest(b));
  b["summary"]["pass"] = 2;
  CHECK(loki::webhook::report_digest(a) != loki::webhook::report_digest(b));
}

TEST_CASE("cluster audit: one finding per workload and rule listing its pods; messages naming each pod grouped") {
  // Two replicas whose findings differ only by the pod each names: one finding of the workload.
  loki::OwnerGroups groups;
  const loki::ObjectRef owner{"apps/v1", "Deployment", "models", "llm-api"};
  for (const std::string pod : {"llm-api-7d4-b", "llm-api-7d4-a"}) {
    loki::Finding f;
    f.rule = "egress-shadowed";
    f.object = {"v1", "Pod", "models", pod};
    f.message = "labels of Pod models/" + pod + " miss egress=restricted";
    f.remediation = "add the label to Pod models/" + pod;
    groups.add(f, owner, "/apis/apps/v1/namespaces/models/deployments/llm-api", pod);
  }
  std::vector<loki::Finding> out;
  groups.flush(out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].object == owner);
  CHECK(out[0].message == "labels of Pod models/<pod> miss egress=restricted [pods: llm-api-7d4-a, llm-api-7d4-b]");
  CHECK(out[0].remediation == "add the label to Pod models/<pod>");
  // Text output names it as kubectl does, located "live", not by a pseudo-file.
  std::ostringstream text;
  loki::write_report(text, loki::Format::text, out, loki::ReportSummary{});
  CHECK(text.str().find("deployment/llm-api -n models (apps/v1, live)\n  live: error [egress-shadowed]") !=
        std::string::npos);
  CHECK(text.str().find("llm-api:0") == std::string::npos);
}

TEST_CASE("cluster audit: a ServiceAccount's automountServiceAccountToken: false settles pods that leave it unset") {
  // "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken
  // value" (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/).
  loki::ClusterSnapshot snap;
  snap.namespaces = {ns_object("team")};
  json inherits = agent_pod("team", "inherits", {{"app", "loki-mode"}});
  inherits["spec"]["serviceAccountName"] = "no-token";
  json overrides = inherits;
  overrides["metadata"]["name"] = "overrides";
  overrides["metadata"]["uid"] = "pod-overrides";
  overrides["spec"]["automountServiceAccountToken"] = true;
  json plain = agent_pod("team", "plain", {{"app", "loki-mode"}});
  snap.pods = {inherits, overrides, plain};
  snap.serviceaccounts = {{{"apiVersion", "v1"},
                           {"kind", "ServiceAccount"},
                           {"metadata", {{"name", "no-token"}, {"namespace", "team"}}},
                           {"automountServiceAccountToken", false}}};
  loki::EngineOptions eo;
  eo.default_namespace = "team";
  auto names = [&] {
    std::set<std::string> out;
    for (const auto& f : loki::audit_snapshot(snap, eo).findings)
      if (f.rule == "service-account-token") out.insert(f.object.name);
    return out;
  };
  CHECK(names() == std::set<std::string>{"overrides", "plain"});
  snap.serviceaccounts.clear();  // not listable (forbidden): reported as before
  CHECK(names() == std::set<std::string>{"inherits", "overrides", "plain"});
}

TEST_CASE("background audit: a namespace being deleted is not an error; another failed write is retried") {
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  int applies = 0;
  int fail_with = 403;  // the namespace lifecycle plugin's answer, then a server error
  ReportStore store;
  store.list = [] { return std::map<std::string, json>{}; };
  store.apply = [&](const std::string&, const json&) {
    ++applies;
    // The API server's Status for a create in a terminating namespace carries details.causes[].reason
    // NamespaceTerminating (k8s.io/api/core/v1 NamespaceTerminatingCause: "NamespaceTerminating is
    // returned as a cause when a namespace is being terminated"); KubeClient puts it in KubeError::reason.
    if (fail_with == 403)
      throw loki::KubeError("namespace \"team\" is being deleted: the API server accepts no new objects in it", 403,
                            "NamespaceTerminating");
    throw loki::KubeError("API server answered 500", 500, "InternalError");
  };
  store.remove = [](const std::string&) {};
  BackgroundAuditOptions opts;
  opts.interval = 10s;
  opts.resync = 1h;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, store, nullptr);
  audit.attach();
  cache.reflector("namespaces")->replace({ns_object("team")});
  cache.reflector("networkpolicies")->replace({});
  cache.reflector("pods")->replace({agent_pod("team", "solo", {{"app", "loki-mode"}})});
  audit.set_leader(true);

  auto t = BackgroundAudit::Clock::now() + 1s;
  CHECK(audit.run_once(t) == 1);
  CHECK(applies == 1);
  CHECK(audit.stats().errors == 0);     // not a failure: the report goes with the namespace
  CHECK(audit.run_once(t + 11s) == 0);  // and not retried
  CHECK(applies == 1);

  // A server error is: counted, and the namespace evaluated again after the interval.
  fail_with = 500;
  cache.reflector("pods")->apply("MODIFIED", agent_pod("team", "solo", {{"app", "loki-mode"}, {"x", "1"}}));
  CHECK(audit.run_once(t + 22s) == 1);
  CHECK(applies == 2);
  CHECK(audit.stats().errors == 1);
  CHECK(audit.run_once(t + 33s) == 1);
  CHECK(applies == 3);
  CHECK(audit.stats().errors == 2);
}

TEST_CASE("background audit: pods of one template share one copy of their findings; a different pod does not") {
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  Recorder rec;
  BackgroundAuditOptions opts;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, rec.store(), nullptr);
  audit.attach();
  const json rs_owner = controller("apps/v1", "ReplicaSet", "agent-7d4", "rs-uid");
  json privileged = agent_pod("team", "privileged", {{"app", "loki-mode"}});
  privileged["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  cache.reflector("namespaces")->replace({ns_object("team")});
  cache.reflector("networkpolicies")->replace({});
  // A pod named as its container: its messages name it ('container "agent"'), its set keeps a mark there.
  const json named_as_container = agent_pod("team", "agent", {{"app", "loki-mode"}});
  cache.reflector("pods")->replace({agent_pod("team", "agent-7d4-a", {{"app", "loki-mode"}}, rs_owner),
                                    agent_pod("team", "agent-7d4-b", {{"app", "loki-mode"}}, rs_owner), privileged,
                                    agent_pod("team", "web", {{"app", "web"}}), named_as_container});
  const void* a = audit.findings_storage("team", "agent-7d4-a");
  REQUIRE(a != nullptr);
  CHECK(audit.findings_storage("team", "agent-7d4-b") == a);  // one template: one copy
  const void* p = audit.findings_storage("team", "privileged");
  REQUIRE(p != nullptr);
  CHECK(p != a);                                            // its findings differ (privileged)
  CHECK(audit.findings_storage("team", "web") == nullptr);  // not an agent: nothing kept
  CHECK(audit.findings_storage("team", "agent") != a);
  CHECK(audit.findings_sets() == 3);

  // Each pod's findings as before: its own ref and API path, the report as `loki-audit` prints it.
  std::vector<loki::Finding> mine;
  REQUIRE(audit.build("team", &mine));
  std::set<std::string> subjects;
  for (const auto& f : mine) subjects.insert(f.object.display() + " " + f.file);
  CHECK(subjects.count("Pod team/privileged /api/v1/namespaces/team/pods/privileged"));
  CHECK(std::any_of(mine.begin(), mine.end(), [](const loki::Finding& f) {
    return f.object.name == "agent" && f.message.find("container \"agent\"") != std::string::npos;
  }));
  loki::ClusterSnapshot snap;
  snap.namespaces = {ns_object("team")};
  snap.pods = {agent_pod("team", "agent-7d4-a", {{"app", "loki-mode"}}, rs_owner),
               agent_pod("team", "agent-7d4-b", {{"app", "loki-mode"}}, rs_owner), privileged,
               agent_pod("team", "web", {{"app", "web"}}), named_as_container};
  loki::EngineOptions eo;
  eo.config = *cfg;
  eo.record_subjects = true;
  auto cli = loki::audit_snapshot(snap, eo);
  auto all = [](const std::vector<loki::Finding>& v) {
    std::vector<std::string> out;
    for (const auto& f : v)
      out.push_back(f.rule + "|" + f.object.display() + "|" + f.file + "|" + f.message + "|" + f.remediation);
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(all(mine) == all(cli.findings));

  // The last pod of a set gone: the set is freed (only pods keep it alive).
  cache.reflector("pods")->apply("DELETED", json(privileged));
  CHECK(audit.findings_storage("team", "privileged") == nullptr);
  CHECK(audit.findings_sets() == 2);
}

namespace {

json ns_labelled(const std::string& name, json labels) {
  json o = ns_object(name);
  for (auto& [k, v] : labels.items()) o["metadata"]["labels"][k] = v;
  return o;
}

bool dns_blocked(const json& report, const std::string& subject) {
  return has(results(report, "fail"), "dns-blocked " + subject);
}

}  // namespace

TEST_CASE("background audit: a namespace's label change re-audits the namespaces whose policies select it by label") {
  // k8s.io/api networking/v1 NetworkPolicyPeer: "namespaceSelector selects namespaces using cluster-scoped labels.
  // ... If podSelector is also set, then the NetworkPolicyPeer as a whole selects the pods matching podSelector in
  // the namespaces selected by namespaceSelector." So team's DNS allowance to kube-dns depends on kube-system's
  // labels: removing `dns: "true"` from kube-system makes team's agent lose DNS (dns-blocked), although nothing in
  // team changed. (An AdminNetworkPolicy without rules selects the pods, so the tiers' verdict decides DNS.)
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false, {loki::resources::adminnetworkpolicies});
  Recorder rec;
  BackgroundAuditOptions opts;
  opts.interval = 10s;
  opts.resync = 1h;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, rec.store(), nullptr);
  audit.attach();
  const json allow_dns = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", "allow-dns"}, {"namespace", "team"}}},
      {"spec",
       {{"podSelector", {{"matchLabels", {{"app", "loki-mode"}}}}},
        {"policyTypes", {"Egress"}},
        {"egress", json::array({{{"to", json::array({{{"namespaceSelector", {{"matchLabels", {{"dns", "true"}}}}},
                                                      {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}})},
                                 {"ports", json::array({{{"protocol", "UDP"}, {"port", 53}},
                                                        {{"protocol", "TCP"}, {"port", 53}}})}}})}}}};
  const json anp = {{"apiVersion", "policy.networking.k8s.io/v1alpha1"},
                    {"kind", "AdminNetworkPolicy"},
                    {"metadata", {{"name", "tiers"}}},
                    {"spec", {{"priority", 10}, {"subject", {{"namespaces", json::object()}}}}}};
  cache.reflector("adminnetworkpolicies")->replace({anp});
  cache.reflector("namespaces")
      ->replace({ns_object("team"), ns_object("other"), ns_labelled("kube-system", {{"dns", "true"}})});
  cache.reflector("networkpolicies")->replace({allow_dns});
  cache.reflector("pods")->replace(
      {agent_pod("team", "solo", {{"app", "loki-mode"}}), agent_pod("other", "agent", {{"app", "loki-mode"}})});
  audit.set_leader(true);
  auto t = BackgroundAudit::Clock::now() + 1s;
  CHECK(audit.run_once(t) >= 2);
  REQUIRE(rec.stored.count("team"));
  CHECK_FALSE(dns_blocked(rec.stored["team"], "Pod/solo"));
  CHECK(dns_blocked(rec.stored["other"], "Pod/agent") == false);
  const int applies = rec.applies;

  // A label no selector reads: only kube-system itself is evaluated.
  cache.reflector("namespaces")->apply("MODIFIED", ns_labelled("kube-system", {{"dns", "true"}, {"unrelated", "x"}}));
  CHECK(audit.run_once(t + 11s) == 1);
  // The label team's NetworkPolicy selects on: kube-system and team, not `other` (no policy there reads it).
  cache.reflector("namespaces")->apply("MODIFIED", ns_labelled("kube-system", {{"unrelated", "x"}}));
  CHECK(audit.run_once(t + 22s) == 2);
  CHECK(rec.applies == applies + 1);
  CHECK(dns_blocked(rec.stored["team"], "Pod/solo"));
  // And back.
  cache.reflector("namespaces")->apply("MODIFIED", ns_labelled("kube-system", {{"dns", "true"}}));
  CHECK(audit.run_once(t + 33s) == 2);
  CHECK_FALSE(dns_blocked(rec.stored["team"], "Pod/solo"));
}

TEST_CASE("background audit: a namespace's label change re-audits every namespace when a cluster policy reads it") {
  // sigs.k8s.io/network-policy-api v1alpha1 NamespacedPod: "NamespaceSelector follows standard label selector
  // semantics; if empty, it selects all Namespaces." The Admin tier allows DNS only to kube-dns in namespaces
  // labelled dns=allowed and denies every other pod and address: kube-system's label decides DNS for the agents of
  // every namespace the policy's subject selects.
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false, {loki::resources::adminnetworkpolicies});
  Recorder rec;
  BackgroundAuditOptions opts;
  opts.interval = 10s;
  opts.resync = 1h;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, rec.store(), nullptr);
  audit.attach();
  const json dns_port = json::array(
      {{{"portNumber", {{"protocol", "UDP"}, {"port", 53}}}}, {{"portNumber", {{"protocol", "TCP"}, {"port", 53}}}}});
  const json anp = {
      {"apiVersion", "policy.networking.k8s.io/v1alpha1"},
      {"kind", "AdminNetworkPolicy"},
      {"metadata", {{"name", "dns-from-labelled-only"}}},
      {"spec",
       {{"priority", 10},
        {"subject", {{"namespaces", json::object()}}},
        {"egress",
         json::array(
             {{{"name", "allow-dns"},
               {"action", "Allow"},
               {"to", json::array({{{"pods",
                                     {{"namespaceSelector", {{"matchLabels", {{"dns", "allowed"}}}}},
                                      {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}}}})},
               {"ports", dns_port}},
              {{"name", "deny-rest"},
               {"action", "Deny"},
               {"to", json::array({{{"namespaces", json::object()}}, {{"networks", {"0.0.0.0/0", "::/0"}}}})}}})}}}};
  cache.reflector("adminnetworkpolicies")->replace({anp});
  cache.reflector("namespaces")
      ->replace({ns_object("team"), ns_object("other"), ns_labelled("kube-system", {{"dns", "allowed"}})});
  cache.reflector("networkpolicies")->replace({});
  cache.reflector("pods")->replace(
      {agent_pod("team", "solo", {{"app", "loki-mode"}}), agent_pod("other", "agent", {{"app", "loki-mode"}})});
  audit.set_leader(true);
  auto t = BackgroundAudit::Clock::now() + 1s;
  CHECK(audit.run_once(t) >= 2);
  REQUIRE(rec.stored.count("team"));
  REQUIRE(rec.stored.count("other"));
  CHECK_FALSE(dns_blocked(rec.stored["team"], "Pod/solo"));
  CHECK_FALSE(dns_blocked(rec.stored["other"], "Pod/agent"));

  // Nothing in team or other changes; both lose DNS.
  cache.reflector("namespaces")->apply("MODIFIED", ns_object("kube-system"));
  CHECK(audit.run_once(t + 11s) == 3);  // kube-system, team, other
  CHECK(dns_blocked(rec.stored["team"], "Pod/solo"));
  CHECK(dns_blocked(rec.stored["other"], "Pod/agent"));
  // A label the policy does not read: kube-system only.
  cache.reflector("namespaces")->apply("MODIFIED", ns_labelled("kube-system", {{"x", "1"}}));
  CHECK(audit.run_once(t + 22s) == 1);
  cache.reflector("namespaces")->apply("MODIFIED", ns_labelled("kube-system", {{"x", "1"}, {"dns", "allowed"}}));
  CHECK(audit.run_once(t + 33s) == 3);
  CHECK_FALSE(dns_blocked(rec.stored["team"], "Pod/solo"));
  CHECK_FALSE(dns_blocked(rec.stored["other"], "Pod/agent"));
}

TEST_CASE("background audit: a ServiceAccount's automountServiceAccountToken: false settles pods, as loki-audit") {
  // "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken
  // value" (Kubernetes docs, Configure Service Accounts for Pods,
  // https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/).
  auto cfg = std::make_shared<const loki::Config>(loki::Config::parse("selector: app=loki-mode\n", "test"));
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  Recorder rec;
  BackgroundAuditOptions opts;
  opts.interval = 10s;
  opts.resync = 1h;
  opts.cache_ready = [] { return true; };
  BackgroundAudit audit(
      cache, [cfg] { return cfg; }, opts, rec.store(), nullptr);
  audit.attach();
  auto service_account = [](const std::string& name, bool automount) {
    return json{{"apiVersion", "v1"},
                {"kind", "ServiceAccount"},
                {"metadata", {{"name", name}, {"namespace", "team"}}},
                {"automountServiceAccountToken", automount}};
  };
  json inherits = agent_pod("team", "inherits", {{"app", "loki-mode"}});
  inherits["spec"]["serviceAccountName"] = "no-token";
  json overrides = agent_pod("team", "overrides", {{"app", "loki-mode"}});
  overrides["spec"]["serviceAccountName"] = "no-token";
  overrides["spec"]["automountServiceAccountToken"] = true;
  json plain = agent_pod("team", "plain", {{"app", "loki-mode"}});
  cache.reflector("namespaces")->replace({ns_object("team")});
  cache.reflector("networkpolicies")->replace({});
  cache.reflector("serviceaccounts")->replace({service_account("no-token", true)});
  cache.reflector("pods")->replace({inherits, overrides, plain});
  auto failing = [&] {
    std::set<std::string> out;
    for (const auto& r : results(rec.stored["team"], "fail"))
      if (r.rfind("service-account-token ", 0) == 0) out.insert(r.substr(r.find('/') + 1));
    return out;
  };
  audit.set_leader(true);
  auto t = BackgroundAudit::Clock::now() + 1s;
  CHECK(audit.run_once(t) == 1);
  CHECK(failing() == std::set<std::string>{"inherits", "overrides", "plain"});

  // The ServiceAccount opts out: its namespace is re-audited; the pod that leaves the field unset is settled.
  cache.reflector("serviceaccounts")->apply("MODIFIED", service_account("no-token", false));
  CHECK(audit.run_once(t + 11s) == 1);
  CHECK(failing() == std::set<std::string>{"overrides", "plain"});
  CHECK(has(results(rec.stored["team"], "pass"), "service-account-token Pod/inherits"));
  // The same objects through `loki-audit`'s cluster audit: the same findings.
  loki::ClusterSnapshot snap;
  snap.namespaces = {ns_object("team")};
  snap.pods = {inherits, overrides, plain};
  snap.serviceaccounts = {service_account("no-token", false)};
  loki::EngineOptions eo;
  eo.config = *cfg;
  auto cli = loki::audit_snapshot(snap, eo);
  std::vector<loki::Finding> mine;
  REQUIRE(audit.build("team", &mine));
  auto tokens = [](const std::vector<loki::Finding>& v) {
    std::set<std::string> out;
    for (const auto& f : v)
      if (f.rule == "service-account-token") out.insert(f.object.name + "|" + f.message);
    return out;
  };
  CHECK(tokens(mine) == tokens(cli.findings));
  CHECK(tokens(mine).size() == 2);

  // Back to true: reported again at the next evaluation.
  cache.reflector("serviceaccounts")->apply("MODIFIED", service_account("no-token", true));
  CHECK(audit.run_once(t + 22s) == 1);
  CHECK(failing() == std::set<std::string>{"inherits", "overrides", "plain"});
  // An edit that changes nothing the verdict reads: no re-audit.
  json labelled = service_account("no-token", true);
  labelled["metadata"]["labels"] = {{"tier", "ci"}};
  cache.reflector("serviceaccounts")->apply("MODIFIED", std::move(labelled));
  CHECK(audit.run_once(t + 33s) == 0);
}
