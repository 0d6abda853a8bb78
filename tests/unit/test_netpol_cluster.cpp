// Cluster-wide network policy (policy.networking.k8s.io, sigs.k8s.io/network-policy-api
// v0.3.0): each semantic point with the sentence of the API's Go type comments
// (apis/v1beta1/clusternetworkpolicy_types.go, apis/v1alpha1/*.go) it follows.
// The whole standard conformance suite runs in tests/netpol-conformance/.
#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>
#include <loki/network_checks.hpp>

#include <string>

using namespace loki::netpol;

namespace {

// Namespace a (team=ai) with pods agent (app=agent) and peer (app=peer);
// namespace b with pod web. Pod IPs 10.0.<ns>.<n>.
const char* const kWorld = R"(
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: ai}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: a, labels: {app: agent}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: peer, namespace: a, labels: {app: peer}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: b, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 8080, name: http}]}]}
status: {podIP: 10.0.2.1}
)";

struct World {
  Inventory inv;
  explicit World(const std::string& policies) {
    loki::Config cfg;
    cfg.selector = loki::LabelSelector::parse("app=agent");
    for (const std::string& text : {std::string(kWorld), policies})
      for (auto& d : loki::parse_manifest_text(text, "t.yaml")) {
        REQUIRE(d.errors.empty());
        for (auto& o : d.objects) inv.add(o, cfg, "a");
      }
  }
  const PodInfo& pod(const std::string& name) const {
    for (const auto& p : inv.pods)
      if (p.ref.name == name) return p;
    FAIL("no pod " << name);
    return inv.pods.front();
  }
  // Both sides, as `loki-audit explain` asks.
  Verdict::Answer connect(const std::string& from, const std::string& to, int port,
                          Protocol proto = Protocol::TCP) const {
    Analyzer an(inv);
    return an.connect(pod(from), Destination::to_pod(pod(to)), port, proto).answer;
  }
  Verdict egress(const std::string& from, const Destination& d, int port, Protocol proto = Protocol::TCP) const {
    Analyzer an(inv);
    return an.allows(an.analyze(pod(from)), d, port, proto);
  }
};

std::string cnp(const std::string& name, const std::string& tier, int priority, const std::string& subject,
                const std::string& rules) {
  return "---\napiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: " + name +
         "}\nspec:\n  tier: " + tier + "\n  priority: " + std::to_string(priority) + "\n  subject: " + subject + "\n" +
         rules + "\n";
}

const std::string kAgentSubject =
    "{pods: {namespaceSelector: {matchLabels: {team: ai}}, podSelector: {matchLabels: "
    "{app: agent}}}}";
const std::string kNpAllowAll =
    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: a}\n"
    "spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n";
const std::string kNpDenyAll =
    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: a}\n"
    "spec: {podSelector: {}, policyTypes: [Egress]}\n";
const std::string kToB = "[{namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}]";

using A = Verdict::Answer;

}  // namespace

TEST_CASE("cluster policy: an Admin Deny is final, the namespace's NetworkPolicy is never consulted") {
  // "If Admin tier has made a final decision (Accept or Deny) on a connection, then no further evaluation is done."
  World w(kNpAllowAll +
          cnp("deny", "Admin", 10, kAgentSubject, "  egress: [{name: deny-b, action: Deny, to: " + kToB + "}]"));
  CHECK(w.connect("agent", "web", 8080) == A::denied);
  Verdict v = w.egress("agent", Destination::to_pod(w.pod("web")), 8080);
  CHECK(v.tier == "Admin");
  CHECK(v.reason.find("NetworkPolicy a/allow-all is never consulted") != std::string::npos);
  // Without the cluster policy the NetworkPolicy allows it: the test can fail.
  CHECK(World(kNpAllowAll).connect("agent", "web", 8080) == A::allowed);
  // The peer pod is not a subject: untouched.
  CHECK(w.connect("peer", "web", 8080) == A::allowed);
}

TEST_CASE("cluster policy: an Admin Accept is final for egress, but the destination's ingress still applies") {
  // "Accept: ... No further egress ClusterNetworkPolicy or NetworkPolicy rules will be processed but any ingress
  // rules at the destination do apply."
  const std::string accept =
      cnp("accept", "Admin", 10, kAgentSubject, "  egress: [{name: accept-b, action: Accept, to: " + kToB + "}]");
  CHECK(World(kNpDenyAll + accept).connect("agent", "web", 8080) == A::allowed);
  const std::string web_deny_ingress =
      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-in, namespace: b}\n"
      "spec: {podSelector: {}, policyTypes: [Ingress]}\n";
  CHECK(World(kNpDenyAll + accept + web_deny_ingress).connect("agent", "web", 8080) == A::denied);
}

