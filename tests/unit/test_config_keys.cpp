// The config file's settings come from one table (config_keys()): the parser
// dispatches on it, and these tests fail when the README, the chart's
// values.schema.json or its configmap template drift from it.
#include <doctest/doctest.h>
#include <loki/config.hpp>

#include "source_dir.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

using nlohmann::json;

namespace {

std::string slurp(const char* rel) {
  std::ifstream in(loki_test::source_path(rel));
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The README's "### Config" section, up to the next heading.
std::string readme_config_section() {
  std::string readme = slurp("README.md");
  auto begin = readme.find("### Config (`--config`)");
  REQUIRE(begin != std::string::npos);
  auto end = readme.find("\n#", begin + 1);
  return readme.substr(begin, end - begin);
}

// values.schema.json node of a dotted chart value ("policy.mode"), or null.
const json* schema_of(const json& schema, const std::string& dotted) {
  const json* cur = &schema;
  std::stringstream ss(dotted);
  for (std::string part; std::getline(ss, part, '.');) {
    auto props = cur->find("properties");
    if (props == cur->end() || !props->contains(part)) return nullptr;
    cur = &(*props)[part];
  }
  return cur;
}

// The settings the configmap template writes into policy.yaml.
std::set<std::string> rendered_keys() {
  std::string tmpl = slurp("charts/loki-guard/templates/configmap.yaml");
  std::set<std::string> out;
  static const std::regex key(R"(^    ([A-Za-z]+): )");
  std::stringstream ss(tmpl.substr(tmpl.find("policy.yaml: |")));
  for (std::string line; std::getline(ss, line);)
    if (std::smatch m; std::regex_search(line, m, key)) out.insert(m[1]);
  return out;
}

}  // namespace

TEST_CASE("config keys: every setting is documented in the README's Config section") {
  const std::string section = readme_config_section();
  for (const loki::ConfigKey& k : loki::config_keys()) {
    CAPTURE(k.name);
    CHECK(section.find("\n" + std::string(k.name) + ":") != std::string::npos);
    for (auto s : k.settings) {
      CAPTURE(s);
      CHECK(section.find(std::string(s) + ": ") != std::string::npos);
    }
  }
}

TEST_CASE("config keys: what the chart renders is in values.schema.json and the configmap template") {
  const json schema = json::parse(slurp("charts/loki-guard/values.schema.json"));
  const std::string tmpl = slurp("charts/loki-guard/templates/configmap.yaml");
  const std::set<std::string> rendered = rendered_keys();
  std::set<std::string> passed;
  for (const loki::ConfigKey& k : loki::config_keys()) {
    CAPTURE(k.name);
    if (k.chart_value.empty()) {
      CHECK_FALSE(rendered.count(std::string(k.name)));  // the table says the chart omits it
      continue;
    }
    passed.insert(std::string(k.name));
    CHECK(rendered.count(std::string(k.name)));
    const json* node = schema_of(schema, std::string(k.chart_value));
    REQUIRE_MESSAGE(node, "values.schema.json has no " << k.chart_value);
    const std::string value(k.chart_value);
    if (value.starts_with("policy.")) CHECK(tmpl.find("$p." + value.substr(7)) != std::string::npos);
    for (auto s : k.settings) {
      CAPTURE(s);
      // Nested settings: an object's properties, or a map's value properties (rules.<id>).
      const json& holder = node->contains("additionalProperties") && (*node)["additionalProperties"].is_object()
                               ? (*node)["additionalProperties"]
                               : *node;
      CHECK(holder.contains("properties"));
      CHECK(holder.value("properties", json::object()).contains(std::string(s)));
    }
  }
  CHECK(rendered == passed);  // nothing rendered that the parser does not know
}

TEST_CASE("config keys: the parser accepts every listed setting and names the known ones") {
  for (const loki::ConfigKey& k : loki::config_keys()) {
    CAPTURE(k.name);
    // A wrong value is an error about the value, never "unknown setting".
    try {
      loki::Config::parse(std::string(k.name) + ": [[1]]\n", "c.yaml");
    } catch (const loki::ConfigError& e) {
      CHECK(std::string(e.what()).find("unknown setting") == std::string::npos);
    }
    for (auto s : k.settings) {
      CAPTURE(s);
      std::string text = k.name == "rules" ? "rules:\n  host-ipc:\n    " + std::string(s) + ": [1]\n"
                                           : std::string(k.name) + ":\n  " + std::string(s) + ": [1]\n";
      CHECK_THROWS_AS(loki::Config::parse(text, "c.yaml"), loki::ConfigError);
      try {
        loki::Config::parse(text, "c.yaml");
      } catch (const loki::ConfigError& e) {
        CHECK(std::string(e.what()).find("unknown setting") == std::string::npos);
      }
    }
  }
  CHECK_THROWS_WITH_AS(
      loki::Config::parse("\nselectr: x\n", "c.yaml"),
      "c.yaml:2: unknown setting \"selectr\" (known: selector, allPods, aiHosts, rules, sandboxRuntimeClasses, mode, "
      "exemptNamespaces, requireEgressIsolation, cacheUnavailable, networkPolicyChanges, mutation, "
      "repairLabels)",
      loki::ConfigError);
  CHECK_THROWS_WITH_AS(loki::Config::parse("mutation: {uid: 1}\n", "c.yaml"),
                       doctest::Contains("mutation: unknown setting \"uid\""), loki::ConfigError);
  auto cfg = loki::Config::parse(
      "aiHosts: [a.example]\nexemptNamespaces: []\nmutation: {runAsUser: 7, workloads: true}\n"
      "rules: {host-ipc: {enabled: false, severity: info, action: warn}}\nrepairLabels: {role: agent}\n",
      "c.yaml");
  CHECK(cfg.ai_hosts == std::vector<std::string>{"a.example"});
  CHECK(cfg.exempt_namespaces.empty());
  CHECK(cfg.mutation.run_as_user == 7);
  CHECK(cfg.mutation.run_as_group == 1000);
  CHECK(cfg.mutation.workloads);
  CHECK_FALSE(cfg.rule_enabled("host-ipc"));
  CHECK(cfg.repair_labels.at("role") == "agent");
}
