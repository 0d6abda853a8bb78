#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/policy_report.hpp>
#include <loki/rule.hpp>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

using loki::Finding;
using loki::ObjectRef;
using loki::ReportSubject;
using nlohmann::json;

namespace {

Finding finding(std::string rule, ObjectRef obj, loki::Severity sev = loki::Severity::error) {
  Finding f;
  f.rule = std::move(rule);
  f.severity = sev;
  f.object = std::move(obj);
  f.message = "msg " + f.rule;
  f.remediation = "fix it";
  f.field = "/spec/template/spec/hostNetwork";
  f.file = "deploy.yaml";
  f.line = 7;
  return f;
}

ObjectRef deploy(std::string ns, std::string name) {
  return ObjectRef{"apps/v1", "Deployment", std::move(ns), std::move(name)};
}

const json* result_of(const json& report, std::string_view rule, std::string_view result) {
  for (const auto& r : report["results"])
    if (r["policy"] == rule && r["result"] == result) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("policy reports: one per namespace, fail per finding, pass per rule for the rest") {
  std::vector<Finding> findings = {finding("host-network", deploy("team-a", "agent")),
                                   finding("privileged", deploy("team-b", "other"))};
  std::vector<ReportSubject> checked = {
      {deploy("team-a", "agent")}, {deploy("team-a", "clean")}, {deploy("team-b", "other")}};
  loki::PolicyReportOptions opts;
  opts.timestamp = 1700000000;
  auto reports = loki::build_policy_reports(findings, checked, {"host-network", "privileged"}, opts);
  REQUIRE(reports.size() == 2);
  const json& a = reports[0];
  CHECK(a["apiVersion"] == "openreports.io/v1alpha1");
  CHECK(a["kind"] == "Report");
  CHECK(a["metadata"]["name"] == "loki-guard");
  CHECK(a["metadata"]["namespace"] == "team-a");
  CHECK(a["source"] == "loki-guard");
  const json* fail = result_of(a, "host-network", "fail");
  REQUIRE(fail);
  CHECK((*fail)["severity"] == "high");
  CHECK((*fail)["scored"] == true);
  CHECK((*fail)["resources"] ==
        json::array({{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"namespace", "team-a"}, {"name", "agent"}}}));
  CHECK((*fail)["properties"]["line"] == "7");
  CHECK((*fail)["timestamp"]["seconds"] == 1700000000);
  // The failing workload is not among host-network's passes; the clean one is.
  const json* pass = result_of(a, "host-network", "pass");
  REQUIRE(pass);
  REQUIRE((*pass)["resources"].size() == 1);
  CHECK((*pass)["resources"][0]["name"] == "clean");
  const json* pass_priv = result_of(a, "privileged", "pass");
  REQUIRE(pass_priv);
  CHECK((*pass_priv)["resources"].size() == 2);
  CHECK(a["summary"] == json{{"pass", 2}, {"fail", 1}, {"warn", 0}, {"error", 0}, {"skip", 0}});
  CHECK(reports[1]["metadata"]["namespace"] == "team-b");
  CHECK(reports[1]["summary"]["fail"] == 1);
  CHECK(reports[1]["summary"]["pass"] == 1);  // host-network passed for team-b/other
}

TEST_CASE("policy reports: suppressed findings skip, info severity warns, cluster-scoped objects") {
  Finding waived = finding("host-network", deploy("ns", "agent"));
  waived.suppressed = true;
  waived.suppression_reason = "CNI needs it";
  Finding info = finding("runtime-class-not-sandboxed", deploy("ns", "agent"), loki::Severity::info);
  Finding cluster = finding("invalid-manifest", ObjectRef{"v1", "Namespace", "", "ns"});
  loki::PolicyReportOptions opts;
  opts.api = loki::ReportApi::wgpolicy;
  auto reports = loki::build_policy_reports({waived, info, cluster}, {{deploy("ns", "agent")}}, {"host-network"}, opts);
  REQUIRE(reports.size() == 2);
  CHECK(reports[0]["apiVersion"] == "wgpolicyk8s.io/v1alpha2");
  CHECK(reports[0]["kind"] == "PolicyReport");
  CHECK_FALSE(reports[0].contains("source"));  // PolicyReport has no report-level source
  const json* skip = result_of(reports[0], "host-network", "skip");
  REQUIRE(skip);
  CHECK((*skip)["properties"]["reason"] == "CNI needs it");
  CHECK((*skip)["scored"] == false);
  // A waived finding is not a failure: the workload passes the rule as well as being skipped.
  CHECK(result_of(reports[0], "host-network", "pass"));
  const json* warn = result_of(reports[0], "runtime-class-not-sandboxed", "warn");
  REQUIRE(warn);
  CHECK((*warn)["severity"] == "info");
  CHECK(reports[1]["kind"] == "ClusterPolicyReport");
  CHECK_FALSE(reports[1]["metadata"].contains("namespace"));
}

TEST_CASE("policy reports: a namespace with nothing checked and no findings gets no report") {
  CHECK(loki::build_policy_reports({}, {}, {"host-network"}, {}).empty());
}

TEST_CASE("policy reports: pass rules are the enabled pod-template rules") {
  loki::Config config;
  auto rules = loki::report_rules(config);
  CHECK(std::find(rules.begin(), rules.end(), "privileged") != rules.end());
  CHECK(std::find(rules.begin(), rules.end(), "egress-unrestricted") != rules.end());
  // Off by default, so not reported as passed.
  CHECK(std::find(rules.begin(), rules.end(), "runtime-class-not-sandboxed") == rules.end());
  // Manifest and policy rules judge no workload.
  CHECK(std::find(rules.begin(), rules.end(), "invalid-manifest") == rules.end());
  CHECK(std::find(rules.begin(), rules.end(), "policy-selects-nothing") == rules.end());
}

TEST_CASE("policy reports: YAML round-trips, apiVersion/kind/metadata first") {
  Finding f = finding("host-network", deploy("ns", "agent"));
  f.message = "line one\nline two: yes";
  f.remediation = "no";  // a YAML 1.1 boolean word: must stay a string
  auto reports = loki::build_policy_reports({f}, {}, {}, {});
  std::string text = loki::reports_to_yaml(reports);
  CHECK(text.rfind("---\napiVersion: openreports.io/v1alpha1\nkind: Report\nmetadata:", 0) == 0);
  YAML::Node n = YAML::Load(text);
  CHECK(n["results"][0]["message"].as<std::string>() == "line one\nline two: yes");
  CHECK(n["results"][0]["properties"]["remediation"].Tag() != "?");  // quoted, not plain
  CHECK(n["results"][0]["properties"]["remediation"].as<std::string>() == "no");
  CHECK(n["summary"]["fail"].as<int>() == 1);
}
