// loki-audit: lint manifests before deploy (and, later, audit a live cluster).
// Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
// 2 usage or I/O error.
#include <loki/config.hpp>
#include <loki/lint.hpp>
#include <loki/report.hpp>
#include <loki/rules.hpp>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFindings = 1;
constexpr int kExitUsage = 2;

struct CommonOptions {
  std::string format = "text";
  std::string output;
  std::string fail_on = "error";
  std::string config_path;
  std::string selector;
  bool all_pods = false;
  std::string ns = "default";
  std::string color = "auto";
  unsigned threads = 0;
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("-f,--format", o.format, "Output format: text, json, sarif, junit")
      ->check(CLI::IsMember({"text", "json", "sarif", "junit"}))
      ->capture_default_str();
  cmd.add_option("-o,--output", o.output, "Write the report to FILE instead of stdout");
  cmd.add_option("--fail-on", o.fail_on,
                 "Exit 1 when a finding at or above this severity remains: error, warning, info, none")
      ->check(CLI::IsMember({"error", "warning", "info", "none"}))
      ->capture_default_str();
  cmd.add_option("--config", o.config_path, "Policy config file (selector, rules: enabled/severity)");
  cmd.add_option(
      "-l,--selector", o.selector,
      "Which pods are loki-mode pods (kubectl label-selector syntax; default from config, else app=loki-mode)");
  cmd.add_flag("--all-pods", o.all_pods, "Check every pod spec, not only loki-mode pods");
  cmd.add_option("-n,--namespace", o.ns, "Namespace for objects that do not set one")->capture_default_str();
  cmd.add_option("--color", o.color, "Colour text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd.add_option("--threads", o.threads, "Parser threads (0: one per core)");
}

int emit_report(const CommonOptions& o, const loki::LintResult& r) {
  loki::ReportOptions ropts;
  bool tty = o.output.empty() && ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  ropts.color = o.color == "always" || (o.color == "auto" && tty);
  auto format = *loki::parse_format(o.format);
  if (o.output.empty()) {
    loki::write_report(std::cout, format, r.findings, r.summary, ropts);
    std::cout.flush();
    if (!std::cout) {
      std::cerr << "loki-audit: error writing to stdout\n";
      return kExitUsage;
    }
  } else {
    std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
    if (!out) {
      std::cerr << "loki-audit: cannot write " << o.output << ": " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    loki::write_report(out, format, r.findings, r.summary, ropts);
    out.close();
    if (!out) {
      std::cerr << "loki-audit: error writing " << o.output << "\n";
      return kExitUsage;
    }
  }
  if (o.fail_on == "none") return kExitOk;
  auto threshold = *loki::parse_severity(o.fail_on);
  for (const auto& f : r.findings)
    if (!f.suppressed && f.severity >= threshold) return kExitFindings;
  return kExitOk;
}

loki::EngineOptions engine_options(const CommonOptions& o) {
  loki::EngineOptions eo;
  if (!o.config_path.empty()) eo.config = loki::Config::load(o.config_path);
  if (!o.selector.empty()) {
    eo.config.selector = loki::LabelSelector::parse(o.selector);
    eo.config.selector_text = o.selector;
  }
  if (o.all_pods) eo.config.all_pods = true;
  eo.default_namespace = o.ns;
  return eo;
}

int run_lint(const CommonOptions& o, const std::vector<std::string>& paths) {
  loki::EngineOptions eo = engine_options(o);
  loki::InputFiles inputs = loki::expand_inputs(paths);
  for (const auto& note : inputs.skipped) std::cerr << "loki-audit: " << note << "\n";
  loki::LoadOptions lo;
  lo.threads = o.threads;
  loki::LintSession session(eo, lo);
  for (const auto& file : inputs.files) {
    std::string text = loki::read_input(file);
    session.add_text(text, file == "-" ? "<stdin>" : file);
  }
  return emit_report(o, session.finish());
}

int run_rules(const std::string& format) {
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : loki::all_rules())
      arr.push_back({{"id", r.id},
                     {"severity", loki::to_string(r.severity)},
                     {"description", r.description},
                     {"remediation", r.remediation}});
    std::cout << arr.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& r : loki::all_rules()) {
    std::cout << r.id << " (" << loki::to_string(r.severity) << ")\n  " << r.description << "\n  fix: " << r.remediation
              << "\n";
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "loki-audit: checks that AI coding-agent (loki-mode) pods are locked down.\n"
      "Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or I/O error."};
  app.set_version_flag("--version", std::string("loki-audit ") + LOKI_VERSION);
  app.require_subcommand(1);

  CommonOptions lint_opts;
  std::vector<std::string> paths;
  auto* lint = app.add_subcommand("lint", "Lint manifests: files, directories (recursive) or - for stdin");
  add_common(*lint, lint_opts);
  lint->add_option("paths", paths, "Files, directories or - (stdin)")->required();

  std::string rules_format = "text";
  auto* rules = app.add_subcommand("rules", "List the rules with their ids, severities and remediations");
  rules->add_option("-f,--format", rules_format, "text or json")->check(CLI::IsMember({"text", "json"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  try {
    if (*lint) return run_lint(lint_opts, paths);
    if (*rules) return run_rules(rules_format);
  } catch (const loki::SelectorError& e) {
    std::cerr << "loki-audit: " << e.what() << "\n";
    return kExitUsage;
  } catch (const loki::ConfigError& e) {
    std::cerr << "loki-audit: config: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "loki-audit: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitUsage;
}
