// Pod-hardening rules: a positive and a negative case each, including
// inheritance from the pod's securityContext and init/ephemeral containers.
#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/engine.hpp>
#include <loki/manifest.hpp>
#include <loki/rules.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

using nlohmann::json;

namespace {

// A Deployment that passes every pod rule.
json hardened() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "agent", "namespace": "loki"},
    "spec": {"selector": {"matchLabels": {"app": "loki-mode"}},
      "template": {"metadata": {"labels": {"app": "loki-mode"}},
        "spec": {
          "automountServiceAccountToken": false,
          "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
          "containers": [{"name": "loki", "image": "loki:1",
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]}}}]}}}})");
}

json& pod_spec(json& d) {
  return d["spec"]["template"]["spec"];
}
json& container0(json& d) {
  return pod_spec(d)["containers"][0];
}
json hardened_container(const std::string& name) {
  json c = hardened()["spec"]["template"]["spec"]["containers"][0];
  c["name"] = name;
  return c;
}

std::vector<loki::Finding> check(const json& obj, loki::EngineOptions opts = {}) {
  loki::Object o;
  o.json = obj;
  o.file = "t.yaml";
  o.line = 1;
  return loki::check_object(o, opts);
}

std::vector<loki::Finding> rule_findings(const json& obj, std::string_view rule, loki::EngineOptions opts = {}) {
  auto all = check(obj, opts);
  std::vector<loki::Finding> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const auto& f) { return f.rule == rule; });
  return out;
}

}  // namespace

TEST_CASE("the hardened baseline has no findings") {
  CHECK(check(hardened()).empty());
}

TEST_CASE("host-network / host-pid / host-ipc") {
  // rule: host-network positive
  // rule: host-network negative
  // rule: host-pid positive
  // rule: host-pid negative
  // rule: host-ipc positive
  // rule: host-ipc negative
  for (std::string field : {"hostNetwork", "hostPID", "hostIPC"}) {
    std::string rule = field == "hostNetwork" ? "host-network" : field == "hostPID" ? "host-pid" : "host-ipc";
    CAPTURE(rule);
    json d = hardened();
    pod_spec(d)[field] = true;
    auto f = rule_findings(d, rule);
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/template/spec/" + field);
    CHECK_FALSE(f[0].container.has_value());
    CHECK(f[0].severity == loki::Severity::error);
    pod_spec(d)[field] = false;
    CHECK(rule_findings(d, rule).empty());
  }
}

TEST_CASE("host-port: any container, init and sidecar included") {
  json d = hardened();
  json init = hardened_container("setup");
  init["ports"] = json::array({{{"containerPort", 9000}, {"hostPort", 9000}}});
  pod_spec(d)["initContainers"] = json::array({init});
  json sidecar = hardened_container("metrics");
  sidecar["ports"] = json::array({{{"containerPort", 80}}, {{"containerPort", 1080}, {"hostPort", 1080}}});
  pod_spec(d)["containers"].push_back(sidecar);
  // rule: host-port positive
  auto f = rule_findings(d, "host-port");
  REQUIRE(f.size() == 2);
  CHECK(f[0].container == "setup");
  CHECK(f[0].field == "/spec/template/spec/initContainers/0/ports/0/hostPort");
  CHECK(f[0].message.find("init container") != std::string::npos);
  CHECK(f[1].container == "metrics");
  CHECK(f[1].field == "/spec/template/spec/containers/1/ports/1/hostPort");
  CHECK(f[1].message.find("1080") != std::string::npos);

  // rule: host-port negative
  json clean = hardened();
  container0(clean)["ports"] = json::array({{{"containerPort", 8080}}});
  CHECK(rule_findings(clean, "host-port").empty());
}

TEST_CASE("privileged") {
  json d = hardened();
  container0(d)["securityContext"]["privileged"] = true;
  // rule: privileged positive
  auto f = rule_findings(d, "privileged");
  REQUIRE(f.size() == 1);
  CHECK(f[0].container == "loki");
  // rule: privileged negative
  container0(d)["securityContext"]["privileged"] = false;
  CHECK(rule_findings(d, "privileged").empty());
}

