#include "options.hpp"

#include <loki/finding_store.hpp>

#include <unistd.h>
#include <loki/config.hpp>
#include <loki/policy_report.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

namespace loki::audit {

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("-f,--format", o.format,
                 "Output format: text, json, sarif, junit, or report (policy report objects as YAML, for kubectl "
                 "apply)")
      ->check(CLI::IsMember({"text", "json", "sarif", "junit", "report"}))
      ->capture_default_str();
  cmd.add_option("--report-api", o.report_api,
                 "With -f report: openreports (openreports.io/v1alpha1 Report) or wgpolicy "
                 "(wgpolicyk8s.io/v1alpha2 PolicyReport, for older Policy Reporter releases)")
      ->check(CLI::IsMember({"openreports", "wgpolicy"}))
      ->capture_default_str();
  cmd.add_option("-o,--output", o.output, "Write the report to FILE instead of stdout");
  cmd.add_option("--fail-on", o.fail_on,
                 "Exit 1 when a finding at or above this severity remains: error, warning, info, none")
      ->check(CLI::IsMember({"error", "warning", "info", "none"}))
      ->capture_default_str();
  cmd.add_option("--config", o.config_path, "Policy config file (selector, rules: enabled/severity)");
  cmd.add_option("-l,--selector", o.selector,
                 "Which pods are loki-mode pods (kubectl label-selector syntax; default from config, else "
                 "app=loki-mode)");
  cmd.add_flag("--all-pods", o.all_pods, "Check every pod spec, not only loki-mode pods");
  cmd.add_option("--color", o.color, "Colour text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd.add_option("--threads", o.threads,
                 "Worker threads: parsing, the network pass of lint, the report (0: one per core)");
  cmd.add_flag("--require-agents", o.require_agents,
               "Exit 1 when no loki-mode pod template was checked (none matches the selector)");
  cmd.add_flag("--show-passed", o.show_passed,
               "List, per loki-mode object, the rules it passed (text and JSON; for CI logs and auditors)");
}

int check_agents_found(const CommonOptions& o, const EngineOptions& eo, const ReportSummary& summary,
                       const char* what) {
  if (summary.pods_checked > 0) return kExitOk;
  // A user whose agents carry another label would read "0 checked" as clean.
  if (summary.pod_templates > 0 && !eo.config.all_pods)
    std::cerr << "loki-audit: " << summary.pod_templates << " pod template" << (summary.pod_templates == 1 ? "" : "s")
              << " " << what << ", none matches the loki-mode selector `" << eo.config.selector_text
              << "`: nothing was checked.\n"
              << "  name your agents' labels with --selector (e.g. --selector 'app.kubernetes.io/name=my-agent'),\n"
              << "  or check every pod template with --all-pods.\n";
  else if (o.require_agents)
    std::cerr << "loki-audit: no pod templates " << what << ": nothing was checked\n";
  return o.require_agents ? kExitFindings : kExitOk;
}

EngineOptions engine_options(const CommonOptions& o) {
  EngineOptions eo;
  if (!o.config_path.empty()) eo.config = Config::load(o.config_path);
  if (!o.selector.empty()) {
    eo.config.selector = LabelSelector::parse(o.selector);
    eo.config.selector_text = o.selector;
  }
  if (o.all_pods) eo.config.all_pods = true;
  if (!o.ns.empty()) eo.default_namespace = o.ns;
  eo.record_subjects = o.format == "report" || o.show_passed;
  return eo;
}

namespace {

// std::cout, synced with stdio, hands every << of the report to fwrite (a
// call and a lock per field: a tenth of a lint run's instructions); the
// report goes to the descriptor through a buffer of our own instead.
class FdBuffer : public std::streambuf {
 public:
  explicit FdBuffer(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }
  FdBuffer(const FdBuffer&) = delete;
  FdBuffer& operator=(const FdBuffer&) = delete;
  ~FdBuffer() override { drain(); }

