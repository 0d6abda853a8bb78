// The webhook's policy cache (issue 19): what it answers from its compact
// snapshots must be what the same objects as JSON give (the admission
// answers depend on it), through lists and watch events.
#include <doctest/doctest.h>

#include <loki/config.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"
#include "policy_cache.hpp"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

using loki::webhook::PolicyCache;
using nlohmann::json;

namespace {

json ns_object(const std::string& name, json labels) {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}, {"labels", labels}}}};
}

json policy(const std::string& ns, const std::string& name, const std::string& app) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"podSelector", {{"matchLabels", {{"app", app}}}}},
            {"policyTypes", {"Egress"}},
            {"egress",
             json::array({{{"to", json::array({{{"namespaceSelector", {{"matchLabels", {{"team", "a"}}}}}}})}}})}}}};
}

json pod(const std::string& ns, const std::string& name, json labels, json spec, json extra_md = json::object()) {
  json md = {{"name", name}, {"namespace", ns}, {"labels", labels}};
  md.update(extra_md);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", md},
          {"spec", spec},
          {"status", {{"podIP", "10.1.2.3"}, {"podIPs", json::array({{{"ip", "10.1.2.3"}}, {{"ip", "fd00::3"}}})}}}};
}

json containers(json env = json::array()) {
  return {{"containers", json::array({{{"name", "c"},
                                       {"image", "i:1"},
                                       {"ports", json::array({{{"name", "http"}, {"containerPort", 8080}}})},
                                       {"env", env}}})}};
}

// Every field of the record the network pass reads.
void check_same(const loki::netpol::PodInfo& a, const loki::netpol::PodInfo& b) {
  CAPTURE(b.ref.name);
  CHECK(a.ref == b.ref);
  CHECK(a.file == b.file);
  CHECK(a.line == b.line);
  CHECK(a.ns == b.ns);
  CHECK(a.labels == b.labels);
  CHECK(a.host_network == b.host_network);
  CHECK(a.loki == b.loki);
  CHECK(a.inferred_kind == b.inferred_kind);
  REQUIRE(a.ports.size() == b.ports.size());
  for (std::size_t i = 0; i < a.ports.size(); ++i) {
    CHECK(a.ports[i].name == b.ports[i].name);
    CHECK(a.ports[i].port == b.ports[i].port);
    CHECK(a.ports[i].protocol == b.ports[i].protocol);
  }
  CHECK(a.ips == b.ips);
  auto env_same = [](const loki::netpol::EnvSetting& x, const loki::netpol::EnvSetting& y) {
    CHECK(x.present == y.present);
    CHECK(x.literal == y.literal);
    CHECK(x.value == y.value);
    CHECK(x.container == y.container);
    CHECK(x.field == y.field);
    CHECK(x.line == y.line);
  };
  env_same(a.egress_policy(), b.egress_policy());
  env_same(a.allowed_hosts(), b.allowed_hosts());
  env_same(a.block_metadata(), b.block_metadata());
  CHECK(a.labels_field == b.labels_field);
  CHECK(a.labels_line == b.labels_line);
  CHECK(a.host_network_field == b.host_network_field);
  CHECK(a.host_network_line == b.host_network_line);
  REQUIRE(a.ignores.size() == b.ignores.size());
  for (std::size_t i = 0; i < a.ignores.size(); ++i) CHECK(a.ignores[i].field == b.ignores[i].field);
}

std::vector<std::string> policy_names(const loki::webhook::ClusterView& v, const std::string& ns) {
  loki::netpol::Inventory inv;
  v.fill(ns, inv);
  std::vector<std::string> out;
  for (const auto& p : inv.policies) out.push_back(p.ref.name);
  return out;
}

}  // namespace

