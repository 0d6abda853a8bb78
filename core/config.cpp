#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/rules.hpp>

#include <yaml-cpp/yaml.h>

namespace loki {

bool Config::rule_enabled(std::string_view id) const {
  auto it = rules.find(id);
  return it == rules.end() || it->second.enabled;
}

Severity Config::severity_of(std::string_view id, Severity fallback) const {
  auto it = rules.find(id);
  return (it != rules.end() && it->second.severity) ? *it->second.severity : fallback;
}

namespace {

[[noreturn]] void fail(const std::string& name, const YAML::Node& n, const std::string& msg) {
  std::string where = name;
  if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
  throw ConfigError(where + ": " + msg);
}

std::string scalar(const std::string& name, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) fail(name, n, field + ": expected a string");
  return n.as<std::string>();
}

bool boolean(const std::string& name, const YAML::Node& n, const std::string& field) {
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) fail(name, n, field + ": expected true or false");
  return v;
}

}  // namespace

Config Config::parse(const std::string& text, const std::string& name) {
  Config cfg;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) fail(name, root, "expected a mapping of settings");
  for (auto kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "selector") {
      cfg.selector_text = scalar(name, v, "selector");
      try {
        cfg.selector = LabelSelector::parse(cfg.selector_text);
      } catch (const SelectorError& e) {
        fail(name, v, std::string("selector: ") + e.what());
      }
    } else if (key == "allPods") {
      cfg.all_pods = boolean(name, v, "allPods");
    } else if (key == "aiHosts") {
      if (!v.IsSequence()) fail(name, v, "aiHosts: expected a list of host names");
      cfg.ai_hosts.clear();
      for (auto h : v) cfg.ai_hosts.push_back(scalar(name, h, "aiHosts[]"));
    } else if (key == "rules") {
      if (!v.IsMap()) fail(name, v, "rules: expected a mapping of rule id to settings");
      for (auto r : v) {
        const std::string id = r.first.as<std::string>();
        if (!find_rule(id)) fail(name, r.first, "rules: unknown rule \"" + id + "\" (see `loki-audit rules`)");
        RuleSettings s;
        if (!r.second.IsMap()) fail(name, r.second, "rules." + id + ": expected a mapping (enabled, severity)");
        for (auto f : r.second) {
          const std::string fk = f.first.as<std::string>();
          if (fk == "enabled") {
            s.enabled = boolean(name, f.second, "rules." + id + ".enabled");
          } else if (fk == "severity") {
            auto sev = parse_severity(scalar(name, f.second, "rules." + id + ".severity"));
            if (!sev) fail(name, f.second, "rules." + id + ".severity: must be error, warning or info");
            s.severity = sev;
          } else if (fk == "action") {
            // Read by loki-webhook; validated there.
          } else {
            fail(name, f.first, "rules." + id + ": unknown setting \"" + fk + "\"");
          }
        }
        cfg.rules[id] = s;
      }
    } else {
      fail(name, kv.first, "unknown setting \"" + key + "\" (known: selector, allPods, aiHosts, rules)");
    }
  }
  return cfg;
}

Config Config::load(const std::string& path) {
  std::string text;
  try {
    text = read_input(path);
  } catch (const std::exception& e) {
    throw ConfigError(e.what());
  }
  return parse(text, path);
}

}  // namespace loki
