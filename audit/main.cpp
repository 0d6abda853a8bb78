// loki-audit: lint manifests before deploy (and, later, audit a live cluster).
// Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
// 2 usage or I/O error.
#include <loki/config.hpp>
#include <loki/kubeconfig.hpp>
#include <loki/lint.hpp>
#include <loki/report.hpp>
#include <loki/rules.hpp>

#include "explain.hpp"
#include "netmap.hpp"

#include <unistd.h>
#include <CLI/CLI.hpp>
#if defined(LOKI_ALLOCATOR_MIMALLOC)
#include <mimalloc.h>
#endif

#include "cluster_cmd.hpp"
#include "options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace {

constexpr char kOutOfMemory[] =
    "loki-audit: out of memory: the input needs more memory than this process may use (ulimit -v, the "
    "container's limit); lint fewer files per run or raise the limit\n";

using namespace loki::audit;

int run_lint(CommonOptions o, const std::vector<std::string>& paths, bool verbose) {
  if (o.ns.empty()) o.ns = "default";
  loki::EngineOptions eo = engine_options(o);
  loki::InputFiles inputs = loki::expand_inputs(paths);
  for (const auto& note : inputs.skipped) std::cerr << "loki-audit: " << note << "\n";
  loki::LoadOptions lo;
  lo.threads = o.threads;
  loki::LintSession session(eo, lo);
  for (const auto& file : inputs.files) {
    session.add_file(file);
  }
  loki::LintResult r = session.finish();
  if (verbose)
    for (const auto& s : r.skipped)
      std::cerr << "loki-audit: " << s.file << ":" << s.line << ": skipped, " << s.reason << "\n";
  int agents = check_agents_found(o, eo, r.summary, "in the input");
  int rc;
  if (o.format == "report") {
    std::vector<loki::Finding> findings;
    findings.reserve(r.findings.size());
    for (std::size_t i = 0; i < r.findings.size(); ++i) findings.push_back(r.findings[i]);
    rc = emit_policy_reports(o, eo, std::move(findings), r.subjects);
  } else {
    rc = emit_report(o, r.findings, r.summary, r.subjects);
  }
  return rc == kExitOk ? agents : rc;
}

std::string_view subject_name(loki::RuleSubject s) {
  switch (s) {
    case loki::RuleSubject::pod_template:
      return "pod template";
    case loki::RuleSubject::policy:
      return "NetworkPolicy";
    default:
      return "manifest";
  }
}

int run_rules(const std::string& format) {
  const loki::Config defaults;
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : loki::all_rules()) {
      nlohmann::json refs = nlohmann::json::array();
      for (const auto& ref : r.references) refs.push_back({{"title", ref.title}, {"url", ref.url}});
      arr.push_back({{"id", r.id},
                     {"severity", loki::to_string(r.severity)},
                     {"description", r.description},
                     {"remediation", r.remediation},
                     {"subject", subject_name(r.subject)},
                     {"webhookDefault", loki::to_string(defaults.action_of(r.id))},
                     {"patchable", r.fix != nullptr},
                     {"egressOpen", r.egress_open},
                     {"enabledByDefault", r.enabled_by_default},
                     {"references", std::move(refs)}});
    }
    std::cout << arr.dump(2) << "\n";
    return kExitOk;
  }
  if (format == "markdown") {  // the README's rules table (scripts/gen-docs.sh)
    std::cout << "| id | severity | what it catches |\n|---|---|---|\n";
    for (const auto& r : loki::all_rules())
      std::cout << "| `" << r.id << "` | " << loki::to_string(r.severity) << " | " << r.summary << " |\n";
    return kExitOk;
  }
  if (format == "policy-markdown") {  // the chart README's policy table (scripts/gen-docs.sh)
    std::cout << "| id | severity | about | webhook default | description |\n|---|---|---|---|---|\n";
    for (const auto& r : loki::all_rules())
      std::cout << "| `" << r.id << "` | " << loki::to_string(r.severity) << " | " << subject_name(r.subject) << " | "
                << (r.enabled_by_default ? "" : "off; when on: ") << loki::to_string(defaults.action_of(r.id)) << " | "
                << r.description << " |\n";
    return kExitOk;
  }
  for (const auto& r : loki::all_rules()) {
    std::cout << r.id << " (" << loki::to_string(r.severity) << (r.enabled_by_default ? "" : ", off by default")
              << ")\n  " << r.description << "\n  fix: " << r.remediation << "\n";
    for (const auto& ref : r.references) std::cout << "  docs: " << ref.title << ": " << ref.url << "\n";
  }
  return kExitOk;
}

