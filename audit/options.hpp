// Options and reporting shared by loki-audit's commands (lint, the cluster
// audit, explain), so every command has the same flags and exit codes.
#pragma once

#include <loki/engine.hpp>
#include <loki/finding_store.hpp>
#include <loki/report.hpp>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace loki::audit {

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
  std::string ns;  // lint: namespace for objects without one; cluster: the namespace to audit
  std::string color = "auto";
  unsigned threads = 0;
  std::string report_api = "openreports";  // -f report: openreports or wgpolicy
  bool require_agents = false;             // no loki-mode pod template checked is a failure (exit 1)
  bool show_passed = false;                // list, per agent object, the rules it passed
};

// When no loki-mode pod template was checked although pod templates exist,
// says so on stderr (the selector used, --selector and --all-pods). Returns
// kExitFindings with --require-agents when nothing was checked, else kExitOk.
int check_agents_found(const CommonOptions& o, const EngineOptions& eo, const ReportSummary& summary, const char* what);

// Adds --format, --output, --fail-on, --config, --selector, --all-pods,
// --color, --threads (not --namespace: its meaning differs per command).
void add_common(CLI::App& cmd, CommonOptions& o);

// Config file, then flags on top.
EngineOptions engine_options(const CommonOptions& o);

// Writes the report; returns the exit code (0, 1, or 2 on an output error).
// `subjects`: the agent objects checked, for --show-passed.
int emit_report(const CommonOptions& o, const std::vector<Finding>& findings, const ReportSummary& summary,
                const std::vector<ObjectRef>& subjects = {});
int emit_report(const CommonOptions& o, const FindingStore& findings, const ReportSummary& summary,
                const std::vector<ObjectRef>& subjects = {});
// -f report: the findings as policy report objects (YAML), `subjects` the
// agent objects checked (for pass results). Same exit codes.
int emit_policy_reports(const CommonOptions& o, const EngineOptions& eo, std::vector<Finding> findings,
                        const std::vector<ObjectRef>& subjects);

}  // namespace loki::audit
