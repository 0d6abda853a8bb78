#include <loki/finding.hpp>
#include <loki/rule.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

namespace loki {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::error:
      return "error";
    case Severity::warning:
      return "warning";
    case Severity::info:
      return "info";
  }
  return "error";
}

std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "error") return Severity::error;
  if (s == "warning") return Severity::warning;
  if (s == "info") return Severity::info;
  return std::nullopt;
}

std::string ObjectRef::display() const {
  std::string s = kind.empty() ? std::string("<unknown kind>") : kind;
  s += ' ';
  if (!ns.empty()) s += ns + "/";
  s += name.empty() ? std::string("<unnamed>") : name;
  return s;
}

nlohmann::json to_json(const ObjectRef& r) {
  return {{"apiVersion", r.apiVersion}, {"kind", r.kind}, {"namespace", r.ns}, {"name", r.name}};
}

nlohmann::json to_json(const Finding& f) {
  nlohmann::json j = {{"rule", f.rule},
                      {"severity", to_string(f.severity)},
                      {"object", to_json(f.object)},
                      {"container", f.container ? nlohmann::json(*f.container) : nlohmann::json(nullptr)},
                      {"file", f.file},
                      {"line", f.line},
                      // JSON pointer into the object (RFC 6901), as in SARIF's fingerprint; "" for the whole object.
                      {"field", f.field},
                      {"message", f.message},
                      {"remediation", f.remediation},
                      {"suppressed", f.suppressed}};
  // The rule's documentation (new in issue 22: scripts reading older output never see it missing).
  nlohmann::json refs = nlohmann::json::array();
  if (const Rule* r = find_rule(f.rule))
    for (const auto& ref : r->references) refs.push_back({{"title", ref.title}, {"url", ref.url}});
  j["references"] = std::move(refs);
  return j;
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.file, a.line, a.object.kind, a.object.ns, a.object.name, a.rule, a.container) <
           std::tie(b.file, b.line, b.object.kind, b.object.ns, b.object.name, b.rule, b.container);
  });
}

}  // namespace loki
