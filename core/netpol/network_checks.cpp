// The network pass: analyse every pod once, then run each network rule.
#include <loki/network_checks.hpp>
#include <loki/podspec.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <loki/rules.hpp>
#include <mutex>
#include <thread>

#include "checks/net_check.hpp"

namespace loki {

namespace netpol::checks {

// ---- shared helpers ---------------------------------------------------------------

std::string dotted(std::string_view pointer) {
  std::string s;
  for (char c : pointer.substr(pointer.empty() || pointer[0] != '/' ? 0 : 1)) s += c == '/' ? '.' : c;
  return s;
}

std::string names_of(const std::vector<const Policy*>& policies, std::size_t max) {
  std::string s;
  for (std::size_t i = 0; i < policies.size() && i < max; ++i) s += (i ? ", " : "") + policies[i]->display();
  if (policies.size() > max) s += " and " + std::to_string(policies.size() - max) + " more";
  return s;
}

std::string names_of(const std::vector<const PodInfo*>& pods, std::size_t max) {
  std::string s;
  for (std::size_t i = 0; i < pods.size() && i < max; ++i) s += (i ? ", " : "") + pods[i]->ref.display();
  if (pods.size() > max) s += " and " + std::to_string(pods.size() - max) + " more";
  return s;
}

std::string ports_text(const std::vector<PortSpec>& ports) {
  std::string s;
  for (const auto& p : ports) {
    if (p.all_ports() && !p.protocol) return "every port";
    s += (s.empty() ? "" : ", ") + p.to_string();
  }
  return s.empty() ? "no port" : s;
}

bool is_dns_port(const PortSpec& p) {
  if (!p.name.empty()) return p.name == "dns" || p.name == "dns-tcp";
  return p.port == 53 && (p.end_port == 0 || p.end_port == 53);
}

const std::vector<IpAddress>& metadata_addresses() {
  static const std::vector<IpAddress> a = {*IpAddress::parse("169.254.169.254"), *IpAddress::parse("fd00:ec2::254")};
  return a;
}

std::vector<const Policy*> missing_egress_policies(const NetContext& ctx, const PodInfo& pod) {
  std::vector<const Policy*> out;
  for (const Policy* p : ctx.analyzer.policies_for(pod.ns)) {
    if (!p->egress || !p->egress_default_deny || ctx.analyzer.selects(*p, pod)) continue;
    // A clusterwide policy whose namespace part excludes the pod's namespace is no near miss.
    if (p->flavor == Policy::Flavor::cilium_clusterwide && p->namespace_selector &&
        !p->namespace_selector->matches(ctx.inventory.namespaces.labels_of(pod.ns)))
      continue;
    out.push_back(p);
  }
  return out;
}

bool is_shadowed(const NetContext& ctx, const PodInfo& pod) {
  const PodNetwork& net = ctx.net_of(pod);
  return pod.loki && net->policies_apply && !net->egress_isolated && !net->selecting.empty() &&
         !missing_egress_policies(ctx, pod).empty();
}

std::string Probe::text() const {
  return dest.to_string() + " on " + std::string(to_string(protocol)) + "/" + std::to_string(port);
}

std::vector<Probe> rule_probes(const NetContext& ctx, const Policy& p, const EgressRule& rule, const PodInfo& from) {
  std::vector<std::pair<Protocol, int>> ports;
  for (const auto& s : rule.ports) {
    if (!s.name.empty()) continue;
    const Protocol proto = s.protocol.value_or(Protocol::TCP);
    ports.push_back({proto, s.port != 0 ? s.port : 443});
  }
  std::vector<Probe> out;
  for (const auto& peer : rule.to) {
    std::vector<Destination> dests;
    switch (peer.kind) {
      case Peer::Kind::pods:
        for (const PodInfo* q : ctx.analyzer.pods_of_peer(p, peer))
          if (q != &from || from.ref.kind != "Pod") {  // replicas of a workload are other pods
            dests.push_back(Destination::to_pod(*q));
            break;
          }
        break;
      case Peer::Kind::ip_block:
        dests.push_back(Destination::address(peer.cidr.base));
        break;
      case Peer::Kind::domain:
        dests.push_back(Destination::hostname(peer.fqdn_pattern ? "www." + peer.fqdn : peer.fqdn));
        break;
      case Peer::Kind::any:
        dests.push_back(Destination::address(*IpAddress::parse("1.1.1.1")));
        break;
      default:
        break;
    }
    for (const auto& d : dests)
      for (const auto& [proto, port] : ports) out.push_back(Probe{d, port, proto});
  }
  return out;
}

std::vector<Probe> egress_probes(const NetContext& ctx, const PodInfo& pod, const PodNetwork& net) {
  std::vector<Probe> out;
  std::vector<std::pair<Protocol, int>> ports = {{Protocol::TCP, 443}, {Protocol::TCP, 80}};
  auto add_rules = [&](const Policy* p) {
    for (const auto& r : p->egress_rules) {
      for (auto& pr : rule_probes(ctx, *p, r, pod)) out.push_back(std::move(pr));
      for (const auto& s : r.ports)
        if (s.name.empty() && s.port != 0) ports.push_back({s.protocol.value_or(Protocol::TCP), s.port});
    }
  };
  for (const Policy* p : net->admin) add_rules(p);
  for (const Policy* p : net->baseline) add_rules(p);
  for (const Policy* p : net->egress_policies) add_rules(p);
  const Destination world[] = {Destination::address(*IpAddress::parse("1.1.1.1")),
                               Destination::address(*IpAddress::parse("2606:4700:4700::1111")),
                               Destination::hostname("example.com")};
  for (const auto& d : world)
    for (const auto& [proto, port] : ports) out.push_back(Probe{d, port, proto});
  for (const PodInfo* q : ctx.analyzer.pods_in(pod.ns))
    if (q != &pod || pod.ref.kind != "Pod") {
      for (const auto& [proto, port] : ports) out.push_back(Probe{Destination::to_pod(*q), port, proto});
      break;
    }
  return out;
}

bool host_network_selected(const NetContext& ctx, const PodInfo& pod) {
  return pod.host_network && !ctx.net_of(pod)->selecting.empty();
}

}  // namespace netpol::checks

namespace {

// Runs task(i) for i in [0, n) on `threads` workers (the caller among them),
// each taking the next index.
template <class Task>
void run_parallel(std::size_t n, unsigned threads, const Task& task) {
  if (threads <= 1 || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) task(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) task(i);
    } catch (...) {
      std::lock_guard lk(error_mu);
      if (!error) error = std::current_exception();
      next = n;  // the others stop after their current task
    }
  };
  std::vector<std::jthread> pool;
  const auto extra = static_cast<unsigned>(std::min<std::size_t>(threads, n)) - 1;
  for (unsigned t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  pool.clear();  // joins
  if (error) std::rethrow_exception(error);
}

}  // namespace

