// The workload-kind table: every consumer (pod template lookup, the API
// client, validation) reads the same entries.
#include <doctest/doctest.h>
#include <loki/kube_client.hpp>
#include <loki/lint.hpp>
#include <loki/podspec.hpp>
#include <loki/workload_kinds.hpp>

#include <set>

TEST_CASE("workload kinds: unique kinds and names, pod template pointers") {
  std::set<std::string_view> kinds, names;
  for (const loki::WorkloadKind& k : loki::workload_kinds()) {
    CHECK(kinds.insert(k.kind).second);
    CHECK(names.insert(k.plural).second);
    for (auto s : k.short_names) CHECK(names.insert(s).second);
    CHECK(loki::find_workload_kind(k.kind) == &k);
    auto paths = loki::pod_template_paths(k.kind);
    REQUIRE(paths);
    CHECK(paths->spec == k.spec_pointer());
    CHECK(paths->metadata == k.metadata_pointer());
  }
  CHECK(loki::pod_template_paths("Pod")->spec == "/spec");
  CHECK(loki::pod_template_paths("Pod")->metadata == "/metadata");
  CHECK(loki::pod_template_paths("Deployment")->spec == "/spec/template/spec");
  CHECK(loki::pod_template_paths("CronJob")->spec == "/spec/jobTemplate/spec/template/spec");
  CHECK(loki::pod_template_paths("PodTemplate")->metadata == "/template/metadata");
  CHECK_FALSE(loki::pod_template_paths("Service"));
  CHECK_FALSE(loki::find_workload_kind("deployment"));  // kinds are case-sensitive
}

TEST_CASE("workload kinds: API resources come from the table") {
  CHECK(loki::resources::statefulsets.collection_path("ns") == "/apis/apps/v1/namespaces/ns/statefulsets");
  CHECK(loki::resources::pods.collection_path("") == "/api/v1/pods");
  const loki::ResourceType* rc = loki::resource_for_kind("ReplicationController");
  REQUIRE(rc);
  CHECK(rc->collection_path("x") == "/api/v1/namespaces/x/replicationcontrollers");
  CHECK_FALSE(loki::resource_for_kind("Service"));
  std::vector<std::string> listed;
  for (const auto& rt : loki::listed_workload_resources()) listed.push_back(rt.kind);
  CHECK(listed == std::vector<std::string>{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                                           "ReplicationController"});
}

namespace {

nlohmann::json object(const std::string& api_version, const std::string& kind, const nlohmann::json& spec) {
  return {{"apiVersion", api_version},
          {"kind", kind},
          {"metadata", {{"name", "x"}, {"namespace", "loki"}}},
          {"spec", spec}};
}

const nlohmann::json pod_template = {{"metadata", {{"labels", {{"app", "loki-mode"}}}}},
                                     {"spec", {{"containers", {{{"name", "loki"}, {"image", "loki:1"}}}}}}};

std::vector<loki::Finding> lint(const nlohmann::json& o) {
  loki::LintSession s(loki::EngineOptions{});
  s.add_text(o.dump(), "t.json");
  auto r = s.finish();
  return {r.findings.begin(), r.findings.end()};
}

}  // namespace

TEST_CASE("pod template kinds: DeploymentConfig and Rollout read like Deployments (issue 18)") {
  for (const char* kind : {"DeploymentConfig", "Rollout"}) {
    CAPTURE(kind);
    auto pt = loki::find_pod_template(object("x/v1", kind, {{"template", pod_template}}));
    REQUIRE(pt);
    CHECK(pt->spec_path == "/spec/template/spec");
    CHECK(pt->metadata_path == "/spec/template/metadata");
    CHECK_FALSE(pt->inferred);
    CHECK(loki::is_workload_kind(kind));
  }
  CHECK(loki::resource_for_kind("DeploymentConfig")->collection_path("ns") ==
        "/apis/apps.openshift.io/v1/namespaces/ns/deploymentconfigs");
  CHECK(loki::resource_for_kind("Rollout")->collection_path("") == "/apis/argoproj.io/v1alpha1/rollouts");
  std::vector<std::string> optional;
  for (const auto& rt : loki::listed_workload_resources(loki::Listing::when_served)) optional.push_back(rt.kind);
  CHECK(optional == std::vector<std::string>{"DeploymentConfig", "Rollout"});

  // Findings, without invalid-manifest for the legacy DeploymentConfig apiVersion.
  std::set<std::string> rules;
  for (const auto& f : lint(object("v1", "DeploymentConfig", {{"template", pod_template}}))) rules.insert(f.rule);
  CHECK(rules.count("run-as-root"));
  CHECK_FALSE(rules.count("invalid-manifest"));
}

TEST_CASE("pod template kinds: a Rollout with workloadRef has no template of its own") {
  const auto ref = object("argoproj.io/v1alpha1", "Rollout",
                          {{"workloadRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "d"}}}});
  CHECK_FALSE(loki::find_pod_template(ref));
  CHECK(lint(ref).empty());  // no findings, and spec.template is not "required"
  // Without either, the template is missing.
  auto neither = lint(object("argoproj.io/v1alpha1", "Rollout", {{"replicas", 1}}));
  REQUIRE(neither.size() == 1);
  CHECK(neither[0].rule == "invalid-manifest");
  CHECK(neither[0].message.find("required") != std::string::npos);
}

TEST_CASE("pod template kinds: another kind with spec.template.spec.containers is inferred, with a note") {
  const auto pool = object("agents.example.com/v1", "AgentPool", {{"template", pod_template}});
  auto pt = loki::find_pod_template(pool);
  REQUIRE(pt);
  CHECK(pt->inferred);
  CHECK(pt->spec_path == "/spec/template/spec");
  CHECK_FALSE(loki::is_workload_kind("AgentPool"));  // the webhook still routes known kinds only
  auto findings = lint(pool);
  std::set<std::string> rules;
  for (const auto& f : findings) {
    rules.insert(f.rule);
    CAPTURE(f.rule);
    CHECK(f.message.ends_with(loki::inferred_kind_note("AgentPool")));
  }
  CHECK(rules.count("run-as-root"));          // a pod rule
  CHECK(rules.count("egress-unrestricted"));  // a network rule
  CHECK(loki::inferred_kind_note("AgentPool").find("AgentPool is not a known workload kind") != std::string::npos);

  // No containers list: not a pod spec.
  CHECK_FALSE(loki::find_pod_template(object("a/v1", "PromptTemplate", {{"template", {{"spec", {{"text", "x"}}}}}})));
  CHECK_FALSE(
      loki::find_pod_template(object("a/v1", "Odd", {{"template", {{"spec", {{"containers", "not-a-list"}}}}}})));
  // Known kinds keep their own paths (a Pod's spec.template is not looked at).
  CHECK_FALSE(loki::find_pod_template(object("v1", "Pod", {{"template", pod_template}}))->inferred);
}
