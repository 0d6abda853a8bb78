// The one pipeline behind lint, the cluster audit, explain/netmap and the
// webhook: objects in (parsed documents or live objects), per-object checks
// and the network record of each, then the network pass over everything,
// switched-off rules dropped and the findings ordered. Callers keep only
// their I/O (reading files, listing the cluster, answering a review).
#pragma once

#include <loki/engine.hpp>
#include <loki/finding_store.hpp>
#include <loki/netpol.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace loki {

// One unit of input (a document, an input file, a cluster listing), filled
// without the pipeline's lock and merged by Pipeline::submit, so parallel
// parsing never contends on one inventory.
struct PipelineBatch {
  std::vector<Finding> findings;
  netpol::Inventory inventory;
  std::size_t objects = 0;        // objects checked
  std::size_t agent_pods = 0;     // of which carry an agent (loki-mode) pod template
  std::size_t pod_templates = 0;  // objects with a pod template, agent or not
  // ServiceAccounts with automountServiceAccountToken: false ("ns/name"), and
  // the service-account-token findings one of them may settle (the pod does
  // not set the field): resolved in finish(), once every input is read.
  std::set<std::string> token_opt_outs;
  struct DefaultToken {
    ObjectRef object;
    std::string file;
    std::string service_account;  // "ns/name"
  };
  std::vector<DefaultToken> default_tokens;
  std::vector<ObjectRef> subjects;  // those objects, with EngineOptions::record_subjects
  // The namespace of records without one (empty: the pipeline's default), for
  // listings of another namespace than the run's.
  std::string default_namespace;
};

class Pipeline {
 public:
  using Sink = std::function<void(Finding&&)>;

  explicit Pipeline(EngineOptions opts);

  const EngineOptions& options() const { return opts_; }

  // Checks one object (manifest validity, pod rules, ignore annotations),
  // counts it in `batch` and records what the network pass needs there.
  // Const: many threads may check at once, each into its own batch.
  std::vector<Finding> check(const Object& object, PipelineBatch& batch) const;
  // Only the network record: objects that are context, not subjects (a live
  // policy or namespace, the cluster around an admitted pod).
  void record(const Object& object, PipelineBatch& batch) const;
  // A loader error as an invalid-manifest finding.
  Finding load_error(const LoadError& e) const;

  // Thread-safe. `order` breaks ties of the sort key (see FindingStore::add).
  void add(std::vector<Finding>&& findings, std::uint64_t order);
  void add(Finding&& finding, std::uint64_t order);
  void reserve_findings(std::size_t more);
  // Merges a batch: its findings (at `order`), inventory and counts.
  void submit(PipelineBatch&& batch, std::uint64_t order);

  std::size_t agent_pods() const { return agent_pods_; }
  std::size_t objects() const { return objects_; }
  std::size_t pod_templates() const { return pod_templates_; }
  // The agent objects checked (EngineOptions::record_subjects), in submit order.
  std::vector<ObjectRef> take_subjects();

  // What the network pass sees, sorted by file and line (explain, netmap).
  const netpol::Inventory& inventory();
  // The network pass alone, each finding to `sink` (unsorted): for callers
  // that place the findings themselves (the audit on owners, the webhook on
  // one pod). sort_inventory false keeps the order records came in.
  void network(const Sink& sink, bool sort_inventory = true);
  // The whole run: the network pass (its findings at `network_order`), rules
  // the config switched off dropped, sorted. Releases the inventory.
  FindingStore finish(std::uint64_t network_order);

 private:
  EngineOptions opts_;
  std::mutex mu_;
  FindingStore findings_;
  netpol::Inventory inventory_;
  std::size_t objects_ = 0;
  std::size_t agent_pods_ = 0;
  std::size_t pod_templates_ = 0;
  std::vector<ObjectRef> subjects_;
  std::set<std::string> token_opt_outs_;
  std::vector<PipelineBatch::DefaultToken> default_tokens_;
};

}  // namespace loki