TEST_CASE("cluster policy: Pass hands the decision to NetworkPolicy, then Baseline, then the default") {
  // "Pass: Skips all further ClusterNetworkPolicy rules in the current tier for the selected traffic, and passes
  // evaluation to the next tier."
  const std::string pass_then_deny = cnp("pass", "Admin", 10, kAgentSubject,
                                         "  egress:\n  - {name: pass-b, action: Pass, to: " + kToB +
                                             "}\n  - {name: deny-b, action: Deny, to: " + kToB + "}");
  CHECK(World(pass_then_deny + kNpAllowAll).connect("agent", "web", 8080) == A::allowed);
  CHECK(World(pass_then_deny + kNpDenyAll).connect("agent", "web", 8080) == A::denied);
  // "If a given connection wasn't allowed or denied by any of the tiers, the default kubernetes policy is applied,
  // which says that all pods can communicate with each other."
  World open(pass_then_deny);
  Verdict v = open.egress("agent", Destination::to_pod(open.pod("web")), 8080);
  CHECK(v.answer == A::allowed);
  CHECK(v.tier == "default");
  REQUIRE(v.passed_by);
  CHECK(v.passed_by->rule == 0);
  // "Baseline tier is a cluster-wide policy that can be overridden by the v1.NetworkPolicy."
  const std::string baseline_deny =
      cnp("base", "Baseline", 5, kAgentSubject, "  egress: [{name: deny-b, action: Deny, to: " + kToB + "}]");
  CHECK(World(pass_then_deny + baseline_deny).connect("agent", "web", 8080) == A::denied);
  CHECK(World(pass_then_deny + baseline_deny + kNpAllowAll).connect("agent", "web", 8080) == A::allowed);
}

TEST_CASE("cluster policy: priorities, rule order, same priority") {
  // "Policies with lower priority values have higher precedence, and are checked before policies with higher
  // priority values in the same tier."
  const std::string deny20 =
      cnp("deny20", "Admin", 20, kAgentSubject, "  egress: [{name: d, action: Deny, to: " + kToB + "}]");
  const std::string accept10 =
      cnp("accept10", "Admin", 10, kAgentSubject, "  egress: [{name: a, action: Accept, to: " + kToB + "}]");
  CHECK(World(deny20 + accept10).connect("agent", "web", 8080) == A::allowed);
  // "Thus, a rule that appears at the top of the egress rules would take the highest precedence."
  CHECK(World(cnp("p", "Admin", 1, kAgentSubject,
                  "  egress:\n  - {name: d, action: Deny, to: " + kToB +
                      "}\n  - {name: a, action: Accept, to: " + kToB + "}"))
            .connect("agent", "web", 8080) == A::denied);
  // "If two (or more) policies in the same tier with the same priority could match a connection, then the
  // implementation can apply any of the matching policies to the connection": conditional, never a flat answer.
  const std::string accept20 =
      cnp("accept20", "Admin", 20, kAgentSubject, "  egress: [{name: a, action: Accept, to: " + kToB + "}]");
  CHECK(World(deny20 + accept20).connect("agent", "web", 8080) == A::conditional);
}

TEST_CASE("cluster policy: subjects, no rules for a direction, host-networked pods") {
  // "CNPs with no egress rules do not affect egress traffic."
  World w(kNpDenyAll + cnp("in-only", "Admin", 1, kAgentSubject,
                           "  ingress: [{name: a, action: Accept, from: [{namespaces: {}}]}]"));
  CHECK(w.connect("agent", "web", 8080) == A::denied);  // the NetworkPolicy still decides
  // "Namespaces is used to select pods via namespace selectors."
  World ns(cnp("ns", "Admin", 1, "{namespaces: {matchLabels: {team: ai}}}",
               "  egress: [{name: d, action: Deny, to: " + kToB + "}]"));
  CHECK(ns.connect("peer", "web", 8080) == A::denied);
  // "Note that host-networked pods are not included in subject selection."
  World hn(cnp("ns", "Admin", 1, "{namespaces: {matchLabels: {team: ai}}}",
               "  egress: [{name: d, action: Deny, to: " + kToB + "}]"));
  PodInfo host = hn.pod("peer");
  host.host_network = true;
  Analyzer an(hn.inv);
  CHECK(!an.selects(*an.cluster_policies().front(), host));
  CHECK(an.selects(*an.cluster_policies().front(), hn.pod("peer")));
}

