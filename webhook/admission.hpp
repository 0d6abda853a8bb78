// AdmissionReview (admission.k8s.io/v1) in, AdmissionReview out: the
// validating and mutating decisions of loki-webhook. Pure functions of the
// review, the config and a view of the cluster's NetworkPolicies.
// https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/netpol.hpp>

#include "response.hpp"

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace loki::webhook {

// A malformed review: answered with HTTP 400.
struct BadReview : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What the webhook knows of the cluster's network state (from the policy
// cache). `available` false: not synced or stale; decisions that depend on it
// follow Config::cache_unavailable.
struct ClusterView {
  bool available = true;
  std::string unavailable_reason;
  // The namespace's policies (and the clusterwide ones), and the labels of
  // any namespace, for an inventory around one pod.
  std::function<void(const std::string& ns, netpol::Inventory& into)> fill;
  // The live pods of a namespace into an inventory (for NetworkPolicy
  // changes); which are loki-mode pods is the config's to say.
  std::function<void(const std::string& ns, const Config& config, netpol::Inventory& into)> pods;
  // Labels of a namespace (overrides: loki-guard.io/mode, require-egress-isolation).
  std::function<Labels(const std::string& ns)> namespace_labels;
  // The namespaces that have live pods (for cluster network policy changes,
  // which can open egress in any of them).
  std::function<std::vector<std::string>()> pod_namespaces;
  // The ServiceAccounts of a namespace with automountServiceAccountToken:
  // false, as "namespace/name" (the keys drop_unmounted_token_findings takes);
  // null when there are none, or when they are not known (not listed yet).
  std::function<std::shared_ptr<const std::set<std::string>>(const std::string& ns)> token_opt_outs;
};

// Live pod objects into an inventory, as a view's `pods` adds them (views
// that hold JSON: tests, fuzzing).
void add_live_pods(const std::vector<nlohmann::json>& pods, const std::string& ns, const Config& config,
                   netpol::Inventory& into);

// What the webhook decided, as controller-runtime's admission.Response says
// it (Allowed/Denied/Patched/WithWarnings), plus the cases it only logs.
enum class Verdict { allow, deny, warn, patch, skip, dry_run_deny, dry_run_patch, break_glass };

// The name in logs and metrics: "allow", "dry-run-deny", ...
std::string_view to_string(Verdict v);
// Comparing and joining with the name: the logging/metrics edge speaks strings.
inline bool operator==(Verdict v, std::string_view name) {
  return to_string(v) == name;
}
inline std::string operator+(std::string_view text, Verdict v) {
  return std::string(text).append(to_string(v));
}

struct Decision {
  std::string api_version;  // the review's, echoed in the answer
  Response response;        // the answer's `response`
  // The AdmissionReview to send back: as JSON (tests, tools), and as the
  // bytes the handler writes (written directly, the same bytes as
  // review().dump(); throws as dump() does on invalid UTF-8).
  nlohmann::json review() const;
  std::string body() const;
  // For the log line and metrics.
  std::string uid, kind, ns, name, operation, user;
  Verdict decision = Verdict::allow;
  std::vector<std::string> rules;
  std::string patch_summary;
  std::vector<Finding> findings;
};

// Namespace labels that override the config per namespace.
inline constexpr std::string_view mode_label = "loki-guard.io/mode";
inline constexpr std::string_view require_isolation_label = "loki-guard.io/require-egress-isolation";
// Break-glass: an object with this annotation and a non-empty reason is
// admitted whatever it does; the decision is logged with the reason.
inline constexpr std::string_view break_glass_annotation = "loki-guard.io/break-glass";

// Takes the review by value: the object under review is moved into the
// checks, not copied (pass std::move(review) when it is not needed after).
Decision validate(nlohmann::json review, const Config& config, const ClusterView& cluster);
Decision mutate(const nlohmann::json& review, const Config& config, const ClusterView& cluster);

// Parses and checks the envelope; throws BadReview.
const nlohmann::json& request_of(const nlohmann::json& review);

}  // namespace loki::webhook
