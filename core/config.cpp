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
            auto a = parse_action(scalar(name, f.second, "rules." + id + ".action"));
            if (!a) fail(name, f.second, "rules." + id + ".action: must be deny, warn, patch or off");
            s.action = a;
          } else {
            fail(name, f.first, "rules." + id + ": unknown setting \"" + fk + "\"");
          }
        }
        cfg.rules[id] = s;
      }
    } else if (key == "sandboxRuntimeClasses") {
      if (!v.IsSequence()) fail(name, v, "sandboxRuntimeClasses: expected a list of RuntimeClass names");
      cfg.sandbox_runtime_classes.clear();
      for (auto n : v) cfg.sandbox_runtime_classes.push_back(scalar(name, n, "sandboxRuntimeClasses[]"));
    } else if (key == "mode") {
      auto m = parse_mode(scalar(name, v, "mode"));
      if (!m) fail(name, v, "mode: must be enforce, warn or dry-run");
      cfg.mode = *m;
    } else if (key == "exemptNamespaces") {
      if (!v.IsSequence()) fail(name, v, "exemptNamespaces: expected a list of namespace names");
      cfg.exempt_namespaces.clear();
      for (auto n : v) cfg.exempt_namespaces.push_back(scalar(name, n, "exemptNamespaces[]"));
    } else if (key == "requireEgressIsolation") {
      cfg.require_egress_isolation = boolean(name, v, "requireEgressIsolation");
    } else if (key == "cacheUnavailable") {
      cfg.cache_unavailable = scalar(name, v, "cacheUnavailable");
      if (cfg.cache_unavailable != "deny" && cfg.cache_unavailable != "allow")
        fail(name, v, "cacheUnavailable: must be deny (fail closed) or allow (fail open)");
    } else if (key == "networkPolicyChanges") {
      auto a = parse_action(scalar(name, v, "networkPolicyChanges"));
      if (!a || *a == Action::patch) fail(name, v, "networkPolicyChanges: must be deny, warn or off");
      cfg.network_policy_changes = *a;
    } else if (key == "mutation") {
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
    } else if (key == "repairLabels") {
      if (!v.IsMap()) fail(name, v, "repairLabels: expected a mapping of label key to value");
      for (auto l : v) {
        std::string k = l.first.as<std::string>(), val = scalar(name, l.second, "repairLabels." + k);
        if (auto e = validate_label_key(k); !e.empty()) fail(name, l.first, "repairLabels: " + e);
        if (auto e = validate_label_value(val); !e.empty()) fail(name, l.second, "repairLabels: " + e);
        cfg.repair_labels[k] = val;
      }
    } else {
      fail(name, kv.first,
           "unknown setting \"" + key +
               "\" (known: selector, allPods, aiHosts, rules, sandboxRuntimeClasses, mode, exemptNamespaces, "
               "requireEgressIsolation, cacheUnavailable, networkPolicyChanges, mutation, repairLabels)");
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