TEST_CASE("policy cache: live pods from the compact snapshot are the pods parsed from JSON, under each config") {
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  std::vector<json> pods = {
      pod("app", "plain", {{"app", "web"}}, containers()),
      pod("app", "agent", {{"app", "loki-mode"}},
          containers(json::array({{{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "ai-only"}},
                                  {{"name", "LOKI_ALLOWED_HOSTS"},
                                   {"valueFrom", {{"configMapKeyRef", {{"name", "x"}, {"key", "y"}}}}}}}))),
      pod("app", "promise", {{"app", "other"}},
          containers(json::array({{{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "none"}}}))),
      pod("app", "host", {{"app", "loki-mode"}},
          [] {
            json s = containers();
            s["hostNetwork"] = true;
            return s;
          }()),
      pod("app", "ignored", {{"app", "loki-mode"}}, containers(),
          {{"annotations", {{"ignore.loki-guard.io/egress-unrestricted", "reviewed in SEC-1"}}}}),
      pod("app", "bare", json::object(), containers()),
  };
  std::vector<json> listed = pods;
  listed.push_back(pod("elsewhere", "x", {{"app", "loki-mode"}}, containers()));
  cache.reflector("pods")->replace(std::move(listed));
  CHECK(cache.pods() == 7);

  std::vector<json> sorted = pods;  // the cache answers in name order, as the JSON store did
  std::sort(sorted.begin(), sorted.end(),
            [](const json& a, const json& b) { return a["metadata"]["name"] < b["metadata"]["name"]; });
  loki::Config plain;
  loki::Config all = loki::Config::parse("allPods: true\n", "c.yaml");
  for (const loki::Config* cfg : {&plain, &all}) {
    loki::netpol::Inventory from_cache, from_json;
    cache.view(*cfg).pods("app", *cfg, from_cache);
    loki::webhook::add_live_pods(sorted, "app", *cfg, from_json);
    REQUIRE(from_cache.pods.size() == from_json.pods.size());
    for (std::size_t i = 0; i < from_json.pods.size(); ++i) check_same(from_cache.pods[i], from_json.pods[i]);
  }

  // Watch events: a changed pod, a deleted one, an added one.
  json changed = pods[0];
  changed["metadata"]["labels"]["app"] = "loki-mode";
  cache.reflector("pods")->apply("MODIFIED", json(changed));
  cache.reflector("pods")->apply("DELETED", json(pods[5]));
  cache.reflector("pods")->apply("ADDED", pod("app", "new", {{"app", "x"}}, containers()));
  CHECK(cache.pods() == 7);
  loki::netpol::Inventory inv;
  cache.view(plain).pods("app", plain, inv);
  std::vector<std::string> names;
  for (const auto& p : inv.pods) names.push_back(p.ref.name);
  CHECK(names == std::vector<std::string>{"agent", "host", "ignored", "new", "plain", "promise"});
  CHECK(inv.pods[4].loki);
  CHECK(inv.pods[4].labels.at("app") == "loki-mode");
}

TEST_CASE("policy cache: a namespace's policies in the old order, namespaces by lookup, labels as written") {
  PolicyCache cache(loki::ClusterConfig{}, false);
  cache.create_reflectors(false);
  cache.reflector("namespaces")
      ->replace(
          {ns_object("app", {{"team", "a"}}), ns_object("db", {{"team", "b"}, {"kubernetes.io/metadata.name", "db"}})});
  cache.reflector("networkpolicies")
      ->replace({policy("app", "b-pol", "web"), policy("app", "a-pol", "api"), policy("db", "d", "pg")});
  CHECK(cache.policies() == 3);
  CHECK(cache.namespaces() == 2);

  auto v = cache.view(loki::Config{});
  CHECK(policy_names(v, "app") == std::vector<std::string>{"a-pol", "b-pol"});
  CHECK(policy_names(v, "none").empty());
  loki::netpol::Inventory inv;
  v.fill("app", inv);
  CHECK(inv.namespaces.labels_of("app") ==
        loki::Labels{{"team", "a"}, {"kubernetes.io/metadata.name", "app"}});  // as NamespaceSet::add keeps them
  CHECK(inv.namespaces.labels_of("db") == loki::Labels{{"team", "b"}, {"kubernetes.io/metadata.name", "db"}});
  CHECK(inv.namespaces.labels_of("gone") == loki::Labels{{"kubernetes.io/metadata.name", "gone"}});
  CHECK(inv.namespaces.known("db"));
  CHECK_FALSE(inv.namespaces.known("gone"));
  CHECK(v.namespace_labels("app") == loki::Labels{{"team", "a"}});  // the overrides read them as written
  CHECK(v.namespace_labels("gone").empty());

  // Events: a policy replaced, one deleted, a namespace relabelled; the view
  // taken before keeps its snapshot.
  cache.reflector("networkpolicies")->apply("ADDED", policy("app", "0-first", "web"));
  cache.reflector("networkpolicies")->apply("DELETED", policy("app", "b-pol", "web"));
  cache.reflector("namespaces")->apply("MODIFIED", ns_object("app", {{"team", "z"}}));
  cache.reflector("namespaces")->apply("DELETED", ns_object("db", json::object()));
  CHECK(policy_names(v, "app") == std::vector<std::string>{"a-pol", "b-pol"});
  CHECK(v.namespace_labels("app") == loki::Labels{{"team", "a"}});
  auto now = cache.view(loki::Config{});
  CHECK(policy_names(now, "app") == std::vector<std::string>{"0-first", "a-pol"});
  CHECK(now.namespace_labels("app") == loki::Labels{{"team", "z"}});
  CHECK(now.namespace_labels("db").empty());
  CHECK(cache.policies() == 3);
  CHECK(cache.namespaces() == 1);

  // A re-list replaces everything of its kind.
  cache.reflector("networkpolicies")->replace({policy("db", "only", "pg")});
  auto relisted = cache.view(loki::Config{});
  CHECK(policy_names(relisted, "app").empty());
  CHECK(policy_names(relisted, "db") == std::vector<std::string>{"only"});
  CHECK(cache.policies() == 1);
}

