// What a rule is, in one place: its id, severity, subject, default webhook
// action, documentation, check and optional fix. The registry
// (core/checks/registry.cpp, all_rules()) is the only list of rules; lint,
// the cluster audit, explain and the webhook all read it. The runner stamps
// the rule's id into each finding, so a check never writes its own id.
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/fix.hpp>
#include <loki/manifest.hpp>
#include <loki/podspec.hpp>

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

namespace netpol::checks {
struct NetContext;
class NetOut;
}  // namespace netpol::checks

struct PodContext {
  const Object& object;
  const PodTemplate& pod;
  const std::vector<ContainerRef>& containers;
  const Config* config = nullptr;  // the policy config, for rules with settings of their own

  // effective_security_context(pod, c) for c, an element of `containers`:
  // computed once per container however many rules read it (six do).
  const EffectiveSecurityContext& security_context(const ContainerRef& c) const;
  // security_context's cache (public only so that PodContext stays an aggregate).
  mutable std::vector<std::optional<EffectiveSecurityContext>> security_cache = {};
};

// What a pod check reports; the runner fills in the rule id, object, file,
// line and severity.
struct RawFinding {
  std::string field;  // JSON pointer relative to the object
  std::optional<std::string> container;
  std::string message;
  std::string remediation;
};

using PodCheckFn = void (*)(const PodContext&, std::vector<RawFinding>&);
// Network checks run once over the analysed inventory (core/netpol/network_checks.cpp).
using NetCheckFn = void (*)(const netpol::checks::NetContext&, netpol::checks::NetOut&);

// When a rule runs: per object with a pod template, in the network pass, or
// while reading manifests.
enum class RuleScope { pod, manifest, network };

// What a finding of the rule is about. The webhook's pod admission runs only
// the network rules whose subject is a pod template.
enum class RuleSubject { pod_template, policy, manifest };

// Where a rule comes from: the Kubernetes docs section, the Pod Security
// Standards control it implements, the CVE where one applies.
struct Reference {
  std::string_view title;
  std::string_view url;
};

// Fields in the order existing rule files initialise them (positionally);
// new fields go at the end with defaults.
struct Rule {
  std::string_view id;
  Severity severity;
  RuleScope scope;
  std::string_view description;
  std::string_view remediation;
  // The check: per object (scope pod) or in the network pass (scope
  // network); manifest rules have neither (the loader and engine report them).
  PodCheckFn check = nullptr;
  // One line for the README's rules table (`loki-audit rules -f markdown`).
  std::string_view summary = {};
  RuleSubject subject = RuleSubject::pod_template;
  // The webhook's default action; none: deny at error severity (after the
  // config's severity override), else warn. rules.<id>.action overrides it.
  std::optional<Action> action = std::nullopt;
  const Fix* fix = nullptr;  // the mutating webhook's repair (action patch)
  // A finding means the pod's egress is open: the webhook denies it only where
  // isolation is required, and refuses a policy change that causes one.
  bool egress_open = false;
  NetCheckFn network_check = nullptr;
  // Network rules run in this order (the order their findings reach the
  // webhook's warnings and the audit's groups), which predates the registry's.
  int network_order = 0;
  // Off unless the config turns it on (rules.<id>.enabled: true): checks that
  // need something on the nodes (e.g. a sandbox RuntimeClass) to be fixable.
  bool enabled_by_default = true;
  // Documentation: text output (under the fix), SARIF helpUri, JSON
  // `references`. Left empty in a rule file, the registry fills it from
  // core/checks/references.cpp (one reviewed table of URLs).
  std::span<const Reference> references = {};
};

// The references table (core/checks/references.cpp); empty for an unknown id.
std::span<const Reference> references_for(std::string_view id);

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
