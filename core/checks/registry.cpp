// The list of rules, the only one: pod, network and manifest rules. Generated
// from the rule files (not static self-registration, which the linker may
// drop from a static library). Ordered pod rules, network rules, manifest
// rules, each by id: the order of `loki-audit rules`, the README table, SARIF's
// rule list and the per-object checks, independent of file names.
#include <loki/rules.hpp>

#include <algorithm>
#include <tuple>

namespace loki {
namespace checks {
// Every `extern const Rule rule_x` of core/checks/ and core/netpol/checks/,
// found by cmake/rule-registry.cmake.
#define LOKI_RULE(sym) extern const Rule sym;
#include "rule_list.inc"
#undef LOKI_RULE
}  // namespace checks

namespace {

std::vector<Rule> sorted(std::vector<Rule> rules) {
  auto rank = [](RuleScope s) { return s == RuleScope::pod ? 0 : s == RuleScope::network ? 1 : 2; };
  std::sort(rules.begin(), rules.end(), [&](const Rule& a, const Rule& b) {
    return std::tuple(rank(a.scope), a.id) < std::tuple(rank(b.scope), b.id);
  });
  for (auto& r : rules)
    if (r.references.empty()) r.references = references_for(r.id);
  return rules;
}

}  // namespace

const std::vector<Rule>& all_rules() {
  static const std::vector<Rule> rules = sorted({
#define LOKI_RULE(sym) checks::sym,
#include "rule_list.inc"
#undef LOKI_RULE
      {rule_id::invalid_manifest,
       Severity::error,
       RuleScope::manifest,
       "The manifest cannot be read as a valid Kubernetes object (syntax error, wrong type, missing field, "
       "unknown apiVersion).",
       "Fix the field named in the message; `kubectl apply --dry-run=server -f FILE` shows what the API server "
       "accepts.",
       {},
       "the input is not a valid Kubernetes object",
       RuleSubject::manifest},
      {rule_id::invalid_ignore,
       Severity::warning,
       RuleScope::manifest,
       "An ignore.loki-guard.io/<rule> annotation has no reason or names no known rule; it is not honoured.",
       "Name an existing rule and give the reason as the value: ignore.loki-guard.io/<rule>: \"why this is safe\".",
       {},
       "an ignore annotation without a reason or for an unknown rule",
       RuleSubject::manifest},
  });
  return rules;
}

const Rule* find_rule(std::string_view id) {
  // Every finding and every enabled-check asks this (per rule, per object,
  // per review): a sorted index instead of comparing with each id in turn.
  static const std::vector<const Rule*> by_id = [] {
    std::vector<const Rule*> v;
    for (const auto& r : all_rules()) v.push_back(&r);
    std::sort(v.begin(), v.end(), [](const Rule* a, const Rule* b) { return a->id < b->id; });
    return v;
  }();
  auto it =
      std::lower_bound(by_id.begin(), by_id.end(), id, [](const Rule* r, std::string_view k) { return r->id < k; });
  return it != by_id.end() && (*it)->id == id ? *it : nullptr;
}

}  // namespace loki
