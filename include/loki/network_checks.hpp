// The network pass: NetworkPolicy / CiliumNetworkPolicy findings over an
// inventory of policies, namespaces and pod templates (a manifest set in
// lint, live objects in the cluster audit). Pure functions, no I/O.
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/netpol.hpp>

#include <functional>
#include <vector>

namespace loki {

// Runs every network rule the config enables. Findings name the workload (pod
// findings) or the policy (policy findings), with file, line and field; rule
// severities come from the config; ignore annotations on that object are
// honoured. Unsorted.
std::vector<Finding> check_network(const netpol::Inventory& inventory, const Config& config);
// The same, handing each finding to `sink` as it is made (the linter compacts
// them at once instead of holding tens of thousands as std::strings).
// `threads` > 1 (0: one per core) analyses the pods in parallel chunks and
// runs the rules side by side, each rule whole on one thread: `sink` is then
// called from several threads, one call at a time, each rule's findings in
// the order the rule makes them (findings of different rules interleave).
// The default, one, starts no thread (the webhook calls this per review).
// pod_rules_only: only the rules whose subject is a pod template run.
void check_network(const netpol::Inventory& inventory, const Config& config, const std::function<void(Finding&&)>& sink,
                   unsigned threads = 1, bool pod_rules_only = false);

}  // namespace loki
