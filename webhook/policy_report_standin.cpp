// STAND-IN for core/policy_report.cpp (see policy_report_standin.hpp).
#include "policy_report_standin.hpp"

#include <map>
#include <set>

namespace loki {

using nlohmann::json;

std::vector<json> build_policy_reports(const std::vector<Finding>& findings, const std::vector<ReportSubject>& checked,
                                       const std::vector<std::string>& rules_run, const PolicyReportOptions& opts) {
  const bool wg = opts.api == ReportApi::wgpolicy;
  std::map<std::string, json> by_ns;                                            // "" = cluster-scoped
  std::map<std::string, std::set<std::pair<std::string, std::string>>> failed;  // ns -> (rule, subject)
  auto report = [&](const std::string& ns) -> json& {
    json& r = by_ns[ns];
    if (r.is_null()) {
      r = {{"apiVersion", wg ? "wgpolicyk8s.io/v1alpha2" : "openreports.io/v1alpha1"},
           {"kind", ns.empty() ? (wg ? "ClusterPolicyReport" : "ClusterReport") : (wg ? "PolicyReport" : "Report")},
           {"metadata", {{"name", "loki-guard"}, {"labels", {{"app.kubernetes.io/managed-by", "loki-guard"}}}}},
           {"source", "loki-guard"},
           {"summary", {{"pass", 0}, {"fail", 0}, {"warn", 0}, {"error", 0}, {"skip", 0}}},
           {"results", json::array()}};
      if (!ns.empty()) r["metadata"]["namespace"] = ns;
    }
    return r;
  };
  auto resource = [](const ObjectRef& o) {
    json j = {{"apiVersion", o.apiVersion}, {"kind", o.kind}, {"name", o.name}};
    if (!o.ns.empty()) j["namespace"] = o.ns;
    return j;
  };
  auto severity = [](Severity s) { return s == Severity::error ? "high" : s == Severity::warning ? "medium" : "info"; };
  for (const Finding& f : findings) {
    if (f.suppressed) continue;
    json& r = report(f.object.ns);
    r["results"].push_back({{"source", "loki-guard"},
                            {"policy", f.rule},
                            {"result", "fail"},
                            {"severity", severity(f.severity)},
                            {"message", f.message},
                            {"resources", json::array({resource(f.object)})},
                            {"timestamp", {{"seconds", opts.timestamp}, {"nanos", 0}}}});
    r["summary"]["fail"] = r["summary"]["fail"].get<int>() + 1;
    failed[f.object.ns].insert({f.rule, f.object.display()});
  }
  for (const ReportSubject& s : checked)
    for (const std::string& rule : rules_run) {
      if (failed[s.ref.ns].count({rule, s.ref.display()})) continue;
      json& r = report(s.ref.ns);
      r["results"].push_back({{"source", "loki-guard"},
                              {"policy", rule},
                              {"result", "pass"},
                              {"resources", json::array({resource(s.ref)})},
                              {"timestamp", {{"seconds", opts.timestamp}, {"nanos", 0}}}});
      r["summary"]["pass"] = r["summary"]["pass"].get<int>() + 1;
    }
  std::vector<json> out;
  for (auto& [ns, r] : by_ns) out.push_back(std::move(r));
  return out;
}

}  // namespace loki
