#include <loki/network_checks.hpp>
#include <loki/pipeline.hpp>
#include <loki/podspec.hpp>

#include <algorithm>
#include <thread>
#include <utility>

namespace loki {

Pipeline::Pipeline(EngineOptions opts) : opts_(std::move(opts)) {}

std::vector<Finding> Pipeline::check(const Object& object, PipelineBatch& batch) const {
  ++batch.objects;
  auto pod = find_pod_template(object.json);
  if (pod) ++batch.pod_templates;
  if (pod && is_agent_pod(opts_.cfg(), *pod)) {
    ++batch.agent_pods;
    if (opts_.record_subjects) batch.subjects.push_back(object.ref(opts_.default_namespace));
  }
  if (auto sa = service_account_opting_out(object, opts_.default_namespace)) batch.token_opt_outs.insert(*sa);
  auto found = check_object(object, opts_);
  if (pod && !pod_sets_token_automount(*pod))
    for (const auto& f : found)
      if (f.rule == "service-account-token") {
        ObjectRef ref = object.ref(opts_.default_namespace);
        batch.default_tokens.push_back({ref, object.file, service_account_key(*pod, ref.ns)});
        break;
      }
  // Keep only the compact network record (a few labels, ports, lines), not the object.
  record(object, batch);
  return found;
}

void Pipeline::record(const Object& object, PipelineBatch& batch) const {
  const std::string& ns = batch.default_namespace.empty() ? opts_.default_namespace : batch.default_namespace;
  batch.inventory.add(object, opts_.cfg(), ns);
}

Finding Pipeline::load_error(const LoadError& e) const {
  return finding_from_load_error(e, opts_);
}

void Pipeline::add(std::vector<Finding>&& findings, std::uint64_t order) {
  std::lock_guard lk(mu_);
  findings_.add(std::move(findings), order);
}

void Pipeline::add(Finding&& finding, std::uint64_t order) {
  std::lock_guard lk(mu_);
  findings_.add(std::move(finding), order);
}

void Pipeline::reserve_findings(std::size_t more) {
  std::lock_guard lk(mu_);
  findings_.reserve(findings_.size() + more);
}

void Pipeline::submit(PipelineBatch&& batch, std::uint64_t order) {
  std::lock_guard lk(mu_);
  if (!batch.findings.empty()) findings_.add(std::move(batch.findings), order);
  inventory_.merge(std::move(batch.inventory));
  objects_ += batch.objects;
  agent_pods_ += batch.agent_pods;
  pod_templates_ += batch.pod_templates;
  token_opt_outs_.merge(batch.token_opt_outs);
  default_tokens_.insert(default_tokens_.end(), std::make_move_iterator(batch.default_tokens.begin()),
                         std::make_move_iterator(batch.default_tokens.end()));
  subjects_.insert(subjects_.end(), std::make_move_iterator(batch.subjects.begin()),
                   std::make_move_iterator(batch.subjects.end()));
}

std::vector<ObjectRef> Pipeline::take_subjects() {
  std::lock_guard lk(mu_);
  return std::exchange(subjects_, {});
}

const netpol::Inventory& Pipeline::inventory() {
  std::lock_guard lk(mu_);
  inventory_.sort();
  return inventory_;
}

void Pipeline::network(const Sink& sink, bool sort_inventory) {
  std::lock_guard lk(mu_);
  if (sort_inventory) inventory_.sort();
  check_network(inventory_, opts_.cfg(), sink, 1, opts_.pod_rules_only);
}

FindingStore Pipeline::finish(std::uint64_t network_order) {
  std::lock_guard lk(mu_);
  // A pod that leaves automountServiceAccountToken unset takes its
  // ServiceAccount's value: no token is mounted where that is false. Settled
  // before the network pass (which reports no service-account-token finding),
  // so the pass's peak memory does not hold these records too.
  std::set<std::string> settled;  // object display + file
  for (const auto& d : default_tokens_)
    if (token_opt_outs_.count(d.service_account)) settled.insert(d.object.display() + "\x1f" + d.file);
  if (!settled.empty())
    findings_.erase_if_rule("service-account-token",
                            [&](const Finding& f) { return settled.count(f.object.display() + "\x1f" + f.file) > 0; });
  settled.clear();
  default_tokens_ = {};
  token_opt_outs_.clear();
  inventory_.sort();
  // Findings of the network rules share one `order`: only findings of the same
  // rule can tie in the sort, and each rule keeps its own production order
  // whatever the threads (check_network), so the sorted result is the same.
  check_network(
      inventory_, opts_.cfg(), [&](Finding&& f) { findings_.add(std::move(f), network_order); }, opts_.threads,
      opts_.pod_rules_only);
  inventory_ = netpol::Inventory{};  // done with it: free the per-pod records
  // Drop findings for rules the config switched off (e.g. invalid-manifest).
  findings_.keep_if([&](std::string_view rule) { return opts_.cfg().rule_enabled(rule); });
  findings_.sort(opts_.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : opts_.threads);
  FindingStore out = std::move(findings_);
  findings_ = FindingStore{};
  return out;
}

}  // namespace loki
