// egress-policy-mismatch (error): the agent's own promise, in its container
// env, is not what the cluster delivers.
// - LOKI_NETWORK_EGRESS_POLICY=none, but egress is not isolated or allows more
//   than DNS;
// - ai-only, but egress reaches more than DNS and TCP 443 to the allowed hosts
//   (Config::ai_hosts plus LOKI_ALLOWED_HOSTS): only FQDN rules
//   (CiliumNetworkPolicy toFQDNs) can express that, so any IP- or pod-based
//   grant beyond DNS breaks it, and `to: []` on 443 breaks it the most;
// - LOKI_BLOCK_METADATA_ENDPOINT=true, but the metadata endpoint is reachable;
// - an invalid value in any of the three variables.
// Values (Loki Mode's network-security guide): LOKI_NETWORK_EGRESS_POLICY
// unrestricted (default) | ai-only | none; LOKI_BLOCK_METADATA_ENDPOINT
// true | false (default); LOKI_ALLOWED_HOSTS comma-separated host names. The
// application does not enforce them yet, so the cluster must: error.
#include "net_check.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace loki::checks {
extern const Rule rule_egress_policy_mismatch{
    .id = "egress-policy-mismatch",
    .severity = Severity::error,
    .scope = RuleScope::network,
    .description =
        "The agent's LOKI_NETWORK_EGRESS_POLICY / LOKI_BLOCK_METADATA_ENDPOINT promise is not what the cluster's "
        "policies deliver, or one of the LOKI_* network variables has an invalid value.",
    .remediation =
        "Make the policies deliver the promise (default-deny egress, DNS, and for ai-only a CiliumNetworkPolicy with "
        "toFQDNs for the AI API hosts), or correct the variable.",
    .summary =
        "`LOKI_NETWORK_EGRESS_POLICY` / `LOKI_BLOCK_METADATA_ENDPOINT` promise what the cluster does not deliver "
        "(`ai-only` needs an FQDN policy: Cilium `toFQDNs`)",
    .subject = RuleSubject::pod_template,
    .network_check = netpol::checks::egress_policy_mismatch,
    .network_order = 10};
}  // namespace loki::checks

