// Findings: the one result type every check, the linter, the cluster audit and
// the webhook share. The JSON form is a public interface (CI scripts parse it):
// keep field names stable.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

enum class Severity { info = 0, warning = 1, error = 2 };

std::string_view to_string(Severity s);
// Parses "error" / "warning" / "info"; nullopt otherwise.
std::optional<Severity> parse_severity(std::string_view s);

// Identifies a Kubernetes object the way kubectl does.
struct ObjectRef {
  std::string apiVersion;
  std::string kind;
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  std::string display() const;  // "Deployment loki/agent"
  bool operator==(const ObjectRef&) const = default;
};

struct Finding {
  std::string rule;
  Severity severity = Severity::error;
  ObjectRef object;
  std::optional<std::string> container;  // null when the finding is on the pod/object
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  std::string message;
  std::string remediation;
  bool suppressed = false;
  std::string suppression_reason;  // the ignore annotation's reason
  std::string field;               // JSON pointer of the offending field (internal)
};

nlohmann::json to_json(const Finding& f);
nlohmann::json to_json(const ObjectRef& r);

// Stable order: file, line, object, rule, container.
void sort_findings(std::vector<Finding>& findings);

}  // namespace loki
