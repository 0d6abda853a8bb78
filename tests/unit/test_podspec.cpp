// Pod template helpers shared by the pod rules and the network pass.
#include <doctest/doctest.h>
#include <loki/engine.hpp>
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