TEST_CASE("policy cache: a review's inventory refers to the snapshot's policies and keeps the snapshot alive") {
  PolicyCache cache(loki::ClusterConfig{}, false);
  cache.create_reflectors(false);
  cache.reflector("networkpolicies")->replace({policy("app", "a-pol", "api"), policy("app", "b-pol", "web")});
  loki::netpol::Inventory first, second;
  {
    auto v = cache.view(loki::Config{});
    v.fill("app", first);
    v.fill("app", second);
  }
  REQUIRE(first.policies.size() == 2);
  REQUIRE(second.policies.size() == 2);
  // The same records, not copies of them.
  CHECK(&first.policies[0] == &second.policies[0]);
  CHECK(&first.policies[1] == &second.policies[1]);
  // A re-list publishes a new snapshot; the old one lives on with the inventories.
  cache.reflector("networkpolicies")->replace({policy("app", "c-pol", "db")});
  CHECK(first.policies[0].ref.name == "a-pol");
  CHECK(first.policies[1].ref.name == "b-pol");
  loki::netpol::Inventory now;
  cache.view(loki::Config{}).fill("app", now);
  REQUIRE(now.policies.size() == 1);
  CHECK(now.policies[0].ref.name == "c-pol");
}

TEST_CASE("policy cache: reviews read snapshots while watch events replace them (run under TSan to check)") {
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  cache.reflector("namespaces")->replace({ns_object("app", {{"team", "a"}})});
  cache.reflector("networkpolicies")->replace({policy("app", "p", "web")});
  cache.reflector("pods")->replace({});
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      loki::Config cfg;
      while (!done) {
        auto v = cache.view(cfg);
        loki::netpol::Inventory inv;
        v.fill("app", inv);
        v.pods("app", cfg, inv);
        // One snapshot: its pods and policies never change under the reader.
        std::size_t n = inv.pods.size();
        loki::netpol::Inventory again;
        v.pods("app", cfg, again);
        CHECK(again.pods.size() == n);
        CHECK(inv.namespaces.labels_of("app").at("team") == "a");
        ++reads;
      }
    });
  for (int i = 0; i < 300; ++i) {
    cache.reflector("pods")->apply("ADDED", pod("app", "p" + std::to_string(i), {{"app", "web"}}, containers()));
    if (i % 3 == 0) cache.reflector("pods")->apply("DELETED", pod("app", "p" + std::to_string(i - 1), {}, {}));
    if (i % 50 == 0) cache.reflector("networkpolicies")->replace({policy("app", "p" + std::to_string(i), "web")});
  }
  while (reads < 10) std::this_thread::yield();
  done = true;
  for (auto& t : readers) t.join();
  CHECK(cache.pods() == 300 - 100 + 1);  // p-1 never existed
  CHECK(cache.policies() == 1);
}

