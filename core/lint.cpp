#include <loki/lint.hpp>

#include <algorithm>
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

namespace {
// The network pass runs on as many threads as the parse (--threads).
EngineOptions with_threads(EngineOptions opts, unsigned threads) {
  opts.threads = threads;
  return opts;
}
}  // namespace

LintSession::LintSession(EngineOptions opts, LoadOptions load)
    : pipeline_(with_threads(std::move(opts), load.threads)), load_(std::move(load)) {
  load_.skip_unread = true;  // objects are checked and dropped: nothing else reads them
}

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
  std::size_t documents_with_content = 0;
  std::vector<SkippedDocument> skipped;
  PipelineBatch batch;  // this input's share of the network inventory, and its counts
  // Reserve for the most pod templates and findings the text could hold: the
  // vectors never reallocate (a reallocation holds old and new copies at
  // once), and pages of the reservation that are never written are never
  // resident.
  batch.inventory.pods.reserve(text.size() / kMinBytesPerPod + 16);
  pipeline_.reserve_findings(text.size() / kMinBytesPerFinding + 64);
  for_each_document(
      text, name,
      [&](std::size_t index, DocumentResult&& doc) {
        PipelineBatch doc_batch;
        std::vector<Finding> found;
        for (const auto& e : doc.errors) found.push_back(pipeline_.load_error(e));
        for (const auto& o : doc.objects) {
          auto f = pipeline_.check(o, doc_batch);
          found.insert(found.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
        }
        std::lock_guard lk(mu);
        // Pod records appended into the reservation above: Inventory::merge
        // takes an empty side's vector whole, which dropped the reservation
        // and regrew the records by doubling (old and new copies at once).
        for (auto& p : doc_batch.inventory.pods) batch.inventory.pods.push_back(std::move(p));
        doc_batch.inventory.pods.clear();
        batch.inventory.merge(std::move(doc_batch.inventory));
        batch.objects += doc_batch.objects;
        batch.agent_pods += doc_batch.agent_pods;
        batch.pod_templates += doc_batch.pod_templates;
        batch.token_opt_outs.merge(doc_batch.token_opt_outs);
        batch.default_tokens.insert(batch.default_tokens.end(),
                                    std::make_move_iterator(doc_batch.default_tokens.begin()),
                                    std::make_move_iterator(doc_batch.default_tokens.end()));
        batch.subjects.insert(batch.subjects.end(), std::make_move_iterator(doc_batch.subjects.begin()),
                              std::make_move_iterator(doc_batch.subjects.end()));
        if (!doc.objects.empty() || !doc.errors.empty() || !doc.skipped.empty()) ++documents_with_content;
        skipped.insert(skipped.end(), std::make_move_iterator(doc.skipped.begin()),
                       std::make_move_iterator(doc.skipped.end()));
        // Compacted as they come: the findings of a big file never pile up.
        pipeline_.add(std::move(found), order_of(input, index));
      },
      load_);
  if (documents_with_content == 0) {
    // An empty file is almost always a mistake (a failed render, a truncated
    // write). A file of other YAML (documents skipped) is not empty.
    LoadError e;
    e.file = name;
    e.line = 1;
    e.message = "file contains no Kubernetes objects (empty, or only comments)";
    pipeline_.add(pipeline_.load_error(e), order_of(input, 0));
  }
  std::lock_guard lk(mu_);
  summary_.files += 1;
  summary_.objects += batch.objects;
  summary_.pods_checked += batch.agent_pods;
  summary_.pod_templates += batch.pod_templates;
  summary_.documents_skipped += skipped.size();
  skipped_.insert(skipped_.end(), std::make_move_iterator(skipped.begin()), std::make_move_iterator(skipped.end()));
  pipeline_.submit(std::move(batch), order_of(input, 0));
}

const netpol::Inventory& LintSession::inventory() {
  return pipeline_.inventory();
}

LintResult LintSession::finish() {
  LintResult r;
  std::lock_guard lk(mu_);
  r.findings = pipeline_.finish(order_of(inputs_, 0));
  r.summary = summary_;
  r.skipped = std::move(skipped_);
  r.subjects = pipeline_.take_subjects();
  skipped_.clear();
  std::stable_sort(r.skipped.begin(), r.skipped.end(), [](const SkippedDocument& a, const SkippedDocument& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return r;
}

}  // namespace loki