TEST_CASE("run-as-root: runAsUser/runAsNonRoot inherit from the pod") {
  // rule: run-as-root positive
  SUBCASE("pod runAsUser 0 applies to every container") {
    json d = hardened();
    pod_spec(d)["securityContext"]["runAsUser"] = 0;
    pod_spec(d)["securityContext"].erase("runAsNonRoot");
    pod_spec(d)["containers"].push_back(hardened_container("second"));
    auto f = rule_findings(d, "run-as-root");
    REQUIRE(f.size() == 2);
    CHECK(f[0].field == "/spec/template/spec/securityContext/runAsUser");
  }
  // rule: run-as-root negative
  SUBCASE("a container's runAsUser overrides the pod's 0: the container passes, the pod's value does not") {
    json d = hardened();
    pod_spec(d)["securityContext"]["runAsUser"] = 0;
    pod_spec(d)["securityContext"].erase("runAsNonRoot");
    container0(d)["securityContext"]["runAsUser"] = 1000;
    // An ephemeral debug container added later would inherit runAsUser 0
    // (tests/unit/test_pss_rules.cpp "pod-level values every container overrides").
    auto f = rule_findings(d, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK_FALSE(f[0].container);
    CHECK(f[0].field == "/spec/template/spec/securityContext/runAsUser");
  }
  SUBCASE("a container's runAsUser 0 overrides the pod's non-root user") {
    json d = hardened();
    container0(d)["securityContext"]["runAsUser"] = 0;
    auto f = rule_findings(d, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/template/spec/containers/0/securityContext/runAsUser");
  }
  SUBCASE("nothing forces a user: the image decides") {
    json d = hardened();
    pod_spec(d).erase("securityContext");
    container0(d)["securityContext"]["seccompProfile"] = {{"type", "RuntimeDefault"}};
    auto f = rule_findings(d, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("may run as root") != std::string::npos);
  }
  SUBCASE("runAsNonRoot on the pod alone is enough") {
    json d = hardened();
    pod_spec(d)["securityContext"].erase("runAsUser");
    CHECK(rule_findings(d, "run-as-root").empty());
  }
  SUBCASE("an init container running as root") {
    json d = hardened();
    json init = hardened_container("init");
    init["securityContext"]["runAsUser"] = 0;
    pod_spec(d)["initContainers"] = json::array({init});
    auto f = rule_findings(d, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].container == "init");
  }
}

TEST_CASE("writable-root-fs is container-only") {
  json d = hardened();
  container0(d)["securityContext"].erase("readOnlyRootFilesystem");
  // Not a pod-level field: setting it there changes nothing.
  pod_spec(d)["securityContext"]["readOnlyRootFilesystem"] = true;
  // rule: writable-root-fs positive
  auto f = rule_findings(d, "writable-root-fs");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/template/spec/containers/0");
  container0(d)["securityContext"]["readOnlyRootFilesystem"] = false;
  f = rule_findings(d, "writable-root-fs");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem");
  // rule: writable-root-fs negative
  container0(d)["securityContext"]["readOnlyRootFilesystem"] = true;
  CHECK(rule_findings(d, "writable-root-fs").empty());
}

TEST_CASE("missing-seccomp: container profile wins over the pod's") {
  // rule: missing-seccomp positive
  SUBCASE("none anywhere") {
    json d = hardened();
    pod_spec(d)["securityContext"].erase("seccompProfile");
    CHECK(rule_findings(d, "missing-seccomp").size() == 1);
  }
  SUBCASE("container Unconfined overrides pod RuntimeDefault") {
    json d = hardened();
    container0(d)["securityContext"]["seccompProfile"] = {{"type", "Unconfined"}};
    auto f = rule_findings(d, "missing-seccomp");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/template/spec/containers/0/securityContext/seccompProfile/type");
    CHECK(f[0].message.find("Unconfined") != std::string::npos);
  }
  // rule: missing-seccomp negative
  SUBCASE("container Localhost without a pod profile passes") {
    json d = hardened();
    pod_spec(d)["securityContext"].erase("seccompProfile");
    container0(d)["securityContext"]["seccompProfile"] = {{"type", "Localhost"}, {"localhostProfile", "agent.json"}};
    CHECK(rule_findings(d, "missing-seccomp").empty());
  }
  SUBCASE("pod Unconfined") {
    json d = hardened();
    pod_spec(d)["securityContext"]["seccompProfile"]["type"] = "Unconfined";
    CHECK(rule_findings(d, "missing-seccomp").size() == 1);
  }
}

TEST_CASE("privilege-escalation") {
  json d = hardened();
  container0(d)["securityContext"].erase("allowPrivilegeEscalation");
  // rule: privilege-escalation positive
  CHECK(rule_findings(d, "privilege-escalation").size() == 1);
  container0(d)["securityContext"]["allowPrivilegeEscalation"] = true;
  CHECK(rule_findings(d, "privilege-escalation").size() == 1);
  // rule: privilege-escalation negative
  container0(d)["securityContext"]["allowPrivilegeEscalation"] = false;
  CHECK(rule_findings(d, "privilege-escalation").empty());
}

TEST_CASE("capabilities-not-dropped") {
  json d = hardened();
  container0(d)["securityContext"]["capabilities"]["drop"] = json::array({"NET_RAW"});
  // rule: capabilities-not-dropped positive
  auto f = rule_findings(d, "capabilities-not-dropped");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/template/spec/containers/0/securityContext/capabilities/drop");
  json add = hardened();
  container0(add)["securityContext"]["capabilities"]["add"] = json::array({"NET_ADMIN"});
  f = rule_findings(add, "capabilities-not-dropped");
  REQUIRE(f.size() == 1);
  CHECK(f[0].message.find("NET_ADMIN") != std::string::npos);
  // rule: capabilities-not-dropped negative
  CHECK(rule_findings(hardened(), "capabilities-not-dropped").empty());
}

TEST_CASE("service-account-token is a warning") {
  json d = hardened();
  pod_spec(d).erase("automountServiceAccountToken");
  // rule: service-account-token positive
  auto f = rule_findings(d, "service-account-token");
  REQUIRE(f.size() == 1);
  CHECK(f[0].severity == loki::Severity::warning);
  pod_spec(d)["automountServiceAccountToken"] = true;
  CHECK(rule_findings(d, "service-account-token").size() == 1);
  // rule: service-account-token negative
  CHECK(rule_findings(hardened(), "service-account-token").empty());
}

TEST_CASE("ephemeral containers are checked (Pod)") {
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}, {"labels", {{"app", "loki-mode"}}}}}};
  pod["spec"] = hardened()["spec"]["template"]["spec"];
  json debug = {{"name", "debugger"}, {"image", "busybox"}};
  pod["spec"]["ephemeralContainers"] = json::array({debug});
  auto f = check(pod);
  auto rules_for_debug = std::count_if(f.begin(), f.end(), [](const auto& x) { return x.container == "debugger"; });
  CHECK(rules_for_debug == 3);  // writable-root-fs, privilege-escalation, capabilities-not-dropped
  CHECK(
      std::all_of(f.begin(), f.end(), [](const auto& x) { return x.field.find("/spec/ephemeralContainers/0") == 0; }));
}

