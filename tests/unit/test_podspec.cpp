// Pod template helpers shared by the pod rules and the network pass.
#include <doctest/doctest.h>
#include <loki/engine.hpp>
#include <loki/json_access.hpp>
#include <loki/lint.hpp>
#include <loki/podspec.hpp>

#include <nlohmann/json.hpp>
#include <set>

using nlohmann::json;

namespace {

json pod_with_envs(const json& first_env, const json& second_env) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}}},
          {"spec",
           {{"containers",
             {{{"name", "a"}, {"image", "x"}, {"env", first_env}},
              {{"name", "b"}, {"image", "x"}, {"env", second_env}}}}}}};
}

bool agent(const json& o) {
  auto pt = loki::find_pod_template(o);
  REQUIRE(pt);
  return loki::is_agent_pod(loki::Config{}, *pt);
}

}  // namespace

TEST_CASE("egress promise: a literal non-empty LOKI_NETWORK_EGRESS_POLICY in any container makes an agent") {
  const json from_secret = {{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"valueFrom", {{"secretKeyRef", json::object()}}}};
  const json none = {{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "none"}};
  const json empty = {{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", ""}};
  const json other = {{"name", "OTHER"}, {"value", "none"}};
  CHECK(agent(pod_with_envs(json::array({other}), json::array({none}))));
  CHECK(agent(pod_with_envs(json::array({from_secret}), json::array({none}))));  // a later literal counts
  CHECK_FALSE(agent(pod_with_envs(json::array({from_secret}), json::array({empty}))));
  CHECK_FALSE(agent(pod_with_envs(json::array({other}), json::array())));

  const json o = pod_with_envs(json::array({other, none}), json::array({from_secret}));
  auto pt = loki::find_pod_template(o);
  auto containers = loki::containers_of(*pt);
  auto entries = loki::env_entries(containers, "LOKI_NETWORK_EGRESS_POLICY");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].container->name == "a");
  CHECK(entries[0].index == 1);
  CHECK(entries[1].container->name == "b");
  CHECK(entries[1].index == 0);

  // The pod rules and the network pass agree on who is an agent: an
  // unlabelled pod with a later literal promise gets both kinds of findings.
  loki::LintSession s(loki::EngineOptions{});
  s.add_text(pod_with_envs(json::array({from_secret}), json::array({none})).dump(), "p.json");
  std::set<std::string> rules;
  for (const auto& f : s.finish().findings) rules.insert(f.rule);
  CHECK(rules.count("run-as-root"));
  CHECK(rules.count("egress-unrestricted"));
}

TEST_CASE("pod views: container ports with typed fields; tolerant json reads") {
  const json o = json::parse(R"({"kind": "Pod", "spec": {"containers": [{"name": "a", "ports": [
      {"name": "http", "containerPort": 8080, "protocol": "UDP"}, "junk",
      {"containerPort": "80", "hostPort": 9090}, {"name": 7, "hostPort": null}]}]}})");
  auto pt = loki::find_pod_template(o);
  REQUIRE(pt);
  auto cs = loki::containers_of(*pt);
  REQUIRE(cs.size() == 1);
  auto ports = loki::ports_of(cs[0]);
  REQUIRE(ports.size() == 3);  // "junk" skipped, indexes kept
  CHECK(ports[0].index == 0);
  CHECK(ports[0].name == "http");
  CHECK(ports[0].container_port == 8080);
  CHECK(ports[0].protocol == "UDP");
  CHECK_FALSE(ports[0].host_port);
  CHECK(ports[1].index == 2);
  CHECK_FALSE(ports[1].container_port);  // a string is not a port number
  CHECK(ports[1].host_port == 9090);
  CHECK(ports[2].index == 3);
  CHECK_FALSE(ports[2].name);
  CHECK_FALSE(ports[2].host_port);

  const json j = {{"t", true}, {"f", false}, {"n", nullptr}, {"s", "true"}};
  CHECK(loki::is_true(j, "t"));
  CHECK_FALSE(loki::is_true(j, "s"));
  CHECK(loki::bool_field(j, "f") == false);
  CHECK_FALSE(loki::bool_field(j, "n"));
  CHECK(loki::member(j, "n") == nullptr);
  CHECK(loki::member(json::array(), "t") == nullptr);
  CHECK(loki::blank(" \t\n"));
  CHECK_FALSE(loki::blank(" x "));
}
