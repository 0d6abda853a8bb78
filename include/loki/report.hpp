// Reporters: text (people), JSON (scripts), SARIF 2.1.0 (code scanning),
// JUnit XML (CI test views).
#pragma once

#include <loki/finding.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace loki {

enum class Format { text, json, sarif, junit };
std::optional<Format> parse_format(std::string_view s);

struct ReportSummary {
  std::size_t files = 0;
  std::size_t objects = 0;
  std::size_t pods_checked = 0;       // loki-mode pod templates checked
  std::size_t documents_skipped = 0;  // documents that are not Kubernetes objects (other YAML in the inputs)
  std::size_t pod_templates = 0;      // pod templates seen, loki-mode or not (new fields go last: positional init)
};

// The rules an object passed: applicable to it, and no finding (suppressed
// or not) of the rule on it (--show-passed).
struct PassedChecks {
  ObjectRef object;
  std::vector<std::string> rules;
};

struct ReportOptions {
  bool color = false;
  std::string tool_name = "loki-audit";
  const std::vector<PassedChecks>* passed = nullptr;  // --show-passed: text section, JSON `passed`
  // Threads rendering findings (0: one per core): blocks of findings are
  // rendered side by side and written in order, the same bytes as one thread.
  unsigned threads = 1;
};

// Whether a finding's location is a live object (the cluster audit names the
// object's API path with no line) rather than a file.
bool is_live_location(const Finding& f);
// kubectl's name for an object: "deployment/llm-api -n models".
std::string kubectl_name(const ObjectRef& r);

class FindingStore;
void write_report(std::ostream& out, Format format, const std::vector<Finding>& findings, const ReportSummary& summary,
                  const ReportOptions& opts = {});
void write_report(std::ostream& out, Format format, const FindingStore& findings, const ReportSummary& summary,
                  const ReportOptions& opts = {});

}  // namespace loki
