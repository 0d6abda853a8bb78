// The workload-kind table: every consumer (pod template lookup, the API
// client, validation) reads the same entries.
#include <doctest/doctest.h>
#include <loki/kube_client.hpp>
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
