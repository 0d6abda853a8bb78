// Policy configuration shared by loki-audit and loki-webhook (--config FILE).
#pragma once

#include <loki/finding.hpp>
#include <loki/selector.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loki {

struct RuleSettings {
  bool enabled = true;
  std::optional<Severity> severity;  // overrides the rule's default
};

struct Config {
  std::string selector_text = "app=loki-mode";
  LabelSelector selector = LabelSelector::parse("app=loki-mode");
  bool all_pods = false;
  std::map<std::string, RuleSettings, std::less<>> rules;
  // AI API hosts an `ai-only` agent may reach (LOKI_ALLOWED_HOSTS extends it).
  std::vector<std::string> ai_hosts = {"api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com"};

  bool rule_enabled(std::string_view id) const;
  Severity severity_of(std::string_view id, Severity fallback) const;

  // Loads and validates a config file; errors name the file, line and field
  // (throws ConfigError).
  static Config load(const std::string& path);
  static Config parse(const std::string& text, const std::string& name);
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace loki
