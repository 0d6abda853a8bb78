// Reporters: the JSON fields are an interface; SARIF must be what GitHub code
// scanning accepts; JUnit test cases must be unique.
#include <doctest/doctest.h>
#include <loki/report.hpp>

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
  CHECK(keys == std::set<std::string>{"rule", "severity", "object", "container", "field", "file", "line", "message",
                                      "remediation", "suppressed"});
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