TEST_CASE("cluster policy: ports and protocols") {
  // CNP: "Protocols allows for more fine-grain matching of traffic on protocol-specific attributes such as the
  // port. If unspecified, protocol-specific attributes will not be used to match traffic."
  World all(cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: " + kToB + "}]"));
  CHECK(all.connect("agent", "web", 53, Protocol::UDP) == A::denied);
  World range(cnp("d", "Admin", 1, kAgentSubject,
                  "  egress: [{name: d, action: Deny, to: " + kToB +
                      ", protocols: [{tcp: {destinationPort: {range: {start: 8000, end: 8100}}}}]}]"));
  CHECK(range.connect("agent", "web", 8080) == A::denied);
  CHECK(range.connect("agent", "web", 8101) == A::allowed);
  CHECK(range.connect("agent", "web", 8080, Protocol::UDP) == A::allowed);
  World named(cnp("d", "Admin", 1, kAgentSubject,
                  "  egress: [{name: d, action: Deny, to: " + kToB + ", protocols: [{destinationNamedPort: http}]}]"));
  CHECK(named.connect("agent", "web", 8080) == A::denied);
  CHECK(named.connect("agent", "web", 8081) == A::allowed);
  // v1alpha1 AdminNetworkPolicyPort: "Protocol is the network protocol (TCP, UDP, or SCTP) which traffic must
  // match. If not specified, this field defaults to TCP."; action Allow; BaselineAdminNetworkPolicy below the
  // NetworkPolicy tier.
  World anp(R"(
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: anp}
spec:
  priority: 3
  subject: {namespaces: {matchLabels: {team: ai}}}
  egress:
  - {name: allow-8080, action: Allow, to: [{namespaces: {}}], ports: [{portNumber: {port: 8080}}]}
  - {name: deny-rest, action: Deny, to: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: deny-all, action: Deny, from: [{namespaces: {}}]}
)");
  CHECK(anp.connect("agent", "web", 8080) == A::denied);  // the BANP denies web's ingress (no NetworkPolicy)
  CHECK(anp.egress("agent", Destination::to_pod(anp.pod("web")), 8080).answer == A::allowed);
  CHECK(anp.egress("agent", Destination::to_pod(anp.pod("web")), 8080, Protocol::UDP).answer == A::denied);
  CHECK(anp.egress("agent", Destination::to_pod(anp.pod("web")), 9090).answer == A::denied);
}

TEST_CASE("cluster policy: networks, nodes and domainNames err toward reachable") {
  // "Networks defines a way to select peers via CIDR blocks. ... cluster-internal traffic will be checked
  // against the rule as well."
  World nets(
      cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: [{networks: [10.0.2.0/24]}]}]"));
  CHECK(nets.connect("agent", "web", 8080) == A::denied);
  CHECK(nets.connect("agent", "peer", 8080) == A::allowed);
  // A pod whose IP the input does not have: conditional, never "denied".
  World tmpl(
      cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: [{networks: [10.0.0.0/8]}]}]"));
  PodInfo unknown = tmpl.pod("web");
  unknown.ips.clear();
  tmpl.inv.pods.push_back(unknown);
  Analyzer an(tmpl.inv);
  CHECK(
      an.allows(an.analyze(tmpl.pod("agent")), Destination::to_pod(tmpl.inv.pods.back()), 8080, Protocol::TCP).answer ==
      A::conditional);
  // Nodes: "It selects the nodeIPs as the peer type by matching on the IPs present in the node.Status.Addresses
  // field of the node": node addresses are not in the input.
  World nodes(cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: [{nodes: {}}]}]"));
  CHECK(nodes.egress("agent", Destination::address(*IpAddress::parse("192.168.1.5")), 10250).answer == A::conditional);
  CHECK(nodes.connect("agent", "web", 8080) == A::allowed);  // a pod-network pod is no node
  // DomainName: "`*.kubernetes.io` matches subdomains of kubernetes.io. "www.kubernetes.io", "blog.kubernetes.io",
  // and "latest.blog.kubernetes.io" match, however "kubernetes.io", and "wikipedia.org" do not."
  World dn(cnp("d", "Admin", 1, kAgentSubject,
               "  egress:\n  - {name: a, action: Accept, to: [{domainNames: ['*.kubernetes.io']}]}\n"
               "  - {name: d, action: Deny, to: [{networks: [0.0.0.0/0, '::/0']}]}"));
  CHECK(dn.egress("agent", Destination::hostname("latest.blog.kubernetes.io"), 443).answer == A::allowed);
  CHECK(dn.egress("agent", Destination::hostname("kubernetes.io"), 443).answer != A::allowed);
  // An address: it may be one the name resolves to (the Accept may reach it).
  CHECK(dn.egress("agent", Destination::address(*IpAddress::parse("1.1.1.1")), 443).answer == A::conditional);
}

