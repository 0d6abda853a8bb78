// Reporters: the JSON fields are an interface; SARIF must be what GitHub code
// scanning accepts; JUnit test cases must be unique.
#include <doctest/doctest.h>
#include <loki/report.hpp>
#include <loki/rules.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

using nlohmann::json;

namespace {
std::vector<loki::Finding> sample() {
  loki::Finding a;
  a.rule = "host-port";
  a.severity = loki::Severity::error;
  a.object = {"apps/v1", "Deployment", "loki", "agent"};
  a.container = "metrics";
  a.file = "dir/agent <1>.yaml";
  a.line = 12;
  a.message = "container \"metrics\" declares hostPort 1080";
  a.remediation = "remove `hostPort: 1080`";
  a.field = "/spec/template/spec/containers/1/ports/0/hostPort";
  loki::Finding b = a;
  b.rule = "service-account-token";
  b.severity = loki::Severity::warning;
  b.container.reset();
  b.line = 0;
  b.suppressed = true;
  b.suppression_reason = "needs the API";
  loki::Finding c = a;  // same rule, container and line: JUnit names must still differ
  return {a, b, c};
}
std::string render(loki::Format f, const std::vector<loki::Finding>& findings) {
  std::ostringstream out;
  loki::write_report(out, f, findings, {1, 2, 1});
  return out.str();
}
}  // namespace

TEST_CASE("JSON output has exactly the documented fields") {
  json doc = json::parse(render(loki::Format::json, sample()));
  REQUIRE(doc["findings"].size() == 3);
  const json& f = doc["findings"][0];
  std::set<std::string> keys;
  for (auto it = f.begin(); it != f.end(); ++it) keys.insert(it.key());
  // `references` is new (issue 22); the older fields are all still there.
  CHECK(keys == std::set<std::string>{"rule", "severity", "object", "container", "field", "file", "line", "message",
                                      "references", "remediation", "suppressed"});
  CHECK(f["object"] ==
        json({{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"namespace", "loki"}, {"name", "agent"}}));
  CHECK(f["container"] == "metrics");
  CHECK(doc["findings"][1]["container"].is_null());
  CHECK(doc["findings"][1]["suppressed"] == true);
  CHECK(doc["summary"]["errors"] == 2);
  CHECK(doc["summary"]["warnings"] == 0);
  CHECK(doc["summary"]["suppressed"] == 1);
  CHECK(doc["summary"]["objects"] == 2);
}

