#include <loki/config.hpp>
#include <loki/policy_report.hpp>
#include <loki/rule.hpp>

#include "yaml_json.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace loki {

using nlohmann::json;

namespace {

struct ApiNames {
  const char* api_version;
  const char* kind;
  const char* cluster_kind;
};

ApiNames names_of(ReportApi api) {
  // openreports.io_reports.yaml / _clusterreports.yaml of reports-api v0.2.1;
  // wgpolicyk8s.io_policyreports.yaml / _clusterpolicyreports.yaml of Kyverno v1.19.1.
  if (api == ReportApi::wgpolicy) return {"wgpolicyk8s.io/v1alpha2", "PolicyReport", "ClusterPolicyReport"};
  return {"openreports.io/v1alpha1", "Report", "ClusterReport"};
}

// ReportResult.severity is an enum (critical, high, low, medium, info):
// loki-guard's error is what the webhook refuses, its warning what it warns.
const char* severity_of(Severity s) {
  switch (s) {
    case Severity::error:
      return "high";
    case Severity::warning:
      return "medium";
    case Severity::info:
      return "info";
  }
  return "info";
}

const char* category_of(std::string_view rule) {
  const Rule* r = find_rule(rule);
  if (!r) return "Manifest";
  switch (r->scope) {
    case RuleScope::pod:
      return "Pod Security";
    case RuleScope::network:
      return "Network Policy";
    case RuleScope::manifest:
      return "Manifest";
  }
  return "Manifest";
}

// corev1.ObjectReference, as ReportResult.resources lists subjects.
json object_reference(const ObjectRef& r) {
  json j = json::object();
  if (!r.apiVersion.empty()) j["apiVersion"] = r.apiVersion;
  j["kind"] = r.kind;
  if (!r.ns.empty()) j["namespace"] = r.ns;
  j["name"] = r.name;
  return j;
}

auto ref_key(const ObjectRef& r) {
  return std::tie(r.kind, r.name, r.apiVersion);
}

json base_result(std::string_view rule, const PolicyReportOptions& opts) {
  // Policy and rule are both the rule id: loki-guard has no policy objects,
  // and Policy Reporter groups by policy.
  return json{{"source", "loki-guard"},
              {"policy", std::string(rule)},
              {"rule", std::string(rule)},
              {"category", category_of(rule)},
              {"timestamp", {{"seconds", opts.timestamp}, {"nanos", 0}}}};
}

json finding_result(const Finding& f, const PolicyReportOptions& opts) {
  json r = base_result(f.rule, opts);
  r["severity"] = severity_of(f.severity);
  // "warn: the policy requirements are not met and the policy is not scored"
  // (reports-api ReportResult.Result); "skip: the policy was not selected
  // based on user inputs": a finding waived by an ignore annotation.
  r["result"] = f.suppressed ? "skip" : f.severity == Severity::info ? "warn" : "fail";
  r["scored"] = !f.suppressed && f.severity != Severity::info;
  r["resources"] = json::array({object_reference(f.object)});
  r["message"] = f.message;
  json props = json::object();
  if (f.container) props["container"] = *f.container;
  if (!f.field.empty()) props["field"] = f.field;
  if (!f.remediation.empty()) props["remediation"] = f.remediation;
  if (f.line > 0) {
    props["file"] = f.file;
    props["line"] = std::to_string(f.line);
  }
  if (f.suppressed) props["reason"] = f.suppression_reason;
  r["properties"] = std::move(props);
  return r;
}

struct Bucket {
  std::vector<const Finding*> findings;
  std::vector<ObjectRef> checked;
};

json make_report(const ApiNames& names, const std::string& ns, Bucket& b, const std::vector<std::string>& rules_run,
                 const PolicyReportOptions& opts) {
  std::stable_sort(b.findings.begin(), b.findings.end(), [](const Finding* x, const Finding* y) {
    return std::tuple(ref_key(x->object), std::string_view(x->rule), x->container.value_or(""),
                      std::string_view(x->message)) < std::tuple(ref_key(y->object), std::string_view(y->rule),
                                                                 y->container.value_or(""),
                                                                 std::string_view(y->message));
  });
  std::sort(b.checked.begin(), b.checked.end(),
            [](const ObjectRef& x, const ObjectRef& y) { return ref_key(x) < ref_key(y); });
  b.checked.erase(std::unique(b.checked.begin(), b.checked.end()), b.checked.end());

  json results = json::array();
  std::map<std::string, int> counts{{"pass", 0}, {"fail", 0}, {"warn", 0}, {"error", 0}, {"skip", 0}};
  std::set<std::pair<std::string, std::string>> failed;  // (rule, subject display): no pass for these
  for (const Finding* f : b.findings) {
    json r = finding_result(*f, opts);
    ++counts[r["result"].get<std::string>()];
    if (!f->suppressed) failed.emplace(f->rule, f->object.display());
    results.push_back(std::move(r));
  }
  for (const auto& rule : rules_run) {
    json subjects = json::array();
    for (const auto& s : b.checked)
      if (!failed.count({rule, s.display()})) subjects.push_back(object_reference(s));
    if (subjects.empty()) continue;
    json r = base_result(rule, opts);
    if (const Rule* def = find_rule(rule)) {
      r["severity"] = severity_of(def->severity);
      r["message"] = "passed: " + std::string(def->description);
    }
    r["result"] = "pass";
    r["scored"] = true;
    r["resources"] = std::move(subjects);
    results.push_back(std::move(r));
    ++counts["pass"];
  }

  json report;
  report["apiVersion"] = names.api_version;
  report["kind"] = ns.empty() ? names.cluster_kind : names.kind;
  json meta = {{"name", std::string(kReportName)}, {"labels", {{"app.kubernetes.io/managed-by", "loki-guard"}}}};
  if (!ns.empty()) meta["namespace"] = ns;
  report["metadata"] = std::move(meta);
  // Report.source exists in OpenReports only; PolicyReport names the source per result.
  if (opts.api == ReportApi::openreports) report["source"] = "loki-guard";
  report["summary"] = counts;
  report["results"] = std::move(results);
  return report;
}

// YAML from JSON: block style, strings quoted where YAML would read them as
// something else (yaml-cpp decides), Kubernetes' key order at the top.
void emit(YAML::Emitter& out, const json& j, bool top) {
  switch (j.type()) {
    case json::value_t::object: {
      out << YAML::BeginMap;
      std::vector<std::string> keys;
      if (top)
        for (const char* k : {"apiVersion", "kind", "metadata"})
          if (j.contains(k)) keys.emplace_back(k);
      const std::size_t leading = keys.size();
      for (auto it = j.begin(); it != j.end(); ++it)
        if (std::find(keys.begin(), keys.begin() + static_cast<long>(leading), it.key()) ==
            keys.begin() + static_cast<long>(leading))
          keys.push_back(it.key());
      for (const auto& k : keys) {
        out << YAML::Key << k << YAML::Value;
        emit(out, j.at(k), false);
      }
      out << YAML::EndMap;
      break;
    }
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) emit(out, v, false);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      // A literal block ("|") reads back with exactly one final newline: only
      // for text that ends with one; other multi-line text is double-quoted.
      const bool multiline = s.find('\n') != std::string::npos;
      if (multiline && s.back() == '\n' && (s.size() < 2 || s[s.size() - 2] != '\n'))
        out << YAML::Literal << s;
      else if (multiline)
        out << YAML::DoubleQuoted << s;
      else if (!detail::resolve_plain_scalar(s).is_string())
        out << YAML::DoubleQuoted << s;  // "no", "1.0", "null": kubectl's YAML 1.1 would not read a string
      else
        out << s;
      break;
    }
    case json::value_t::boolean:
      out << j.get<bool>();
      break;
    case json::value_t::number_integer:
      out << j.get<std::int64_t>();
      break;
    case json::value_t::number_unsigned:
      out << j.get<std::uint64_t>();
      break;
    case json::value_t::number_float:
      out << j.get<double>();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

std::optional<ReportApi> parse_report_api(std::string_view s) {
  if (s == "openreports") return ReportApi::openreports;
  if (s == "wgpolicy") return ReportApi::wgpolicy;
  return std::nullopt;
}

std::vector<json> build_policy_reports(const std::vector<Finding>& findings, const std::vector<ReportSubject>& checked,
                                       const std::vector<std::string>& rules_run, const PolicyReportOptions& opts) {
  std::map<std::string, Bucket> by_ns;  // "" sorts first; emitted last, as the cluster report
  for (const auto& f : findings) by_ns[f.object.ns].findings.push_back(&f);
  for (const auto& s : checked) by_ns[s.ref.ns].checked.push_back(s.ref);
  const ApiNames names = names_of(opts.api);
  std::vector<json> out;
  for (auto& [ns, bucket] : by_ns)
    if (!ns.empty()) out.push_back(make_report(names, ns, bucket, rules_run, opts));
  if (auto it = by_ns.find(""); it != by_ns.end() && !it->second.findings.empty())
    out.push_back(make_report(names, "", it->second, rules_run, opts));
  return out;
}

std::vector<std::string> report_rules(const Config& config) {
  std::vector<std::string> out;
  for (const auto& r : all_rules()) {
    if (r.subject != RuleSubject::pod_template || r.scope == RuleScope::manifest) continue;
    if (!config.rule_enabled(r.id)) continue;
    out.emplace_back(r.id);
  }
  return out;
}

std::string reports_to_yaml(const std::vector<json>& reports) {
  std::string out;
  for (const auto& r : reports) {
    YAML::Emitter e;
    e.SetIndent(2);
    e.SetSeqFormat(YAML::Block);
    emit(e, r, true);
    out += "---\n";
    out += e.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace loki