 protected:
  int_type overflow(int_type c) override {
    if (drain() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain(); }

 private:
  int drain() {
    const char* p = pbase();
    while (p < pptr()) {
      ssize_t n = ::write(fd_, p, static_cast<std::size_t>(pptr() - p));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      p += n;
    }
    setp(buf_, buf_ + sizeof buf_);
    return 0;
  }

  int fd_;
  char buf_[1 << 16];
};

// Writes `text` to -o FILE or stdout; kExitOk, or kExitUsage on an I/O error.
int write_text(const CommonOptions& o, const std::string& text) {
  if (o.output.empty()) {
    std::cout << text;
    std::cout.flush();
    if (!std::cout) {
      std::cerr << "loki-audit: error writing to stdout\n";
      return kExitUsage;
    }
    return kExitOk;
  }
  std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::cerr << "loki-audit: cannot write " << o.output << ": " << std::strerror(errno) << "\n";
    return kExitUsage;
  }
  out << text;
  out.close();
  if (!out) {
    std::cerr << "loki-audit: error writing " << o.output << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

template <class Findings>
int exit_code(const CommonOptions& o, const Findings& findings) {
  if (o.fail_on == "none") return kExitOk;
  auto threshold = *parse_severity(o.fail_on);
  for (const auto& f : findings)
    if (!f.suppressed && f.severity >= threshold) return kExitFindings;
  return kExitOk;
}

// Per agent object, the rules that apply to its pod template (as policy
// reports count them) with no finding on it, suppressed or not.
template <class Findings>
std::vector<PassedChecks> passed_checks(const CommonOptions& o, const Findings& findings,
                                        const std::vector<ObjectRef>& subjects) {
  EngineOptions eo = engine_options(o);
  const std::vector<std::string> rules = report_rules(eo.config);
  std::set<std::string> failed;  // object display + rule
  for (const auto& f : findings) failed.insert(f.object.display() + "\x1f" + f.rule);
  std::vector<PassedChecks> out;
  std::set<std::string> seen;
  for (const auto& s : subjects) {
    if (!seen.insert(s.display()).second) continue;
    PassedChecks p{s, {}};
    for (const auto& r : rules)
      if (!failed.count(s.display() + "\x1f" + r)) p.rules.push_back(r);
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const PassedChecks& a, const PassedChecks& b) { return a.object.display() < b.object.display(); });
  return out;
}

template <class Findings>
int emit_any(const CommonOptions& o, const Findings& findings, const ReportSummary& summary,
             const std::vector<ObjectRef>& subjects) {
  ReportOptions ropts;
  ropts.threads = o.threads;
  std::vector<PassedChecks> passed;
  if (o.show_passed) {
    passed = passed_checks(o, findings, subjects);
    ropts.passed = &passed;
  }
  bool tty = o.output.empty() && ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  ropts.color = o.color == "always" || (o.color == "auto" && tty);
  auto format = *parse_format(o.format);
  if (o.output.empty()) {
    std::cout.flush();
    FdBuffer buffer(STDOUT_FILENO);
    std::ostream out(&buffer);
    write_report(out, format, findings, summary, ropts);
    out.flush();
    if (!out) {
      std::cerr << "loki-audit: error writing to stdout\n";
      return kExitUsage;
    }
  } else {
    std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
    if (!out) {
      std::cerr << "loki-audit: cannot write " << o.output << ": " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    write_report(out, format, findings, summary, ropts);
    out.close();
    if (!out) {
      std::cerr << "loki-audit: error writing " << o.output << "\n";
      return kExitUsage;
    }
  }
  return exit_code(o, findings);
}

// When the report was made: SOURCE_DATE_EPOCH (reproducible builds' variable)
// when set, so that CI output can be compared; else now.
std::int64_t report_time() {
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) {
    char* end = nullptr;
    long long v = std::strtoll(e, &end, 10);
    if (end && *end == '\0' && v >= 0) return v;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

int emit_policy_reports(const CommonOptions& o, const EngineOptions& eo, std::vector<Finding> findings,
                        const std::vector<ObjectRef>& subjects) {
  // Rules the config switched off are not reported as passed either.
  std::erase_if(findings, [&](const Finding& f) { return !eo.config.rule_enabled(f.rule); });
  std::vector<ReportSubject> checked;
  checked.reserve(subjects.size());
  for (const auto& s : subjects) checked.push_back({s});
  PolicyReportOptions ro;
  ro.api = *parse_report_api(o.report_api);
  ro.timestamp = report_time();
  auto reports = build_policy_reports(findings, checked, report_rules(eo.config), ro);
  if (int rc = write_text(o, reports_to_yaml(reports)); rc != kExitOk) return rc;
  return exit_code(o, findings);
}

int emit_report(const CommonOptions& o, const std::vector<Finding>& findings, const ReportSummary& summary,
                const std::vector<ObjectRef>& subjects) {
  return emit_any(o, findings, summary, subjects);
}

int emit_report(const CommonOptions& o, const loki::FindingStore& findings, const ReportSummary& summary,
                const std::vector<ObjectRef>& subjects) {
  return emit_any(o, findings, summary, subjects);
}

}  // namespace loki::audit