TEST_CASE("policy cache: a list arrives page by page, is invisible until committed, and a restart voids its pages") {
  PolicyCache cache(loki::ClusterConfig{}, true);
  cache.create_reflectors(false);
  cache.reflector("pods")->replace({pod("app", "old", {{"app", "web"}}, containers())});
  const loki::Reflector::Sink& pods = cache.reflector("pods")->sink();
  REQUIRE(pods.begin);
  REQUIRE(pods.page);
  REQUIRE(pods.commit);
  auto names = [&] {
    loki::Config cfg;
    loki::netpol::Inventory inv;
    cache.view(cfg).pods("app", cfg, inv);
    std::vector<std::string> out;
    for (const auto& p : inv.pods) out.push_back(p.ref.name);
    return out;
  };
  // A list that restarts (410 Gone on its continue token) after one page.
  pods.begin();
  pods.page({pod("app", "gone", {{"app", "web"}}, containers())});
  pods.begin();
  pods.page({pod("app", "b", {{"app", "web"}}, containers()), pod("other", "x", {{"app", "web"}}, containers())});
  CHECK(names() == std::vector<std::string>{"old"});  // nothing published before the list is complete
  pods.page({pod("app", "a", {{"app", "loki-mode"}}, containers())});
  pods.commit();
  CHECK(names() == std::vector<std::string>{"a", "b"});
  CHECK(cache.pods() == 3);

  const loki::Reflector::Sink& pols = cache.reflector("networkpolicies")->sink();
  pols.begin();
  pols.page({policy("app", "z", "web")});
  pols.page({policy("app", "y", "web"), policy("db", "d", "pg")});
  pols.commit();
  CHECK(policy_names(cache.view(loki::Config{}), "app") == std::vector<std::string>{"y", "z"});
  CHECK(cache.policies() == 3);

  const loki::Reflector::Sink& nss = cache.reflector("namespaces")->sink();
  nss.begin();
  nss.page({ns_object("app", {{"team", "a"}})});
  nss.begin();
  nss.page({ns_object("db", {{"team", "b"}})});
  nss.commit();
  CHECK(cache.namespaces() == 1);
  CHECK(cache.view(loki::Config{}).namespace_labels("app").empty());
  CHECK(cache.view(loki::Config{}).namespace_labels("db") == loki::Labels{{"team", "b"}});
}

TEST_CASE("policy cache: cluster network policies (issue 21) are in every namespace's view, through list and watch") {
  PolicyCache cache(loki::ClusterConfig{}, false);
  cache.create_reflectors(false, {loki::resources::clusternetworkpolicies, loki::resources::adminnetworkpolicies});
  REQUIRE(cache.reflector("clusternetworkpolicies") != nullptr);
  REQUIRE(cache.reflector("adminnetworkpolicies") != nullptr);
  auto cnp = [](const std::string& name) {
    return json{
        {"apiVersion", "policy.networking.k8s.io/v1beta1"},
        {"kind", "ClusterNetworkPolicy"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"tier", "Admin"},
          {"priority", 10},
          {"subject", {{"namespaces", json::object()}}},
          {"egress",
           json::array(
               {{{"name", "deny"}, {"action", "Deny"}, {"to", json::array({{{"networks", {"0.0.0.0/0"}}}})}}})}}}};
  };
  json anp = {{"apiVersion", "policy.networking.k8s.io/v1alpha1"},
              {"kind", "AdminNetworkPolicy"},
              {"metadata", {{"name", "anp"}}},
              {"spec", {{"priority", 1}, {"subject", {{"namespaces", json::object()}}}}}};
  cache.reflector("clusternetworkpolicies")->replace({cnp("deny-all")});
  cache.reflector("adminnetworkpolicies")->replace({anp});
  cache.reflector("networkpolicies")->replace({policy("app", "np", "web")});
  cache.reflector("namespaces")->replace({ns_object("app", json::object())});
  CHECK(cache.policies() == 3);
  loki::Config cfg;
  auto names = policy_names(cache.view(cfg), "app");
  CHECK(names == std::vector<std::string>{"np", "deny-all", "anp"});
  CHECK(policy_names(cache.view(cfg), "other") == std::vector<std::string>{"deny-all", "anp"});
  loki::netpol::Inventory inv;
  cache.view(cfg).fill("app", inv);
  CHECK(inv.policies[1].is_cluster());
  cache.reflector("clusternetworkpolicies")->apply("DELETED", cnp("deny-all"));
  CHECK(policy_names(cache.view(cfg), "app") == std::vector<std::string>{"np", "anp"});
  CHECK(cache.policies() == 2);
}

