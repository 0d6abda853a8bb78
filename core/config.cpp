#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/rules.hpp>

#include <yaml-cpp/yaml.h>

namespace loki {

bool Config::rule_enabled(std::string_view id) const {
  auto it = rules.find(id);
  if (it != rules.end() && it->second.enabled) return *it->second.enabled;
  const Rule* r = find_rule(id);
  return !r || r->enabled_by_default;
}

bool Config::rule_enabled(const Rule& rule) const {
  if (!rules.empty()) {
    auto it = rules.find(rule.id);
    if (it != rules.end() && it->second.enabled) return *it->second.enabled;
  }
  return rule.enabled_by_default;
}

bool Config::is_sandbox_runtime_class(std::string_view name) const {
  for (std::string_view p : sandbox_runtime_classes) {
    if (!p.empty() && p.back() == '*') {
      if (name.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

Severity Config::severity_of(std::string_view id, Severity fallback) const {
  auto it = rules.find(id);
  return (it != rules.end() && it->second.severity) ? *it->second.severity : fallback;
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::deny:
      return "deny";
    case Action::warn:
      return "warn";
    case Action::patch:
      return "patch";
    case Action::off:
      return "off";
  }
  return "deny";
}
std::optional<Action> parse_action(std::string_view s) {
  if (s == "deny") return Action::deny;
  if (s == "warn") return Action::warn;
  if (s == "patch") return Action::patch;
  if (s == "off") return Action::off;
  return std::nullopt;
}
std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::enforce:
      return "enforce";
    case Mode::warn:
      return "warn";
    case Mode::dry_run:
      return "dry-run";
  }
  return "enforce";
}
std::optional<Mode> parse_mode(std::string_view s) {
  if (s == "enforce") return Mode::enforce;
  if (s == "warn") return Mode::warn;
  if (s == "dry-run") return Mode::dry_run;
  return std::nullopt;
}

Action Config::action_of(std::string_view id) const {
  auto it = rules.find(id);
  if (!rule_enabled(id)) return Action::off;
  if (it != rules.end() && it->second.action) return *it->second.action;
  // The rule's own default (patch what the mutating webhook fills in
  // safely), else by severity: errors are refused, other findings warned.
  const Rule* r = find_rule(id);
  if (!r) return Action::deny;
  if (r->action) return *r->action;
  return severity_of(id, r->severity) == Severity::error ? Action::deny : Action::warn;
}

namespace {

[[noreturn]] void fail(const std::string& name, const YAML::Node& n, const std::string& msg) {
  std::string where = name;
  if (n.IsDefined() && n.Mark().line >= 0) where.append(":").append(std::to_string(n.Mark().line + 1));
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

namespace {

void parse_selector(Config& cfg, const std::string& name, const YAML::Node& v) {
  cfg.selector_text = scalar(name, v, "selector");
  try {
    cfg.selector = LabelSelector::parse(cfg.selector_text);
  } catch (const SelectorError& e) {
    fail(name, v, std::string("selector: ") + e.what());
  }
}

std::vector<std::string> string_list(const std::string& name, const YAML::Node& v, const std::string& field,
                                     const std::string& what) {
  if (!v.IsSequence()) fail(name, v, field + ": expected a list of " + what);
  std::vector<std::string> out;
  for (auto item : v) out.push_back(scalar(name, item, field + "[]"));
  return out;
}

RuleSettings parse_rule_settings(const std::string& name, const std::string& id, const YAML::Node& v) {
  RuleSettings s;
  if (!v.IsMap()) fail(name, v, "rules." + id + ": expected a mapping (enabled, severity)");
  for (auto f : v) {
    const std::string fk = f.first.as<std::string>();
    const std::string field = "rules." + id + "." + fk;
    if (fk == "enabled") {
      s.enabled = boolean(name, f.second, field);
    } else if (fk == "severity") {
      s.severity = parse_severity(scalar(name, f.second, field));
      if (!s.severity) fail(name, f.second, field + ": must be error, warning or info");
    } else if (fk == "action") {
      s.action = parse_action(scalar(name, f.second, field));
      if (!s.action) fail(name, f.second, field + ": must be deny, warn, patch or off");
    } else {
      fail(name, f.first, "rules." + id + ": unknown setting \"" + fk + "\"");
    }
  }
  return s;
}

void parse_rules(Config& cfg, const std::string& name, const YAML::Node& v) {
  if (!v.IsMap()) fail(name, v, "rules: expected a mapping of rule id to settings");
  for (auto r : v) {
    const std::string id = r.first.as<std::string>();
    if (!find_rule(id)) fail(name, r.first, "rules: unknown rule \"" + id + "\" (see `loki-audit rules`)");
    cfg.rules[id] = parse_rule_settings(name, id, r.second);
  }
}

void parse_mutation(Config& cfg, const std::string& name, const YAML::Node& v) {
  if (!v.IsMap()) fail(name, v, "mutation: expected a mapping");
  for (auto f : v) {
    const std::string fk = f.first.as<std::string>();
    if (fk == "runAsUser" || fk == "runAsGroup") {
      long long n = 0;
      if (!f.second.IsScalar() || !YAML::convert<long long>::decode(f.second, n) || n <= 0)
        fail(name, f.second, "mutation." + fk + ": expected a positive integer");
      (fk == "runAsUser" ? cfg.mutation.run_as_user : cfg.mutation.run_as_group) = n;
    } else if (fk == "tmpSizeLimit") {
      cfg.mutation.tmp_size_limit = scalar(name, f.second, "mutation.tmpSizeLimit");
    } else if (fk == "workloads") {
      cfg.mutation.workloads = boolean(name, f.second, "mutation.workloads");
    } else {
      fail(name, f.first, "mutation: unknown setting \"" + fk + "\"");
    }
  }
}

void parse_repair_labels(Config& cfg, const std::string& name, const YAML::Node& v) {
  if (!v.IsMap()) fail(name, v, "repairLabels: expected a mapping of label key to value");
  for (auto l : v) {
    std::string k = l.first.as<std::string>(), val = scalar(name, l.second, "repairLabels." + k);
    if (auto e = validate_label_key(k); !e.empty()) fail(name, l.first, "repairLabels: " + e);
    if (auto e = validate_label_value(val); !e.empty()) fail(name, l.second, "repairLabels: " + e);
    cfg.repair_labels[k] = val;
  }
}

using Parser = void (*)(Config&, const std::string& name, const YAML::Node&);

struct Key {
  ConfigKey doc;
  Parser parse;
};

constexpr std::string_view rule_settings[] = {"enabled", "severity", "action"};
constexpr std::string_view mutation_settings[] = {"runAsUser", "runAsGroup", "tmpSizeLimit", "workloads"};

// Every setting, in the order the "unknown setting" message lists them.
const Key keys[] = {
    {{"selector", "policy.agentSelector", {}}, parse_selector},
    {{"allPods", "", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) { c.all_pods = boolean(n, v, "allPods"); }},
    {{"aiHosts", "policy.aiHosts", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       c.ai_hosts = string_list(n, v, "aiHosts", "host names");
     }},
    {{"rules", "policy.rules", rule_settings}, parse_rules},
    {{"sandboxRuntimeClasses", "policy.sandboxRuntimeClasses", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       c.sandbox_runtime_classes = string_list(n, v, "sandboxRuntimeClasses", "RuntimeClass names");
     }},
    {{"mode", "policy.mode", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       auto m = parse_mode(scalar(n, v, "mode"));
       if (!m) fail(n, v, "mode: must be enforce, warn or dry-run");
       c.mode = *m;
     }},
    // The chart renders the release namespace plus webhook.excludeNamespaces.
    {{"exemptNamespaces", "webhook.excludeNamespaces", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       c.exempt_namespaces = string_list(n, v, "exemptNamespaces", "namespace names");
     }},
    {{"requireEgressIsolation", "policy.requireEgressIsolation", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       c.require_egress_isolation = boolean(n, v, "requireEgressIsolation");
     }},
    {{"cacheUnavailable", "policy.cacheUnavailable", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       c.cache_unavailable = scalar(n, v, "cacheUnavailable");
       if (c.cache_unavailable != "deny" && c.cache_unavailable != "allow")
         fail(n, v, "cacheUnavailable: must be deny (fail closed) or allow (fail open)");
     }},
    {{"networkPolicyChanges", "policy.networkPolicyChanges", {}},
     [](Config& c, const std::string& n, const YAML::Node& v) {
       auto a = parse_action(scalar(n, v, "networkPolicyChanges"));
       if (!a || *a == Action::patch) fail(n, v, "networkPolicyChanges: must be deny, warn or off");
       c.network_policy_changes = *a;
     }},
    {{"mutation", "policy.mutation", mutation_settings}, parse_mutation},
    {{"repairLabels", "policy.repairLabels", {}}, parse_repair_labels},
};

const Key* find_key(std::string_view name) {
  for (const Key& k : keys)
    if (k.doc.name == name) return &k;
  return nullptr;
}

std::string known_keys() {
  std::string out;
  for (const Key& k : keys) out.append(out.empty() ? "" : ", ").append(k.doc.name);
  return out;
}

}  // namespace

std::vector<ConfigKey> config_keys() {
  std::vector<ConfigKey> out;
  for (const Key& k : keys) out.push_back(k.doc);
  return out;
}

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
    const Key* k = find_key(key);
    if (!k) fail(name, kv.first, "unknown setting \"" + key + "\" (known: " + known_keys() + ")");
    k->parse(cfg, name, kv.second);
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