void check_network(const netpol::Inventory& inv, const Config& config, const std::function<void(Finding&&)>& sink,
                   unsigned threads, bool pod_rules_only) {
  using namespace netpol;
  using namespace netpol::checks;
  // The network rules of the registry, in the order the pass runs them.
  static const std::vector<const Rule*> rules = [] {
    std::vector<const Rule*> r;
    for (const auto& rule : all_rules())
      if (rule.network_check) r.push_back(&rule);
    std::stable_sort(r.begin(), r.end(),
                     [](const Rule* a, const Rule* b) { return a->network_order < b->network_order; });
    return r;
  }();
  std::vector<const Rule*> enabled;
  for (const Rule* rule : rules)
    if ((!pod_rules_only || rule->subject != RuleSubject::policy) && config.rule_enabled(*rule))
      enabled.push_back(rule);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  // On several threads the longest rules start first, so the others fill the
  // other threads meanwhile (perf at 100k generated objects:
  // egress-policy-mismatch ran 0.3 s alone after the rest had finished). The
  // sorted output is the same: each rule's findings keep their own order. One
  // thread keeps the registry's order (the webhook does not sort).
  if (threads > 1)
    std::stable_partition(enabled.begin(), enabled.end(), [](const Rule* r) {
      return r->id == "egress-policy-mismatch" || r->id == "metadata-endpoint-reachable";
    });
  if (enabled.empty() || (inv.policies.empty() && inv.pods.empty())) return;

  // Analyzer's only caches (pods of a peer, labels of an unknown namespace)
  // are locked, so analyze() runs on a const Analyzer from every worker.
  Analyzer analyzer(inv);
  std::vector<PodNetwork> nets(inv.pods.size());
  constexpr std::size_t kPodsPerTask = 256;
  run_parallel((inv.pods.size() + kPodsPerTask - 1) / kPodsPerTask, threads, [&](std::size_t chunk) {
    const std::size_t end = std::min(inv.pods.size(), (chunk + 1) * kPodsPerTask);
    for (std::size_t i = chunk * kPodsPerTask; i < end; ++i) nets[i] = analyzer.analyze(inv.pods[i]);
  });
  // Built in pod order after the analysis, as when it ran serially.
  // Counted first and sized exactly: kept to the end of the pass.
  std::unordered_map<const Policy*, std::vector<const PodInfo*>> selected_by;
  {
    std::unordered_map<const Policy*, std::size_t> count;
    for (const PodNetwork& net : nets)
      for (const Policy* p : net->selecting) ++count[p];
    selected_by.reserve(count.size());
    for (const auto& [p, n] : count) selected_by[p].reserve(n);
  }
  for (std::size_t i = 0; i < inv.pods.size(); ++i)
    for (const Policy* p : nets[i]->selecting) selected_by[p].push_back(&inv.pods[i]);
  NetContext ctx{analyzer, config, inv, nets, selected_by, config.ai_hosts};

  // Each rule runs whole on one worker, so its findings reach the sink in the
  // order it makes them; the sink sees one finding at a time. Findings of
  // different rules interleave, which sorting undoes: the sort key includes
  // the rule (FindingStore::sort). They are handed over a batch at a time:
  // one lock per finding kept the other worker waiting on the sink.
  std::mutex sink_mu;
  constexpr std::size_t kBatch = 128;
  run_parallel(enabled.size(), threads, [&](std::size_t k) {
    const Rule* rule = enabled[k];
    std::vector<Finding> pending;
    auto flush = [&] {
      std::lock_guard lk(sink_mu);
      for (auto& f : pending) sink(std::move(f));
      pending.clear();
    };
    NetOut out([&](NetFinding&& r) {
      Finding f;
      f.rule = std::string(rule->id);
      f.severity = config.severity_of(rule->id, rule->severity);
      f.container = std::move(r.container);
      f.line = r.line;
      f.message = std::move(r.message);
      f.remediation = std::move(r.remediation);
      f.field = std::move(r.field);
      if (r.pod) {
        if (r.pod->inferred_kind) f.message += inferred_kind_note(r.pod->ref.kind);
        f.object = r.pod->ref;
        f.file = r.pod->file;
        if (f.line == 0) f.line = r.pod->line;
        apply_ignores(f, r.pod->ignores);
      } else if (r.policy) {
        f.object = r.policy->ref;
        f.file = r.policy->file;
        if (f.line == 0) f.line = r.policy->line;
        apply_ignores(f, r.policy->ignores);
      }
      if (threads <= 1) return sink(std::move(f));  // the sink is this thread's alone
      pending.push_back(std::move(f));
      if (pending.size() == kBatch) flush();
    });
    rule->network_check(ctx, out);
    if (!pending.empty()) flush();
  });
}

std::vector<Finding> check_network(const netpol::Inventory& inv, const Config& config) {
  std::vector<Finding> findings;
  check_network(inv, config, [&](Finding&& f) { findings.push_back(std::move(f)); });
  return findings;
}

}  // namespace loki
