// Policy reports: findings as the report objects the Kubernetes policy
// ecosystem reads (`kubectl get reports -A`, Policy Reporter, Kyverno's
// tooling). OpenReports `openreports.io/v1alpha1` Report / ClusterReport
// (github.com/openreports/reports-api v0.2.1), or its predecessor
// `wgpolicyk8s.io/v1alpha2` PolicyReport / ClusterPolicyReport (the CRDs
// Kyverno v1.19.1 still ships) for older Policy Reporter releases.
#pragma once

#include <loki/finding.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

enum class ReportApi { openreports, wgpolicy };
std::optional<ReportApi> parse_report_api(std::string_view s);  // "openreports" | "wgpolicy"

// A checked (agent) workload, or a pod without an owner: what pass results name.
struct ReportSubject {
  ObjectRef ref;
  bool operator==(const ReportSubject&) const = default;
};

struct PolicyReportOptions {
  ReportApi api = ReportApi::openreports;
  std::int64_t timestamp = 0;  // unix seconds, stamped on every result
};

// The name of every report loki-guard writes (one per namespace).
inline constexpr std::string_view kReportName = "loki-guard";

// Pure: one report per namespace that has findings or checked subjects,
// sorted by namespace, then one cluster report for findings on
// cluster-scoped objects (when there are any). Results: `fail` per finding
// (`warn` at info severity, not scored), `skip` per suppressed finding, and
// per rule in `rules_run` one `pass` naming the namespace's checked subjects
// that have no finding of that rule. The summary counts results.
std::vector<nlohmann::json> build_policy_reports(const std::vector<Finding>& findings,
                                                 const std::vector<ReportSubject>& checked,
                                                 const std::vector<std::string>& rules_run,
                                                 const PolicyReportOptions& opts);

// The rules whose results a report lists as passed: those enabled under the
// config that judge a pod template (pod rules and the network rules about a
// pod), in registry order.
struct Config;
std::vector<std::string> report_rules(const Config& config);

// YAML documents ("---" separated) ready for `kubectl apply -f -`, keys of
// each object in the order Kubernetes prints them (apiVersion, kind,
// metadata first).
std::string reports_to_yaml(const std::vector<nlohmann::json>& reports);

}  // namespace loki
