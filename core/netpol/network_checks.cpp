// The network pass: analyse every pod once, then run each network rule.
#include <loki/network_checks.hpp>
#include <loki/podspec.hpp>

#include <functional>
#include <loki/rules.hpp>

#include "checks/net_check.hpp"

namespace loki {

namespace checks {
extern const Rule rule_egress_unrestricted, rule_egress_shadowed, rule_deny_egress_is_ingress_only,
    rule_egress_rules_ignored, rule_policy_selects_nothing, rule_egress_to_any, rule_metadata_endpoint_reachable,
    rule_host_network_bypasses_policy, rule_dns_blocked, rule_egress_policy_mismatch;
}  // namespace checks

namespace netpol::checks {
void egress_unrestricted(const NetContext&, NetOut&);
void egress_shadowed(const NetContext&, NetOut&);
void deny_egress_is_ingress_only(const NetContext&, NetOut&);
void egress_rules_ignored(const NetContext&, NetOut&);
void policy_selects_nothing(const NetContext&, NetOut&);
void egress_to_any(const NetContext&, NetOut&);
void metadata_endpoint_reachable(const NetContext&, NetOut&);
void host_network_bypasses_policy(const NetContext&, NetOut&);
void dns_blocked(const NetContext&, NetOut&);
void egress_policy_mismatch(const NetContext&, NetOut&);

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
  return pod.loki && net.policies_apply && !net.egress_isolated && !net.selecting.empty() &&
         !missing_egress_policies(ctx, pod).empty();
}

bool host_network_selected(const NetContext& ctx, const PodInfo& pod) {
  return pod.host_network && !ctx.net_of(pod).selecting.empty();
}

}  // namespace netpol::checks

void check_network(const netpol::Inventory& inv, const Config& config, const std::function<void(Finding&&)>& sink) {
  using namespace netpol;
  using namespace netpol::checks;
  struct Entry {
    const Rule* rule;
    NetCheckFn fn;
  };
  static const Entry entries[] = {
      {&loki::checks::rule_egress_unrestricted, egress_unrestricted},
      {&loki::checks::rule_egress_shadowed, egress_shadowed},
      {&loki::checks::rule_deny_egress_is_ingress_only, deny_egress_is_ingress_only},
      {&loki::checks::rule_egress_rules_ignored, egress_rules_ignored},
      {&loki::checks::rule_policy_selects_nothing, policy_selects_nothing},
      {&loki::checks::rule_egress_to_any, egress_to_any},
      {&loki::checks::rule_metadata_endpoint_reachable, metadata_endpoint_reachable},
      {&loki::checks::rule_host_network_bypasses_policy, host_network_bypasses_policy},
      {&loki::checks::rule_dns_blocked, dns_blocked},
      {&loki::checks::rule_egress_policy_mismatch, egress_policy_mismatch},
  };
  bool any_enabled = false;
  for (const auto& e : entries) any_enabled |= config.rule_enabled(e.rule->id);
  if (!any_enabled || (inv.policies.empty() && inv.pods.empty())) return;

  Analyzer analyzer(inv);
  std::vector<PodNetwork> nets;
  nets.reserve(inv.pods.size());
  std::vector<std::vector<const PodInfo*>> selected_by(inv.policies.size());
  for (const auto& pod : inv.pods) {
    nets.push_back(analyzer.analyze(pod));
    for (const Policy* p : nets.back().selecting)
      selected_by[static_cast<std::size_t>(p - inv.policies.data())].push_back(&pod);
  }
  NetContext ctx{analyzer, config, inv, nets, selected_by, config.ai_hosts};

  NetOut raw;
  for (const auto& e : entries) {
    if (!config.rule_enabled(e.rule->id)) continue;
    raw.clear();
    e.fn(ctx, raw);
    for (auto& r : raw) {
      Finding f;
      f.rule = std::string(r.rule);
      f.severity = config.severity_of(r.rule, e.rule->severity);
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
      sink(std::move(f));
    }
  }
}

std::vector<Finding> check_network(const netpol::Inventory& inv, const Config& config) {
  std::vector<Finding> findings;
  check_network(inv, config, [&](Finding&& f) { findings.push_back(std::move(f)); });
  return findings;
}

}  // namespace loki
