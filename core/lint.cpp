#include <loki/lint.hpp>
#include <loki/network_checks.hpp>
#include <loki/podspec.hpp>
#include <loki/rules.hpp>

#include <algorithm>
#include <atomic>
#include <tuple>

namespace loki {

namespace {
// Moves every finding into `into`, reserving once and freeing each source as
// it goes, so peak memory holds the findings once, not twice.
void append_all(std::vector<Finding>& into, std::vector<std::vector<Finding>>& parts) {
  std::size_t total = into.size();
  for (const auto& p : parts) total += p.size();
  into.reserve(total);
  for (auto& p : parts) {
    into.insert(into.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    std::vector<Finding>().swap(p);
  }
}
}  // namespace

LintSession::LintSession(EngineOptions opts, LoadOptions load) : opts_(std::move(opts)), load_(load) {}

void LintSession::add_text(std::string_view text, const std::string& name) {
  std::vector<std::vector<Finding>> per_doc;
  std::mutex mu;
  std::atomic<std::size_t> objects{0}, pods{0};
  std::size_t documents_with_content = 0;
  std::vector<SkippedDocument> skipped;
  netpol::Inventory inventory;  // this input's share of the network inventory
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
        if (per_doc.size() <= index) per_doc.resize(index + 1);
        per_doc[index] = std::move(found);
      },
      load_);
  std::vector<Finding> all;
  append_all(all, per_doc);
  if (documents_with_content == 0) {
    // An empty file is almost always a mistake (a failed render, a truncated
    // write). A file of other YAML (documents skipped) is not empty.
    LoadError e;
    e.file = name;
    e.line = 1;
    e.message = "file contains no Kubernetes objects (empty, or only comments)";
    all.push_back(finding_from_load_error(e, opts_));
  }
  std::lock_guard lk(mu_);
  summary_.files += 1;
  summary_.objects += objects;
  summary_.pods_checked += pods;
  summary_.documents_skipped += skipped.size();
  per_input_.push_back(std::move(all));
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
  per_input_.push_back(check_network(inventory_, opts_.config));
  inventory_ = netpol::Inventory{};  // done with it: free the per-pod records before gathering findings
  append_all(r.findings, per_input_);
  per_input_.clear();
  // Drop findings for rules the config switched off (e.g. invalid-manifest).
  std::erase_if(r.findings, [&](const Finding& f) { return !opts_.config.rule_enabled(f.rule); });
  sort_findings(r.findings);
  r.summary = summary_;
  r.skipped = std::move(skipped_);
  skipped_.clear();
  std::stable_sort(r.skipped.begin(), r.skipped.end(), [](const SkippedDocument& a, const SkippedDocument& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return r;
}

}  // namespace loki