TEST_CASE("SARIF 2.1.0 for code scanning") {
  json doc = json::parse(render(loki::Format::sarif, sample()));
  CHECK(doc["version"] == "2.1.0");
  const json& run = doc["runs"][0];
  CHECK(run["tool"]["driver"]["name"] == "loki-audit");
  CHECK(run["tool"]["driver"]["rules"].size() >= 11);
  REQUIRE(run["results"].size() == 3);
  const json& r = run["results"][0];
  CHECK(r["ruleId"] == "host-port");
  CHECK(run["tool"]["driver"]["rules"][r["ruleIndex"].get<int>()]["id"] == "host-port");
  CHECK(r["level"] == "error");
  const json& loc = r["locations"][0]["physicalLocation"];
  CHECK(loc["artifactLocation"]["uri"] == "dir/agent%20%3C1%3E.yaml");
  CHECK(loc["region"]["startLine"] == 12);
  // line 0 (unknown) must still be a valid startLine
  CHECK(run["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1);
  CHECK(run["results"][1]["level"] == "warning");
  CHECK(run["results"][1]["suppressions"][0]["kind"] == "inSource");
  CHECK(render(loki::Format::sarif, {}).find("\"results\": []") != std::string::npos);
}

TEST_CASE("JUnit: one unique test case per finding, XML escaped") {
  std::string xml = render(loki::Format::junit, sample());
  CHECK(xml.find("<testsuites") != std::string::npos);
  CHECK(xml.find("tests=\"3\" failures=\"2\"") != std::string::npos);
  CHECK(xml.find("host-port [metrics] dir/agent &lt;1&gt;.yaml:12\"") != std::string::npos);
  CHECK(xml.find("host-port [metrics] dir/agent &lt;1&gt;.yaml:12 #2\"") != std::string::npos);
  CHECK(xml.find("<skipped message=\"suppressed: needs the API\"/>") != std::string::npos);
  CHECK(xml.find("&quot;metrics&quot;") != std::string::npos);
  std::string empty = render(loki::Format::junit, {});
  CHECK(empty.find("no findings") != std::string::npos);
}

TEST_CASE("JUnit: a failure's body ends with the rule's documentation, as the text report's docs line") {
  const loki::Rule* rule = loki::find_rule("host-port");
  REQUIRE(rule);
  REQUIRE_FALSE(rule->references.empty());
  std::string xml = render(loki::Format::junit, sample());
  std::string docs = "\ndocs: " + std::string(rule->references.front().url);
  CHECK(xml.find("fix: remove `hostPort: 1080`" + docs) != std::string::npos);
  // A rule the registry does not know gets no docs line.
  auto unknown = sample();
  unknown.resize(1);
  unknown[0].rule = "no-such-rule";
  CHECK(render(loki::Format::junit, unknown).find("docs: ") == std::string::npos);
}

TEST_CASE("text output: grouped by object, file:line, remediation, no colour unless asked") {
  std::string text = render(loki::Format::text, sample());
  CHECK(text.find("Deployment loki/agent (apps/v1)") != std::string::npos);
  CHECK(text.find("dir/agent <1>.yaml:12: error [host-port]") != std::string::npos);
  CHECK(text.find("fix: remove `hostPort: 1080`") != std::string::npos);
  CHECK(text.find("\x1b[") == std::string::npos);
  CHECK(text.find("service-account-token") == std::string::npos);  // suppressed: not shown
  CHECK(text.find("2 errors, 0 warnings (1 suppressed") != std::string::npos);
}

TEST_CASE("summary counts the documents skipped as not Kubernetes objects") {
  loki::ReportSummary s{3, 2, 1, 2};
  std::ostringstream text, js;
  loki::write_report(text, loki::Format::text, std::vector<loki::Finding>{}, s);
  CHECK(text.str() ==
        "3 files, 2 objects (2 documents skipped: not Kubernetes API objects), 1 loki-mode pod template checked: "
        "0 errors, 0 warnings\n");
  loki::write_report(js, loki::Format::json, std::vector<loki::Finding>{}, s);
  CHECK(json::parse(js.str())["summary"]["skippedDocuments"] == 2);
  // None skipped: the text summary does not mention it, the JSON field is 0.
  std::ostringstream plain, js0;
  loki::write_report(plain, loki::Format::text, std::vector<loki::Finding>{}, {1, 1, 0});
  CHECK(plain.str() == "1 file, 1 object, 0 loki-mode pod templates checked: 0 errors, 0 warnings\n");
  loki::write_report(js0, loki::Format::json, std::vector<loki::Finding>{}, {1, 1, 0});
  CHECK(json::parse(js0.str())["summary"]["skippedDocuments"] == 0);
}

TEST_CASE("JSON report: each finding is written exactly as nlohmann's dump(2) writes it") {
  std::vector<loki::Finding> fs(3);
  fs[0].rule = "host-network";
  fs[0].object = {"apps/v1", "Deployment", "ns", "agent"};
  fs[0].file = "dir/a \"quoted\".yaml";
  fs[0].line = 7;
  fs[0].message = std::string("tab\there, newline\nthere, back\\slash, bell\x07, del\x7f, control\x1f end");
  fs[0].remediation = "r\r\b\f";
  fs[1].rule = "run-as-root";
  fs[1].container = "sidecar";
  fs[1].message = "UTF-8: caf\xc3\xa9 \xe2\x9c\x93";
  fs[1].suppressed = true;
  fs[2].severity = loki::Severity::warning;
  std::ostringstream out;
  loki::write_report(out, loki::Format::json, fs, loki::ReportSummary{});
  std::string expected = "{\n  \"findings\": [\n";
  for (std::size_t i = 0; i < fs.size(); ++i) {
    std::string one = loki::to_json(fs[i]).dump(2), indented;
    for (char c : one) {
      indented += c;
      if (c == '\n') indented += "    ";
    }
    expected += "    " + indented + (i + 1 < fs.size() ? ",\n" : "\n");
  }
  expected += "  ]";
  CHECK(out.str().substr(0, expected.size()) == expected);
}

TEST_CASE("every rule carries https documentation references; JSON and SARIF expose them") {
  for (const auto& r : loki::all_rules()) {
    CAPTURE(r.id);
    REQUIRE(!r.references.empty());
    for (const auto& ref : r.references) {
      CHECK(!ref.title.empty());
      CHECK(ref.url.starts_with("https://"));
    }
  }
  // The CVE of a gitRepo volume (https://nvd.nist.gov/vuln/detail/CVE-2024-10220) is the rule's tag in SARIF.
  const loki::Rule* git = loki::find_rule("git-repo-volume");
  REQUIRE(git);
  bool cve = false;
  for (const auto& ref : git->references) cve = cve || ref.title == "CVE-2024-10220";
  CHECK(cve);

  json doc = json::parse(render(loki::Format::json, sample()));
  const json& refs = doc["findings"][0]["references"];  // host-port
  REQUIRE(refs.is_array());
  REQUIRE(!refs.empty());
  CHECK(refs[0]["url"] == "https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline");

  json sarif = json::parse(render(loki::Format::sarif, sample()));
  bool saw_git = false;
  for (const auto& rule : sarif["runs"][0]["tool"]["driver"]["rules"]) {
    const std::string id = rule["id"].get<std::string>();  // CAPTURE holds a reference: no temporary
    CAPTURE(id);
    CHECK(rule["helpUri"].get<std::string>().starts_with("https://"));
    const json& props = rule["properties"];
    // GitHub reads security-severity only on rules tagged "security"; it is a
    // string score: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 3.9 or less low.
    CHECK(std::find(props["tags"].begin(), props["tags"].end(), "security") != props["tags"].end());
    const std::string level = rule["defaultConfiguration"]["level"];
    const double score = std::stod(props["security-severity"].get<std::string>());
    if (level == "error") CHECK((score >= 7.0 && score < 9.0));
    if (level == "warning") CHECK((score >= 4.0 && score < 7.0));
    if (level == "note") CHECK((score > 0.0 && score < 4.0));
    if (id == "git-repo-volume") {
      saw_git = true;
      CHECK(std::find(props["tags"].begin(), props["tags"].end(), "CVE-2024-10220") != props["tags"].end());
    }
  }
  CHECK(saw_git);
}

namespace {
loki::Finding egress(const std::string& ns, const std::string& name, int line) {
  loki::Finding f;
  f.rule = "egress-unrestricted";
  f.object = {"apps/v1", "Deployment", ns, name};
  f.file = "a.yaml";
  f.line = line;
  f.message = "no NetworkPolicy with Egress selects this pod";
  f.remediation =
      "deny egress by default in namespace " + ns + ":\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy";
  return f;
}
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("text output: a multi-line fix once per namespace, later findings refer back to it") {
  std::vector<loki::Finding> fs = {egress("a", "one", 1), egress("a", "two", 10), egress("a", "three", 20),
                                   egress("b", "four", 30)};
  std::string text = render(loki::Format::text, fs);
  CHECK(occurrences(text, "kind: NetworkPolicy") == 2);  // namespaces a and b
  CHECK(occurrences(text, "fix [1]: deny egress by default in namespace a") == 1);
  CHECK(occurrences(text, "fix: see [1] above") == 2);
  // Given once only: no label to refer back to.
  CHECK(occurrences(text, "      fix: deny egress by default in namespace b") == 1);
  CHECK(occurrences(text, "[2]") == 0);
  // The docs line follows the first fix of the rule in each namespace.
  CHECK(occurrences(text, "docs: https://kubernetes.io/docs/concepts/services-networking/network-policies/") == 2);
  // JSON keeps the full remediation on every finding.
  json doc = json::parse(render(loki::Format::json, fs));
  for (const auto& f : doc["findings"])
    CHECK(f["remediation"].get<std::string>().find("kind: NetworkPolicy") != std::string::npos);
}

TEST_CASE("text output: live objects named as kubectl does, located 'live'") {
  loki::Finding f = egress("models", "llm-api", 0);
  f.file = "/apis/apps/v1/namespaces/models/deployments/llm-api";
  std::string text = render(loki::Format::text, {f});
  CHECK(text.find("deployment/llm-api -n models (apps/v1, live)") != std::string::npos);
  CHECK(text.find("  live: error [egress-unrestricted]") != std::string::npos);
  CHECK(text.find("/apis/apps/v1/namespaces/models/deployments/llm-api:0") == std::string::npos);
  // JSON keeps the API path (backward compatible).
  CHECK(json::parse(render(loki::Format::json, {f}))["findings"][0]["file"] == f.file);
}

TEST_CASE("--show-passed: text section and JSON `passed`, only when asked") {
  std::vector<loki::PassedChecks> passed = {{{"apps/v1", "Deployment", "loki", "agent"}, {"host-ipc", "host-pid"}}};
  loki::ReportOptions opts;
  opts.passed = &passed;
  std::ostringstream text, js;
  loki::write_report(text, loki::Format::text, sample(), {1, 2, 1}, opts);
  CHECK(text.str().find("Passed checks\n  Deployment loki/agent: host-ipc, host-pid\n") != std::string::npos);
  loki::write_report(js, loki::Format::json, sample(), {1, 2, 1}, opts);
  json doc = json::parse(js.str());
  REQUIRE(doc["passed"].size() == 1);
  CHECK(doc["passed"][0]["rules"] == json({"host-ipc", "host-pid"}));
  CHECK(doc["passed"][0]["object"]["name"] == "agent");
  CHECK(!json::parse(render(loki::Format::json, sample())).contains("passed"));
}