TEST_CASE("cluster policy: a peer of an unknown kind fails closed") {
  // "For "Accept" rules, "fail closed" means: "treat the rule as matching no traffic". For "Deny" and "Pass"
  // rules, "fail closed" means: "treat the rule as a 'Deny all' rule"."
  World deny(cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: [{futurePeer: {}}]}]"));
  CHECK(deny.connect("agent", "peer", 8080) == A::denied);
  World accept(kNpDenyAll +
               cnp("d", "Admin", 1, kAgentSubject, "  egress: [{name: a, action: Accept, to: [{futurePeer: {}}]}]"));
  CHECK(accept.connect("agent", "web", 8080) == A::denied);  // the NetworkPolicy decides
}

TEST_CASE("cluster policy: explain names the deciding tier and policy") {
  World w(kNpAllowAll + cnp("deny-agent-egress", "Admin", 10, kAgentSubject,
                            "  egress: [{name: deny-b, action: Deny, to: " + kToB + "}]"));
  Analyzer an(w.inv);
  ExplainTarget t{Destination::to_pod(w.pod("web")), 8080, Protocol::TCP, {}, "pod/web:8080"};
  std::string text = explain(an, w.pod("agent"), t);
  CHECK(text.find("denied by ClusterNetworkPolicy deny-agent-egress (Admin, priority 10, egress[0] deny-b)") !=
        std::string::npos);
  CHECK(text.find("the namespace's NetworkPolicy a/allow-all is never consulted") != std::string::npos);
  CHECK(text.find("decided by: Admin tier") != std::string::npos);
  auto j = explain_json(an, w.pod("agent"), t);
  CHECK(j["egress"]["tier"] == "Admin");
}

namespace {
std::vector<loki::Finding> findings_of(const World& w, const std::string& rule) {
  loki::Config cfg;
  cfg.selector = loki::LabelSelector::parse("app=agent");
  std::vector<loki::Finding> out;
  for (auto& f : loki::check_network(w.inv, cfg))
    if (f.rule == rule) out.push_back(f);
  return out;
}
}  // namespace

TEST_CASE("rule cluster-pass-unisolated") {
  const std::string pass =
      cnp("pass-b", "Admin", 10, kAgentSubject, "  egress: [{name: pass-b, action: Pass, to: " + kToB + "}]");
  auto f = findings_of(World(pass), "cluster-pass-unisolated");
  // rule: cluster-pass-unisolated positive
  REQUIRE(f.size() == 1);
  CHECK(f[0].object.name == "agent");
  CHECK(f[0].message.find("egress[0] pass-b") != std::string::npos);
  // A NetworkPolicy isolates the agent, or a Baseline rule denies it: the Pass is fine.
  // rule: cluster-pass-unisolated negative
  CHECK(findings_of(World(pass + kNpDenyAll), "cluster-pass-unisolated").empty());
  CHECK(findings_of(World(pass + cnp("b", "Baseline", 1, kAgentSubject,
                                     "  egress: [{name: d, action: Deny, to: " + kToB + "}]")),
                    "cluster-pass-unisolated")
            .empty());
}

TEST_CASE("rule baseline-deny-shadowed") {
  const std::string base =
      cnp("base", "Baseline", 10, kAgentSubject, "  egress: [{name: deny-b, action: Deny, to: " + kToB + "}]");
  auto f = findings_of(World(base + kNpAllowAll), "baseline-deny-shadowed");
  // rule: baseline-deny-shadowed positive
  REQUIRE(f.size() == 1);
  CHECK(f[0].message.find("NetworkPolicy a/allow-all") != std::string::npos);
  // rule: baseline-deny-shadowed negative
  CHECK(findings_of(World(base), "baseline-deny-shadowed").empty());               // the Baseline rule applies
  CHECK(findings_of(World(base + kNpDenyAll), "baseline-deny-shadowed").empty());  // the NetworkPolicy denies too
}

