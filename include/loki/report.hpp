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
};

struct ReportOptions {
  bool color = false;
  std::string tool_name = "loki-audit";
};

class FindingStore;
void write_report(std::ostream& out, Format format, const std::vector<Finding>& findings, const ReportSummary& summary,
                  const ReportOptions& opts = {});
void write_report(std::ostream& out, Format format, const FindingStore& findings, const ReportSummary& summary,
                  const ReportOptions& opts = {});

}  // namespace loki