// Installed as kubectl-loki_audit (a symlink), loki-audit is the kubectl plugin
// `kubectl loki-audit`: same behaviour, only the help names it that way.
std::string program_name(const char* argv0) {
  std::string base = argv0 ? std::filesystem::path(argv0).filename().string() : "";
  if (base.starts_with("kubectl-")) {
    std::string cmd = base.substr(8);
    std::replace(cmd.begin(), cmd.end(), '_', '-');  // kubectl maps `kubectl a-b` to kubectl-a_b
    return "kubectl " + cmd;
  }
  return "loki-audit";
}

#if defined(LOKI_ALLOCATOR_MIMALLOC)
// mimalloc's `new` aborts the process with no word of why when memory runs
// out (Debian's libmimalloc does not see std::set_new_handler); glibc's throws
// std::bad_alloc, caught in main. Either way the user gets the reason and exit 2.
void out_of_memory(int err, void* /*arg*/) {
  if (err != ENOMEM) return;  // anything else: mimalloc's own message, as before
  (void)!::write(STDERR_FILENO, kOutOfMemory, sizeof kOutOfMemory - 1);  // no allocation from here on
  std::_Exit(kExitUsage);
}
#endif

}  // namespace

int main(int argc, char** argv) {
#if defined(LOKI_ALLOCATOR_MIMALLOC)
  mi_register_error(out_of_memory, nullptr);
#endif
  const std::string prog = program_name(argc > 0 ? argv[0] : nullptr);
  CLI::App app{
      "loki-audit: checks that AI coding-agent (loki-mode) pods are locked down.\n"
      "  " +
          prog +
          " --namespace NS | -A     audit the live cluster (kubeconfig as kubectl)\n"
          "  " +
          prog +
          " lint FILE|DIR|-          lint manifests before deploy\n"
          "  " +
          prog +
          " netmap -n NS FILE|--cluster  a namespace's reachability (text, json, dot)\n"
          "Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or I/O error.",
      prog};
  app.set_version_flag("--version", std::string("loki-audit ") + LOKI_VERSION);
  app.require_subcommand(0, 1);

  // The cluster audit is the top-level command (`loki-audit --namespace loki`).
  CommonOptions cluster_common;
  ClusterOptions cluster_opts;
  add_common(app, cluster_common);
  app.add_option("-n,--namespace", cluster_common.ns,
                 "Namespace to audit (default: the context's namespace, else default)");
  add_cluster_options(app, cluster_opts);

  CommonOptions lint_opts;
  std::vector<std::string> paths;
  auto* lint = app.add_subcommand("lint", "Lint manifests: files, directories (recursive) or - for stdin");
  add_common(*lint, lint_opts);
  lint->add_option("-n,--namespace", lint_opts.ns, "Namespace for objects that do not set one (default: default)");
  lint->add_option("paths", paths, "Files, directories or - (stdin)")->required();
  bool lint_verbose = false;
  lint->add_flag("-v,--verbose", lint_verbose,
                 "List the documents skipped as not Kubernetes objects (other YAML: CI workflows, Helm values, ...) "
                 "on stderr");

  std::string rules_format = "text";
  auto* rules = app.add_subcommand("rules", "List the rules with their ids, severities and remediations");
  rules->add_option("-f,--format", rules_format, "text, json, markdown (README table) or policy-markdown (chart docs)")
      ->check(CLI::IsMember({"text", "json", "markdown", "policy-markdown"}));

  loki_audit::ExplainOptions explain_opts;
  auto* explain = loki_audit::add_explain_command(app, explain_opts);
  loki_audit::NetmapOptions netmap_opts;
  auto* netmap = loki_audit::add_netmap_command(app, netmap_opts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  try {
    if (*lint) return run_lint(lint_opts, paths, lint_verbose);
    if (*rules) return run_rules(rules_format);
    if (*explain) return loki_audit::run_explain(explain_opts);
    if (*netmap) return loki_audit::run_netmap(netmap_opts);
    return run_cluster_audit(cluster_common, cluster_opts);
  } catch (const loki::KubeError& e) {
    std::cerr << "loki-audit: " << e.what() << "\n";
    return kExitUsage;
  } catch (const loki::SelectorError& e) {
    std::cerr << "loki-audit: " << e.what() << "\n";
    return kExitUsage;
  } catch (const loki::ConfigError& e) {
    std::cerr << "loki-audit: config: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << kOutOfMemory;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "loki-audit: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitUsage;
}