TEST_CASE("rule cluster-policy-selects-no-agent") {
  auto f = findings_of(World(cnp("typo", "Admin", 1,
                                 "{pods: {namespaceSelector: {matchLabels: {team: ai}}, podSelector: {matchLabels: "
                                 "{app: agnet}}}}",
                                 "  egress: [{name: d, action: Deny, to: " + kToB + "}]")),
                       "cluster-policy-selects-no-agent");
  // rule: cluster-policy-selects-no-agent positive
  REQUIRE(f.size() == 1);
  CHECK(f[0].message.find("agent has app=agent, not agnet") != std::string::npos);
  CHECK(
      findings_of(World(cnp("ok", "Admin", 1, kAgentSubject, "  egress: [{name: d, action: Deny, to: " + kToB + "}]")),
                  "cluster-policy-selects-no-agent")
          .empty());
}

TEST_CASE("egress-policy-mismatch counts cluster policies") {
  // The agent promises no egress; an Admin Deny of everything but DNS keeps it, whatever the namespace allows.
  World w(kNpAllowAll + cnp("lock", "Admin", 1, kAgentSubject,
                            "  egress:\n  - {name: dns, action: Accept, to: [{namespaces: {}}], protocols: [{udp: "
                            "{destinationPort: {number: 53}}}]}\n  - {name: rest, action: Deny, to: [{networks: "
                            "[0.0.0.0/0, '::/0']}]}"));
  for (auto& p : w.inv.pods)
    if (p.ref.name == "agent") p.set_egress_policy(EnvSetting{true, true, 1, "none", "c", "/spec/containers/0/env/0"});
  // rule: cluster-policy-selects-no-agent negative
  CHECK(findings_of(w, "egress-policy-mismatch").empty());
  // Without the cluster policy, the NetworkPolicy breaks the promise.
  World open(kNpAllowAll);
  for (auto& p : open.inv.pods)
    if (p.ref.name == "agent") p.set_egress_policy(EnvSetting{true, true, 1, "none", "c", "/spec/containers/0/env/0"});
  CHECK(findings_of(open, "egress-policy-mismatch").size() == 1);
}