namespace loki::netpol::checks {

namespace {

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::size_t start = 0;
  while (start <= h.size()) {
    auto dot = h.find('.', start);
    std::string_view label = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::string trim_lower(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  if (b == std::string_view::npos) return {};
  std::string out(s.substr(b, e - b + 1));
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string describe(const Grant& g) {
  return g.policy->display() + " egress[" + std::to_string(g.rule) + "]: to " + g.peer->to_string() + " on " +
         g.port->to_string();
}

// The grants a promise does not cover: the first three in order, for the
// message, and what the message says of all of them.
struct Beyond {
  std::vector<Grant> first;
  std::size_t count = 0;
  bool anywhere_443 = false;  // one reaches anything on TCP 443
  bool from_k8s = false;      // one comes from a Kubernetes (not Cilium) policy
};

// The grants of `grants` that `beyond(peer_class, port)` picks, where
// peer_class(peer) sorts a peer in one of two classes. Per rule the ports are
// sorted once per class, so a rule of P peers and Q ports costs P + 2Q steps,
// not P x Q (a 1 MB policy can hold 20,000 of each).
template <class PeerClass, class PortBeyond>
Beyond grants_beyond(const GrantList& grants, PeerClass&& peer_class, PortBeyond&& beyond) {
  Beyond b;
  for (const auto& ref : grants.rules()) {
    const EgressRule& rule = grants.rule(ref);
    std::array<std::vector<const PortSpec*>, 2> ports;
    std::array<bool, 2> covers_443{false, false};
    for (const PortSpec& s : rule.ports)
      for (int c = 0; c < 2; ++c)
        if (beyond(c == 1, s)) {
          ports[c].push_back(&s);
          covers_443[c] = covers_443[c] || s.covers_number(443, Protocol::TCP);
        }
    if (ports[0].empty() && ports[1].empty()) continue;
    for (const Peer& peer : rule.to) {
      const int c = peer_class(peer) ? 1 : 0;
      if (ports[c].empty()) continue;
      b.count += ports[c].size();
      b.anywhere_443 = b.anywhere_443 || (covers_443[c] && peer.reaches_anywhere());
      b.from_k8s = b.from_k8s || !ref.policy->is_cilium();
      for (std::size_t i = 0; i < ports[c].size() && b.first.size() < 3; ++i)
        b.first.push_back(Grant{ref.policy, ref.rule, &peer, ports[c][i], false});
    }
  }
  return b;
}

std::string list_grants(const Beyond& b) {
  std::string s;
  for (std::size_t i = 0; i < b.first.size(); ++i) s += (i ? "; " : "") + describe(b.first[i]);
  if (b.count > 3) s += "; and " + std::to_string(b.count - 3) + " more";
  return s;
}

std::string cilium_yaml(const PodInfo& pod, const std::vector<std::string>& hosts) {
  std::string y = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: " + pod.ref.name +
                  "-ai-only\n  namespace: " + pod.ns + "\nspec:\n  endpointSelector:\n    matchLabels:";
  if (pod.labels.empty()) y += " {}";
  for (const auto& [k, v] : pod.labels) y.append("\n      ").append(k).append(": ").append(v);
  y += "\n  egress:\n"
       "  - toEndpoints:\n"
       "    - matchLabels:\n"
       "        k8s:io.kubernetes.pod.namespace: kube-system\n"
       "        k8s-app: kube-dns\n"
       "    toPorts:\n"
       "    - ports:\n"
       "      - {port: \"53\", protocol: ANY}\n"
       "      rules:\n"
       "        dns:\n"
       "        - matchPattern: \"*\"\n"
       "  - toFQDNs:";
  for (const auto& h : hosts) y += "\n    - matchName: " + h;
  y += "\n    toPorts:\n    - ports:\n      - {port: \"443\", protocol: TCP}";
  return y;
}

bool fqdn_allowed(const Peer& peer, const std::vector<std::string>& hosts) {
  if (peer.kind != Peer::Kind::fqdn) return false;
  for (const auto& h : hosts)
    if (peer.fqdn == h) return true;  // matchName, or a pattern written exactly as an allowed entry
  return false;
}

bool is_tcp_443(const PortSpec& p) {
  return p.protocol == Protocol::TCP && p.name.empty() && p.port == 443 && (p.end_port == 0 || p.end_port == 443);
}

// Emits findings on one loki-mode pod.
struct PodCheck {
  const NetContext& ctx;
  NetOut& out;
  const PodInfo& pod;
  const PodNetwork& net;

  void emit(const EnvSetting& env, std::string msg, std::string fix) const {
    out.push_back({&pod, nullptr, env.field, env.line, env.container, std::move(msg), std::move(fix)});
  }

  std::string not_isolated() const {
    return !net->policies_apply
               ? "the pod uses hostNetwork, so no NetworkPolicy applies to it"
               : "its egress is not isolated (no policy with Egress selects it), so it can reach anything";
  }

  // The egress promise, if it is a literal valid value ("" otherwise).
  std::string egress_promise() const {
    const EnvSetting& ep = pod.egress_policy();
    if (!ep.present || !ep.literal) return "";
    if (ep.value != "unrestricted" && ep.value != "ai-only" && ep.value != "none") {
      emit(ep, "LOKI_NETWORK_EGRESS_POLICY=\"" + ep.value + "\" is not a valid value (unrestricted, ai-only, none)",
           "set LOKI_NETWORK_EGRESS_POLICY to unrestricted, ai-only or none");
      return "";
    }
    return ep.value;
  }

  bool blocks_metadata() const {
    const EnvSetting& bm = pod.block_metadata();
    if (!bm.present || !bm.literal) return false;
    if (bm.value == "true") return true;
    if (bm.value != "false")
      emit(bm, "LOKI_BLOCK_METADATA_ENDPOINT=\"" + bm.value + "\" is not a valid value (true, false)",
           "set LOKI_BLOCK_METADATA_ENDPOINT to \"true\" or \"false\"");
    return false;
  }

  // Config::ai_hosts plus LOKI_ALLOWED_HOSTS, normalized, sorted, unique.
  std::vector<std::string> allowed_hosts() const {
    std::vector<std::string> hosts;
    for (const auto& h : ctx.ai_hosts_default) hosts.push_back(trim_lower(h));
    const EnvSetting& ah = pod.allowed_hosts();
    if (ah.present && ah.literal) {
      std::string bad;
      std::string_view v = ah.value;
      while (true) {
        auto comma = v.find(',');
        std::string h = trim_lower(v.substr(0, comma));
        if (!h.empty()) {
          if (valid_hostname(h))
            hosts.push_back(h);
          else
            bad += (bad.empty() ? "\"" : ", \"") + h + "\"";
        }
        if (comma == std::string_view::npos) break;
        v = v.substr(comma + 1);
      }
      if (!bad.empty())
        emit(ah, "LOKI_ALLOWED_HOSTS has invalid host name(s): " + bad,
             "list DNS names separated by commas, e.g. LOKI_ALLOWED_HOSTS=api.example.com,files.example.com");
    }
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    return hosts;
  }

  bool cluster_policies() const { return !net->admin.empty() || !net->baseline.empty(); }

  // With cluster policies the egress is the tiers' verdict: the probes that
  // stand for every rule's peers and the outside world, each asked of the
  // engine (a conditional answer counts as reachable).
  std::vector<std::string> reachable_beyond(bool ai_only, const std::vector<std::string>& hosts) const {
    std::vector<std::string> out;
    for (const Probe& pr : egress_probes(ctx, pod, net)) {
      if (pr.port == 53) continue;  // DNS is allowed by both promises
      if (ai_only && pr.protocol == Protocol::TCP && pr.port == 443 && pr.dest.kind == Destination::Kind::host &&
          std::find(hosts.begin(), hosts.end(), pr.dest.host) != hosts.end())
        continue;
      Verdict v = ctx.analyzer.allows(net, pr.dest, pr.port, pr.protocol);
      if (!v.possible()) continue;
      // An address an allowed host name may resolve to: what an FQDN allowance means.
      if (ai_only && v.answer == Verdict::Answer::conditional && v.by && v.by->peer &&
          v.by->peer->kind == Peer::Kind::domain && !v.by->peer->fqdn_pattern &&
          std::find(hosts.begin(), hosts.end(), v.by->peer->fqdn) != hosts.end() && pr.port == 443)
        continue;
      std::string s = v.reason;
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
      if (out.size() == 3) break;
    }
    return out;
  }

  void check_none_tiered() const {
    auto beyond = reachable_beyond(false, {});
    if (beyond.empty()) return;
    std::string list;
    for (const auto& b : beyond) list += (list.empty() ? "" : "; ") + b;
    emit(pod.egress_policy(),
         "LOKI_NETWORK_EGRESS_POLICY=none promises no egress, but with the cluster network policies (Admin, "
         "NetworkPolicy, Baseline tiers) the pod reaches more than DNS: " +
             list,
         "deny it in the Admin tier (a ClusterNetworkPolicy Deny after the DNS Accept), or isolate the pod with a "
         "default-deny egress NetworkPolicy:\n" +
             default_deny_yaml(pod.ns));
  }

  void check_none() const {
    const EnvSetting& ep = pod.egress_policy();
    if (cluster_policies()) return check_none_tiered();
    if (!net->egress_isolated) {
      emit(ep, "LOKI_NETWORK_EGRESS_POLICY=none promises no egress, but " + not_isolated(),
           "deny egress by default (allow only DNS, or nothing):\n" + default_deny_yaml(pod.ns));
      return;
    }
    Beyond beyond = grants_beyond(
        net->egress, [](const Peer&) { return false; }, [](bool, const PortSpec& s) { return !is_dns_port(s); });
    if (beyond.count > 0)
      emit(ep,
           "LOKI_NETWORK_EGRESS_POLICY=none promises no egress, but policies allow more than DNS: " +
               list_grants(beyond),
           "remove those egress rules (or stop selecting the pod with them)");
  }

  void check_ai_only(const std::vector<std::string>& hosts) const {
    const EnvSetting& ep = pod.egress_policy();
    std::string host_list;
    for (std::size_t i = 0; i < hosts.size(); ++i) host_list += (i ? ", " : "") + hosts[i];
    // Built only for a finding (a review of a compliant pod asks this too).
    auto cilium = [&] {
      return "NetworkPolicy alone cannot express ai-only; with Cilium, deny egress by default and "
             "allow DNS and the AI API hosts by name:\n" +
             cilium_yaml(pod, hosts);
    };
    if (cluster_policies()) {
      auto beyond = reachable_beyond(true, hosts);
      if (beyond.empty()) return;
      std::string list;
      for (const auto& b : beyond) list += (list.empty() ? "" : "; ") + b;
      emit(ep,
           "LOKI_NETWORK_EGRESS_POLICY=ai-only promises DNS and TCP 443 to " + host_list +
               " only, but with the cluster network policies (Admin, NetworkPolicy, Baseline tiers) the pod reaches "
               "more: " +
               list,
           "accept only DNS and the AI API hosts (domainNames, where the implementation supports them) and deny the "
           "rest in the Admin tier; or, with Cilium:\n" +
               cilium_yaml(pod, hosts));
      return;
    }
    if (!net->egress_isolated) {
      emit(ep,
           "LOKI_NETWORK_EGRESS_POLICY=ai-only promises DNS and TCP 443 to " + host_list + " only, but " +
               not_isolated(),
           cilium());
      return;
    }
    // A grant beyond DNS, unless it is TCP 443 to an AI API host by name.
    Beyond beyond = grants_beyond(
        net->egress, [&](const Peer& peer) { return fqdn_allowed(peer, hosts); },
        [](bool to_ai_host, const PortSpec& s) { return !is_dns_port(s) && !(to_ai_host && is_tcp_443(s)); });
    if (beyond.count == 0) return;
    std::string msg = "LOKI_NETWORK_EGRESS_POLICY=ai-only promises DNS and TCP 443 to " + host_list +
                      " only, but the pod's egress reaches more: " + list_grants(beyond);
    if (beyond.anywhere_443) msg += ". It reaches anything on 443 (see egress-to-any), not only the AI APIs";
    if (beyond.from_k8s)
      msg += ". Kubernetes NetworkPolicy alone cannot express ai-only: it has no host names, only IPs and pods";
    emit(ep, msg, cilium() + "\nand remove the rules listed above");
  }

  void check_metadata() const {
    for (const auto& addr : metadata_addresses()) {
      Verdict v = ctx.analyzer.allows(net, Destination::address(addr), 80, Protocol::TCP, false);
      if (!v.possible()) continue;  // err toward reachable
      std::string cidr = addr.to_string() + (addr.v6 ? "/128" : "/32");
      emit(pod.block_metadata(),
           "LOKI_BLOCK_METADATA_ENDPOINT=true, but the cluster lets the pod reach " + addr.to_string() +
               " on TCP 80: " + (v.by && v.by->policy ? describe(*v.by) : not_isolated()) +
               " (the variable is not enforced by the application yet)",
           "deny it in the policies: add `except: [" + cidr + "]` to the ipBlock that covers it, or narrow the rule");
      break;
    }
  }
};

}  // namespace

void egress_policy_mismatch(const NetContext& ctx, NetOut& out) {
  for (const auto& pod : ctx.inventory.pods) {
    if (!pod.loki) continue;
    PodCheck c{ctx, out, pod, ctx.net_of(pod)};
    // Validity first, in the order the variables' findings were always emitted.
    const std::string promise = c.egress_promise();
    const bool block_metadata = c.blocks_metadata();
    const std::vector<std::string> hosts = c.allowed_hosts();
    if (promise == "none") c.check_none();
    if (promise == "ai-only") c.check_ai_only(hosts);
    if (block_metadata) c.check_metadata();
  }
}

}  // namespace loki::netpol::checks
