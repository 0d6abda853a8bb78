// The rule registry: every rule has a stable id, a default severity, a
// description and a generic remediation (kube-linter style: one check per file
// in core/checks/, listed in core/checks/registry.cpp).
#pragma once

#include <loki/finding.hpp>
#include <loki/manifest.hpp>
#include <loki/podspec.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

struct PodContext {
  const Object& object;
  const PodTemplate& pod;
  const std::vector<ContainerRef>& containers;
};

// What a check reports; the engine fills in object, file, line, severity.
struct RawFinding {
  std::string_view rule;
  std::string field;  // JSON pointer relative to the object
  std::optional<std::string> container;
  std::string message;
  std::string remediation;
};

using PodCheckFn = void (*)(const PodContext&, std::vector<RawFinding>&);

enum class RuleScope { pod, manifest, network };

struct Rule {
  std::string_view id;
  Severity severity;
  RuleScope scope;
  std::string_view description;
  std::string_view remediation;
  PodCheckFn check = nullptr;  // pod-scope rules only
  // One line for the README's rules table (`loki-audit rules -f markdown`).
  std::string_view summary = {};
};

const std::vector<Rule>& all_rules();
const Rule* find_rule(std::string_view id);

// Rule ids used outside core/checks.
namespace rule_id {
inline constexpr std::string_view invalid_manifest = "invalid-manifest";
inline constexpr std::string_view invalid_ignore = "invalid-ignore";
}  // namespace rule_id

// The ignore annotation prefix: ignore.loki-guard.io/<rule>: "<reason>".
inline constexpr std::string_view ignore_annotation_prefix = "ignore.loki-guard.io/";

}  // namespace loki