TEST_CASE("policy cache: ServiceAccounts keep only the names of those that opt out of token automount") {
  // "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken
  // value" (Kubernetes docs, Configure Service Accounts for Pods): a ServiceAccount's false matters only for
  // pods that leave the field unset; the cache keeps which ServiceAccounts say false, nothing else of them.
  PolicyCache cache(loki::ClusterConfig{}, false);
  cache.create_reflectors(false);
  REQUIRE(cache.reflector("serviceaccounts") != nullptr);
  std::vector<std::string> marked;
  PolicyCache::Listener l;
  l.changed = [&](const std::string& ns) { marked.push_back(ns); };
  cache.set_listener(l);
  auto sa = [](const std::string& ns, const std::string& name, json automount, json labels = json::object()) {
    json o = {{"apiVersion", "v1"},
              {"kind", "ServiceAccount"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}}};
    if (!automount.is_null()) o["automountServiceAccountToken"] = automount;
    return o;
  };
  auto opt_outs = [&](const std::string& ns) {
    auto keys = cache.view(loki::Config{}).token_opt_outs(ns);
    return keys ? *keys : std::set<std::string>{};
  };
  CHECK(cache.view(loki::Config{}).token_opt_outs("team") == nullptr);  // not listed: unknown

  const loki::Reflector::Sink& sas = cache.reflector("serviceaccounts")->sink();
  sas.begin();
  sas.page({sa("team", "gone", false)});
  sas.begin();  // a restarted list voids its pages
  sas.page({sa("team", "no-token", false), sa("team", "default", nullptr), sa("team", "mounts", true)});
  sas.page({sa("db", "quiet", false), sa("db", "quoted", "false")});    // a string is not the boolean false
  CHECK(cache.view(loki::Config{}).token_opt_outs("team") == nullptr);  // nothing published before the commit
  sas.commit();
  CHECK(opt_outs("team") == std::set<std::string>{"team/no-token"});
  CHECK(opt_outs("db") == std::set<std::string>{"db/quiet"});
  CHECK(opt_outs("elsewhere").empty());
  CHECK(cache.token_opt_outs() == 2);
  std::sort(marked.begin(), marked.end());
  CHECK(marked == std::vector<std::string>{"db", "team"});  // the namespaces whose opt-outs changed

  // Watch events: add, an edit of something else, update to true, delete.
  marked.clear();
  cache.reflector("serviceaccounts")->apply("ADDED", sa("team", "builder", false));
  CHECK(opt_outs("team") == std::set<std::string>{"team/builder", "team/no-token"});
  CHECK(marked == std::vector<std::string>{"team"});
  auto before = cache.view(loki::Config{}).token_opt_outs("team");
  cache.reflector("serviceaccounts")->apply("MODIFIED", sa("team", "builder", false, {{"tier", "ci"}}));
  CHECK(cache.view(loki::Config{}).token_opt_outs("team") == before);  // nothing the decision reads: not copied
  CHECK(marked.size() == 1);                                           // and no re-audit
  cache.reflector("serviceaccounts")->apply("MODIFIED", sa("team", "no-token", true));
  CHECK(opt_outs("team") == std::set<std::string>{"team/builder"});
  CHECK(*before == std::set<std::string>{"team/builder", "team/no-token"});  // a review's snapshot is immutable
  cache.reflector("serviceaccounts")->apply("MODIFIED", sa("team", "default", nullptr));  // unset: not false
  CHECK(opt_outs("team") == std::set<std::string>{"team/builder"});
  cache.reflector("serviceaccounts")->apply("DELETED", sa("team", "builder", false));
  CHECK(cache.view(loki::Config{}).token_opt_outs("team") == nullptr);
  CHECK(opt_outs("db") == std::set<std::string>{"db/quiet"});
  CHECK(cache.token_opt_outs() == 1);
  CHECK(marked == std::vector<std::string>{"team", "team", "team"});

  // A re-list (410 Gone) replaces the set, and marks only the namespaces that differ.
  marked.clear();
  cache.reflector("serviceaccounts")->replace({sa("db", "quiet", false), sa("ops", "runner", false)});
  CHECK(marked == std::vector<std::string>{"ops"});
  CHECK(opt_outs("ops") == std::set<std::string>{"ops/runner"});
  CHECK(cache.token_opt_outs() == 2);
}
