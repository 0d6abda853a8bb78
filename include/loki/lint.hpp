// A lint run over manifest texts: parse each document (in parallel), check it,
// keep only its findings, so memory stays flat however many objects come in.
#pragma once

#include <loki/engine.hpp>
#include <loki/finding_store.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>
#include <loki/pipeline.hpp>
#include <loki/report.hpp>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

struct LintResult {
  FindingStore findings;  // sorted; compact (a Finding is rebuilt per access)
  ReportSummary summary;
  std::vector<SkippedDocument> skipped;  // documents that are not Kubernetes objects, by file and line
  std::vector<ObjectRef> subjects;       // agent objects checked (EngineOptions::record_subjects)
};

class LintSession {
 public:
  explicit LintSession(EngineOptions opts, LoadOptions load = {});

  // Checks every document of one input (a file's contents; `name` is what
  // findings call the file). Thread-safe with respect to itself.
  void add_text(std::string_view text, const std::string& name);
  // Lints a file ("-" = stdin) without holding all of its text: mapped, and
  // each document's pages released once it has been checked.
  void add_file(const std::string& path);

  // Finishes the run: cross-object analysis (the network pass), sorting, summary.
  // Releases the inventory (call inventory() before finish()).
  LintResult finish();

  // What the network pass sees: policies, namespaces and a compact record of
  // every pod template added so far (sorted by file and line).
  const netpol::Inventory& inventory();

  const EngineOptions& options() const { return pipeline_.options(); }

 private:
  Pipeline pipeline_;  // checks, inventory, network pass, ordering
  LoadOptions load_;
  std::mutex mu_;  // the session's own state below
  std::uint32_t inputs_ = 0;
  std::vector<SkippedDocument> skipped_;
  ReportSummary summary_;
};

}  // namespace loki
