// STAND-IN for include/loki/policy_report.hpp (the lead writes it on main):
// the same declarations, so the background auditor builds against them until
// that lands. Delete this file and its .cpp at the merge, and include
// <loki/policy_report.hpp> in background_audit.cpp instead.
#pragma once

#include <loki/finding.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loki {
enum class ReportApi { openreports, wgpolicy };
struct ReportSubject {
  ObjectRef ref;
};
struct PolicyReportOptions {
  ReportApi api = ReportApi::openreports;
  std::int64_t timestamp = 0;  // unix s
};
std::vector<nlohmann::json> build_policy_reports(const std::vector<Finding>& findings,
                                                 const std::vector<ReportSubject>& checked,
                                                 const std::vector<std::string>& rules_run,
                                                 const PolicyReportOptions& opts);
}  // namespace loki