TEST_CASE("every workload kind's pod template is found") {
  json spec = hardened()["spec"]["template"]["spec"];
  spec["hostNetwork"] = true;
  json labels = {{"labels", {{"app", "loki-mode"}}}};
  json tmpl = {{"metadata", labels}, {"spec", spec}};
  std::vector<std::pair<json, std::string>> cases = {
      {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"spec", {{"template", tmpl}}}}, "/spec/template/spec"},
      {{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"spec", {{"template", tmpl}}}}, "/spec/template/spec"},
      {{{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"spec", {{"template", tmpl}}}}, "/spec/template/spec"},
      {{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"spec", {{"template", tmpl}}}}, "/spec/template/spec"},
      {{{"apiVersion", "v1"}, {"kind", "ReplicationController"}, {"spec", {{"template", tmpl}}}},
       "/spec/template/spec"},
      {{{"apiVersion", "batch/v1"}, {"kind", "CronJob"}, {"spec", {{"jobTemplate", {{"spec", {{"template", tmpl}}}}}}}},
       "/spec/jobTemplate/spec/template/spec"},
      {{{"apiVersion", "v1"}, {"kind", "PodTemplate"}, {"template", tmpl}}, "/template/spec"},
  };
  for (auto& c : cases) {  // not a structured binding: CAPTURE's lambda (clang < 16)
    auto& obj = c.first;
    const auto& path = c.second;
    obj["metadata"] = {{"name", "w"}};
    CAPTURE(obj["kind"]);
    auto f = rule_findings(obj, "host-network");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == path + "/hostNetwork");
    CHECK(f[0].object.kind == obj["kind"]);
    CHECK(f[0].object.name == "w");
    CHECK(f[0].object.ns == "default");
  }
}

TEST_CASE("only loki-mode pods are checked, unless --all-pods") {
  json d = hardened();
  pod_spec(d)["hostNetwork"] = true;
  d["spec"]["template"]["metadata"]["labels"] = {{"app", "web"}};
  CHECK(rule_findings(d, "host-network").empty());
  loki::EngineOptions all;
  all.config.all_pods = true;
  CHECK(rule_findings(d, "host-network", all).size() == 1);
  loki::EngineOptions sel;
  sel.config.selector = loki::LabelSelector::parse("app in (web, api)");
  CHECK(rule_findings(d, "host-network", sel).size() == 1);
}