TEST_CASE("rule dns-blocked counts the cluster tiers") {
  // The agent (LOKI_NETWORK_EGRESS_POLICY unset) resolves through kube-dns; none is in the input, so the rule
  // asks about a stand-in kube-system pod labelled k8s-app=kube-dns.
  const std::string deny_all = "  - {name: rest, action: Deny, to: [{networks: [0.0.0.0/0, '::/0']}]}";
  const std::string accept_dns =
      "  - name: dns\n    action: Accept\n    to: [{pods: {namespaceSelector: {matchLabels: "
      "{kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}}]\n"
      "    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {number: 53}}}]";
  const std::string np_dns =
      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: dns-only, namespace: a}\n"
      "spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{protocol: UDP, port: 53}, "
      "{protocol: TCP, port: 53}]}]}\n";

  SUBCASE("an Admin Deny of DNS blocks it, whatever the namespace's NetworkPolicy allows") {
    // "Deny: Drops the selected traffic. No further ClusterNetworkPolicy or NetworkPolicy rules will be processed."
    auto f = findings_of(World(kNpAllowAll + cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + deny_all)),
                         "dns-blocked");
    // rule: dns-blocked positive
    REQUIRE(f.size() == 1);
    CHECK(f[0].object.name == "agent");
    CHECK(f[0].message.find("UDP or TCP 53") != std::string::npos);
    CHECK(f[0].message.find("ClusterNetworkPolicy lock") != std::string::npos);
    CHECK(f[0].remediation.find("in the Admin tier") != std::string::npos);
    // Without it, allow-all leaves DNS (and everything else) open.
    CHECK(findings_of(World(kNpAllowAll), "dns-blocked").empty());
  }
  SUBCASE("an Admin Accept of DNS before the Deny keeps it") {
    // rule: dns-blocked negative
    CHECK(findings_of(World(cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + accept_dns + "\n" + deny_all)),
                      "dns-blocked")
              .empty());
    // "The relative precedence of [egress] rules within a single CNP object ... will be determined by the order
    // in which the rule is written": the Deny first blocks it.
    CHECK(findings_of(World(cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + deny_all + "\n" + accept_dns)),
                      "dns-blocked")
              .size() == 1);
  }
  SUBCASE("an Admin Accept lets DNS past a NetworkPolicy that isolates the pod without it") {
    // "Accept: ... No further egress ClusterNetworkPolicy or NetworkPolicy rules will be processed but any ingress
    // rules at the destination do apply."
    CHECK(findings_of(World(kNpDenyAll + cnp("dns", "Admin", 1, kAgentSubject, "  egress:\n" + accept_dns)),
                      "dns-blocked")
              .empty());
    CHECK(findings_of(World(kNpDenyAll), "dns-blocked").size() == 1);
  }
  SUBCASE("UDP only in the Admin tier is not enough") {
    std::string udp_only = accept_dns;
    const std::string tcp = ", {tcp: {destinationPort: {number: 53}}}";
    udp_only.replace(udp_only.find(tcp), tcp.size(), "");
    auto f = findings_of(World(cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + udp_only + "\n" + deny_all)),
                         "dns-blocked");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("(TCP 53:") != std::string::npos);
    CHECK(f[0].message.find("when a DNS answer needs TCP") != std::string::npos);
  }
  SUBCASE("a Baseline Deny counts only where no NetworkPolicy isolates the pod") {
    // "v1.NetworkPolicy always makes a final decision for selected pods. Further evaluation only happens for Pods
    // not selected by a v1.NetworkPolicy." "Baseline tier is a cluster-wide policy that can be overridden by the
    // v1.NetworkPolicy."
    const std::string base = cnp("base", "Baseline", 1, kAgentSubject, "  egress:\n" + deny_all);
    auto f = findings_of(World(base), "dns-blocked");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("ClusterNetworkPolicy base") != std::string::npos);
    CHECK(f[0].remediation.find("Baseline tier") != std::string::npos);
    // A NetworkPolicy selects the agent and allows DNS: the Baseline is never consulted.
    CHECK(findings_of(World(base + np_dns), "dns-blocked").empty());
    // And a Baseline Accept of DNS does not help a pod a NetworkPolicy isolates without it.
    CHECK(findings_of(World(kNpDenyAll + cnp("base", "Baseline", 1, kAgentSubject, "  egress:\n" + accept_dns)),
                      "dns-blocked")
              .size() == 1);
  }
  SUBCASE("an Admin Pass of DNS hands it to the NetworkPolicy, then the Baseline tier") {
    // "Pass: Skips all further ClusterNetworkPolicy rules in the current tier for the selected traffic, and passes
    // evaluation to the next tier."
    std::string pass = accept_dns;
    pass.replace(pass.find("action: Accept"), 14, "action: Pass");
    const std::string admin = cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + pass + "\n" + deny_all);
    CHECK(findings_of(World(admin + np_dns), "dns-blocked").empty());
    CHECK(findings_of(World(admin + kNpDenyAll), "dns-blocked").size() == 1);
    CHECK(findings_of(World(admin + cnp("base", "Baseline", 1, kAgentSubject, "  egress:\n" + deny_all)), "dns-blocked")
              .size() == 1);
    CHECK(findings_of(World(admin), "dns-blocked").empty());  // the default: "all pods can communicate"
  }
  SUBCASE("the kube-dns pods of the input are asked, and a promise of none is not checked") {
    const std::string kube_dns =
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: coredns-1, namespace: kube-system, labels: {k8s-app: "
        "kube-dns}}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.0.9.9}\n";
    // An Admin Accept to the DNS pod's address (as a node-local cache rule names it) keeps DNS.
    const std::string by_ip =
        "  - name: dns\n    action: Accept\n    to: [{networks: [10.0.9.9/32]}]\n"
        "    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {number: 53}}}]";
    CHECK(findings_of(World(kube_dns + cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + by_ip + "\n" + deny_all)),
                      "dns-blocked")
              .empty());
    World none(cnp("lock", "Admin", 1, kAgentSubject, "  egress:\n" + deny_all));
    for (auto& p : none.inv.pods)
      if (p.ref.name == "agent")
        p.set_egress_policy(EnvSetting{true, true, 1, "none", "c", "/spec/containers/0/env/0"});
    CHECK(findings_of(none, "dns-blocked").empty());
  }
}
