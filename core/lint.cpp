#include <loki/lint.hpp>
#include <loki/network_checks.hpp>
#include <loki/podspec.hpp>
#include <loki/rules.hpp>

#include <algorithm>
#include <atomic>
#include <tuple>

namespace loki {

namespace {
// Lower bounds of the text a pod template or a finding takes, for reserving.
constexpr std::size_t kMinBytesPerPod = 256;
constexpr std::size_t kMinBytesPerFinding = 96;
// Ties in the sort key keep the order of production: input, then document.
std::uint64_t order_of(std::uint32_t input, std::size_t document) {
  return (std::uint64_t{input} << 32) | static_cast<std::uint32_t>(document);
}
}  // namespace

LintSession::LintSession(EngineOptions opts, LoadOptions load) : opts_(std::move(opts)), load_(std::move(load)) {}

void LintSession::add_file(const std::string& path) {
  InputText in = InputText::open(path);
  LoadOptions saved = load_;
  load_.done = [&in](std::string_view part) { in.release(part); };
  try {
    add_text(in.text(), path == "-" ? "<stdin>" : path);
  } catch (...) {
    load_ = saved;
    throw;
  }
  load_ = saved;
}

void LintSession::add_text(std::string_view text, const std::string& name) {
  std::uint32_t input;
  {
    std::lock_guard lk(mu_);
    input = inputs_++;
  }
  std::mutex mu;
  std::atomic<std::size_t> objects{0}, pods{0};
  std::size_t documents_with_content = 0;
  std::vector<SkippedDocument> skipped;
  netpol::Inventory inventory;  // this input's share of the network inventory
  // Reserve for the most pod templates and findings the text could hold: the
  // vectors never reallocate (a reallocation holds old and new copies at
  // once), and pages of the reservation that are never written are never
  // resident.
  inventory.pods.reserve(text.size() / kMinBytesPerPod + 16);
  {
    std::lock_guard lk(mu_);
    findings_.reserve(findings_.size() + text.size() / kMinBytesPerFinding + 64);
  }
  for_each_document(
      text, name,
      [&](std::size_t index, DocumentResult&& doc) {
        std::vector<Finding> found;
        netpol::Inventory doc_inventory;
        for (const auto& e : doc.errors) found.push_back(finding_from_load_error(e, opts_));
        for (const auto& o : doc.objects) {
          ++objects;
          auto pod = find_pod_template(o.json);
          if (pod && is_agent_pod(opts_.config, *pod)) ++pods;
          auto f = check_object(o, opts_);
          found.insert(found.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
          // Keep only the compact network record (a few labels, ports, lines), not the object.
          doc_inventory.add(o, opts_.config, opts_.default_namespace);
        }
        std::lock_guard lk(mu);
        inventory.merge(std::move(doc_inventory));
        if (!doc.objects.empty() || !doc.errors.empty() || !doc.skipped.empty()) ++documents_with_content;
        skipped.insert(skipped.end(), std::make_move_iterator(doc.skipped.begin()),
                       std::make_move_iterator(doc.skipped.end()));
        std::lock_guard session(mu_);  // compacted as they come: the findings of a big file never pile up
        findings_.add(std::move(found), order_of(input, index));
      },
      load_);
  if (documents_with_content == 0) {
    // An empty file is almost always a mistake (a failed render, a truncated
    // write). A file of other YAML (documents skipped) is not empty.
    LoadError e;
    e.file = name;
    e.line = 1;
    e.message = "file contains no Kubernetes objects (empty, or only comments)";
    std::lock_guard lk(mu_);
    findings_.add(finding_from_load_error(e, opts_), order_of(input, 0));
  }
  std::lock_guard lk(mu_);
  summary_.files += 1;
  summary_.objects += objects;
  summary_.pods_checked += pods;
  summary_.documents_skipped += skipped.size();
  skipped_.insert(skipped_.end(), std::make_move_iterator(skipped.begin()), std::make_move_iterator(skipped.end()));
  inventory_.merge(std::move(inventory));
}

const netpol::Inventory& LintSession::inventory() {
  std::lock_guard lk(mu_);
  inventory_.sort();
  return inventory_;
}

LintResult LintSession::finish() {
  LintResult r;
  std::lock_guard lk(mu_);
  // The network pass: cross-object, over everything the inputs contained.
  inventory_.sort();
  check_network(inventory_, opts_.config, [&](Finding&& f) { findings_.add(std::move(f), order_of(inputs_, 0)); });
  inventory_ = netpol::Inventory{};  // done with it: free the per-pod records
  // Drop findings for rules the config switched off (e.g. invalid-manifest).
  findings_.keep_if([&](std::string_view rule) { return opts_.config.rule_enabled(rule); });
  findings_.sort();
  r.findings = std::move(findings_);
  findings_ = FindingStore{};
  r.summary = summary_;
  r.skipped = std::move(skipped_);
  skipped_.clear();
  std::stable_sort(r.skipped.begin(), r.skipped.end(), [](const SkippedDocument& a, const SkippedDocument& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return r;
}

}  // namespace loki