TEST_CASE("ignore annotations need a reason and a real rule") {
  json d = hardened();
  pod_spec(d)["hostNetwork"] = true;
  SUBCASE("with a reason: suppressed, still reported") {
    d["metadata"]["annotations"] = {{"ignore.loki-guard.io/host-network", "CNI benchmark node, no agent code"}};
    auto f = rule_findings(d, "host-network");
    REQUIRE(f.size() == 1);
    CHECK(f[0].suppressed);
    CHECK(f[0].suppression_reason == "CNI benchmark node, no agent code");
    // rule: invalid-ignore negative
    CHECK(rule_findings(d, "invalid-ignore").empty());
  }
  SUBCASE("on the pod template too") {
    d["spec"]["template"]["metadata"]["annotations"] = {{"ignore.loki-guard.io/host-network", "reason"}};
    CHECK(rule_findings(d, "host-network")[0].suppressed);
  }
  // rule: invalid-ignore positive
  SUBCASE("an empty reason is not honoured and is itself a finding") {
    d["metadata"]["annotations"] = {{"ignore.loki-guard.io/host-network", " "}};
    auto f = rule_findings(d, "host-network");
    REQUIRE(f.size() == 1);
    CHECK_FALSE(f[0].suppressed);
    auto inv = rule_findings(d, "invalid-ignore");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].field == "/metadata/annotations/ignore.loki-guard.io~1host-network");
  }
  SUBCASE("an unknown rule id is a finding") {
    d["metadata"]["annotations"] = {{"ignore.loki-guard.io/host-netwrok", "typo"}};
    CHECK(rule_findings(d, "invalid-ignore").size() == 1);
    CHECK_FALSE(rule_findings(d, "host-network")[0].suppressed);
  }
}

TEST_CASE("config: disable a rule, change a severity") {
  json d = hardened();
  pod_spec(d)["hostNetwork"] = true;
  pod_spec(d).erase("automountServiceAccountToken");
  loki::EngineOptions opts;
  opts.config = loki::Config::parse(
      "rules:\n  host-network:\n    enabled: false\n  service-account-token:\n"
      "    severity: error\n",
      "cfg.yaml");
  CHECK(rule_findings(d, "host-network", opts).empty());
  auto f = rule_findings(d, "service-account-token", opts);
  REQUIRE(f.size() == 1);
  CHECK(f[0].severity == loki::Severity::error);
}

TEST_CASE("config errors name the file and line") {
  CHECK_THROWS_WITH_AS(loki::Config::parse("rules:\n  host-netwrok: {enabled: false}\n", "c.yaml"),
                       doctest::Contains("c.yaml:2: rules: unknown rule \"host-netwrok\""), loki::ConfigError);
  CHECK_THROWS_WITH_AS(loki::Config::parse("selector: 'app in ('\n", "c.yaml"), doctest::Contains("c.yaml:1"),
                       loki::ConfigError);
  CHECK_THROWS_WITH_AS(loki::Config::parse("rules:\n  host-network:\n    severity: fatal\n", "c.yaml"),
                       doctest::Contains("c.yaml:3"), loki::ConfigError);
  CHECK_THROWS_WITH_AS(loki::Config::parse("colour: red\n", "c.yaml"), doctest::Contains("unknown setting"),
                       loki::ConfigError);
  CHECK_THROWS_AS(loki::Config::parse("rules: [\n", "c.yaml"), loki::ConfigError);
}

TEST_CASE("every rule has an id, a description, a remediation and a summary") {
  std::set<std::string_view> ids;
  for (const auto& r : loki::all_rules()) {
    CHECK_FALSE(r.id.empty());
    CHECK_FALSE(r.description.empty());
    CHECK_FALSE(r.remediation.empty());
    // The summary is one cell of the README's markdown table.
    CHECK_FALSE(r.summary.empty());
    CHECK(r.summary.find_first_of("|\n") == std::string_view::npos);
    CHECK(ids.insert(r.id).second);
  }
}

TEST_CASE("each container's effective securityContext is its own, in a pod of many containers") {
  // The six rules that read it share one per container, found by the
  // container's address (a search per call was quadratic in the containers).
  json d = hardened();
  for (int i = 1; i < 300; ++i) {
    json c = hardened_container("c" + std::to_string(i));
    if (i % 7 == 0) c["securityContext"]["runAsUser"] = 0;
    if (i % 11 == 0) c["securityContext"]["allowPrivilegeEscalation"] = true;
    (i % 5 == 0 ? pod_spec(d)["initContainers"] : pod_spec(d)["containers"]).push_back(c);
  }
  std::vector<std::string> root, escalation;
  for (const auto& f : rule_findings(d, "run-as-root")) root.push_back(f.container.value_or(""));
  for (const auto& f : rule_findings(d, "privilege-escalation")) escalation.push_back(f.container.value_or(""));
  std::sort(root.begin(), root.end());
  std::sort(escalation.begin(), escalation.end());
  std::vector<std::string> want_root, want_escalation;
  for (int i = 1; i < 300; ++i) {
    if (i % 7 == 0) want_root.push_back("c" + std::to_string(i));
    if (i % 11 == 0) want_escalation.push_back("c" + std::to_string(i));
  }
  std::sort(want_root.begin(), want_root.end());
  std::sort(want_escalation.begin(), want_escalation.end());
  CHECK(root == want_root);
  CHECK(escalation == want_escalation);
}
