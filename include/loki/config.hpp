// Policy configuration shared by loki-audit and loki-webhook (--config FILE).
#pragma once

#include <loki/finding.hpp>
#include <loki/selector.hpp>

#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace loki {

struct Rule;

// What loki-webhook does about a rule's finding.
enum class Action { deny, warn, patch, off };
std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view s);

// enforce: deny as configured; warn: every deny becomes a warning; dry-run:
// everything is allowed and only logged.
enum class Mode { enforce, warn, dry_run };
std::string_view to_string(Mode m);
std::optional<Mode> parse_mode(std::string_view s);

struct RuleSettings {
  std::optional<bool> enabled;       // none: the rule's default (Rule::enabled_by_default)
  std::optional<Severity> severity;  // overrides the rule's default
  std::optional<Action> action;      // webhook; overrides the rule's default action
};

// Defaults for the mutating webhook.
struct MutationSettings {
  long long run_as_user = 1000;
  long long run_as_group = 1000;
  std::string tmp_size_limit = "256Mi";
  bool workloads = false;  // patch workload templates too (GitOps tools then see drift)
};

struct Config {
  std::string selector_text = "app=loki-mode";
  LabelSelector selector = LabelSelector::parse("app=loki-mode");
  bool all_pods = false;
  std::map<std::string, RuleSettings, std::less<>> rules;
  // AI API hosts an `ai-only` agent may reach (LOKI_ALLOWED_HOSTS extends it).
  std::vector<std::string> ai_hosts = {"api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com"};

  // ---- loki-webhook ----
  Mode mode = Mode::enforce;
  std::vector<std::string> exempt_namespaces = {"kube-system"};
  // Refuse loki-mode pods whose egress is not isolated even when they make
  // no promise in LOKI_NETWORK_EGRESS_POLICY (namespace label
  // loki-guard.io/require-egress-isolation overrides it per namespace).
  bool require_egress_isolation = false;
  // When the NetworkPolicy cache is not synced or is stale: "deny" (fail
  // closed) or "allow" decisions that depend on it.
  std::string cache_unavailable = "deny";
  // NetworkPolicy changes that would leave loki-mode pods egress-open.
  Action network_policy_changes = Action::deny;
  MutationSettings mutation;
  // Labels the mutating webhook adds to loki-mode pods (label repair, so the
  // namespace's deny-all-egress policy selects them); empty: off.
  std::map<std::string, std::string> repair_labels;
  // runtimeClassName values that are sandboxes (runtime-class-not-sandboxed);
  // a trailing * matches any suffix.
  std::vector<std::string> sandbox_runtime_classes = {"gvisor", "runsc", "kata*"};

  bool rule_enabled(std::string_view id) const;
  // The same for a rule of the registry, without looking its id up (the
  // per-object and per-review loops over all_rules()).
  bool rule_enabled(const Rule& rule) const;
  bool is_sandbox_runtime_class(std::string_view name) const;
  // The webhook's action for a rule: the config's, else the rule's default.
  Action action_of(std::string_view id) const;
  Severity severity_of(std::string_view id, Severity fallback) const;

  // Loads and validates a config file; errors name the file, line and field
  // (throws ConfigError).
  static Config load(const std::string& path);
  static Config parse(const std::string& text, const std::string& name);
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A top-level setting of the config file, for the docs drift test (README,
// the Helm chart's values.schema.json and configmap template).
struct ConfigKey {
  std::string_view name;
  std::string_view chart_value;  // the chart value it is rendered from ("policy.mode"); "" when the chart omits it
  std::span<const std::string_view> settings;  // nested settings (mutation.*, rules.<id>.*)
};
// In the order Config::parse lists them.
std::vector<ConfigKey> config_keys();

}  // namespace loki
