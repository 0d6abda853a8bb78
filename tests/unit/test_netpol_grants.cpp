// Grants are kept per rule (GrantList) and the verdicts read them per rule.
// The oracle is the walk over every (peer x port) pair in order that the
// engine did before (the first pair that allows, else the first that may),
// on random policies over the e2e world (namespaces x/y/z, pods a/b/c with
// the e2e named ports) plus a pod without an IP, whose address only may match.
#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/lint.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include <random>
#include <string>
#include <vector>

using namespace loki::netpol;

namespace {

const char* const kNs[] = {"x", "y", "z"};
const char* const kPodNames[] = {"a", "b", "c"};

Inventory world(const std::string& policies) {
  Inventory inv;
  loki::Config cfg;
  for (auto& d : loki::parse_manifest_text(policies, "p.yaml")) {
    REQUIRE(d.errors.empty());
    for (auto& o : d.objects) inv.add(o, cfg, "x");
  }
  for (int n = 0; n < 3; ++n) {
    inv.namespaces.add(kNs[n], {{"ns", kNs[n]}});
    for (int p = 0; p < 3; ++p) {
      PodInfo pod;
      pod.ref = {"v1", "Pod", kNs[n], kPodNames[p]};
      pod.ns = kNs[n];
      pod.labels = {{"pod", kPodNames[p]}};
      pod.ips = {*IpAddress::parse("10.0." + std::to_string(n + 1) + "." + std::to_string(p + 1))};
      for (int port : {80, 81}) {
        pod.ports.push_back({"serve-" + std::to_string(port) + "-tcp", Protocol::TCP, port});
        pod.ports.push_back({"serve-" + std::to_string(port) + "-udp", Protocol::UDP, port});
      }
      inv.pods.push_back(std::move(pod));
    }
  }
  PodInfo no_ip;  // a template: its address is not known
  no_ip.ref = {"apps/v1", "Deployment", "x", "d"};
  no_ip.ns = "x";
  no_ip.labels = {{"pod", "d"}};
  no_ip.ports.push_back({"serve-80-tcp", Protocol::TCP, 80});
  inv.pods.push_back(std::move(no_ip));
  return inv;
}

std::string random_policies(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* peers[] = {
      "    - podSelector: {matchLabels: {pod: b}}\n",
      "    - namespaceSelector: {matchLabels: {ns: y}}\n",
      "    - namespaceSelector: {}\n      podSelector: {matchLabels: {pod: c}}\n",
      "    - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}\n",
      "    - ipBlock: {cidr: 10.0.1.1/32}\n",
      "    - ipBlock: {cidr: 0.0.0.0/0}\n",
      "    - podSelector: {}\n",
  };
  const char* ports[] = {
      "    - {port: 80}\n",
      "    - {protocol: TCP, port: 81}\n",
      "    - {port: serve-80-tcp}\n",
      "    - {protocol: UDP, port: serve-81-udp}\n",
      "    - {port: 79, endPort: 81}\n",
      "    - {protocol: UDP}\n",
      "    - {protocol: UDP, port: 53}\n",
  };
  std::string out;
  const int policies = 1 + pick(3);
  for (int i = 0; i < policies; ++i) {
    out += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" + std::to_string(i) +
           ", namespace: " + kNs[pick(3)] + "}\nspec:\n";
    out += pick(3) == 0 ? "  podSelector: {}\n"
                        : std::string("  podSelector: {matchLabels: {pod: ") +
                              (pick(4) == 3 ? "d" : kPodNames[pick(3)]) + "}}\n";
    out += "  policyTypes: [Egress, Ingress]\n";
    for (const char* dir : {"egress", "ingress"}) {
      const int rules = pick(4);
      if (rules == 0) continue;
      out += std::string("  ") + dir + ":\n";
      for (int r = 0; r < rules; ++r) {
        out += "  - ";
        bool first = true;
        auto field = [&](const std::string& name) {
          out += (first ? "" : "    ") + name + ":\n";
          first = false;
        };
        if (int n = pick(4); n > 0) {
          field(std::string(dir) == "egress" ? "to" : "from");
          for (int k = 0; k < n; ++k) out += peers[pick(7)];
        }
        if (int n = pick(4); n > 0) {
          field("ports");
          for (int k = 0; k < n; ++k) out += ports[pick(7)];
        }
        if (first) out += "{}\n";
      }
    }
  }
  return out;
}

// The walk the engine made before rules were read whole.
struct Walk {
  Verdict::Answer answer = Verdict::Answer::denied;
  std::optional<Grant> by;
};

Walk pairwise(const Analyzer& an, const GrantList& grants, const Destination& peer_side, const Destination& ports_side,
              int port, Protocol proto) {
  Walk w;
  for (const Grant& g : grants) {
    Match m = an.peer_match(*g.policy, *g.peer, peer_side);
    if (!m || !an.port_matches(*g.port, ports_side, port, proto)) continue;
    if (m.kind == Match::Kind::yes) return {Verdict::Answer::allowed, g};
    if (!w.by) w = {Verdict::Answer::conditional, g};
  }
  return w;
}

bool same_grant(const std::optional<Grant>& a, const std::optional<Grant>& b) {
  if (!a || !b) return !a && !b;
  return a->policy == b->policy && a->rule == b->rule && a->peer == b->peer && a->port == b->port &&
         a->ingress == b->ingress;
}

}  // namespace

TEST_CASE("verdicts read per rule are the pairwise walk's, grant for grant (random policies)") {
  std::mt19937 rng(19);
  int compared = 0, allowed = 0, conditional = 0;
  for (int round = 0; round < 300; ++round) {
    const std::string yaml = random_policies(rng);
    INFO(yaml);
    Inventory inv = world(yaml);
    Analyzer an(inv);
    std::vector<Destination> addresses;
    for (const char* ip : {"10.0.1.1", "10.0.2.5", "8.8.8.8"})
      addresses.push_back(Destination::address(*IpAddress::parse(ip)));
    for (const PodInfo& src : inv.pods) {
      PodNetwork net = an.analyze(src);
      std::size_t pairs = 0;
      for ([[maybe_unused]] const Grant& g : net->egress) ++pairs;
      CHECK(pairs == net->egress.size());
      for (Protocol proto : {Protocol::TCP, Protocol::UDP})
        for (int port : {53, 80, 81}) {
          std::size_t covering = 0;
          for (const Grant& g : net->egress) covering += an.grant_covers_port(g, port, proto);
          CHECK(an.any_grant_covers_port(net->egress, port, proto) == (covering > 0));
          std::vector<Destination> dests = addresses;
          for (const PodInfo& d : inv.pods)
            if (&d != &src) dests.push_back(Destination::to_pod(d));
          for (const Destination& dest : dests) {
            Verdict v = an.allows(net, dest, port, proto);
            if (net->egress_isolated) {
              Walk w = pairwise(an, net->egress, dest, dest, port, proto);
              CHECK(v.answer == w.answer);
              CHECK(same_grant(v.by, w.by));
              ++compared;
              allowed += w.answer == Verdict::Answer::allowed;
              conditional += w.answer == Verdict::Answer::conditional;
            }
            if (dest.kind != Destination::Kind::pod) continue;
            PodNetwork dnet = an.analyze(*dest.pod);
            Verdict in = an.admits(dnet, src, port, proto);
            if (dnet->ingress_isolated) {
              Walk w = pairwise(an, dnet->ingress, Destination::to_pod(src), dest, port, proto);
              CHECK(in.answer == w.answer);
              CHECK(same_grant(in.by, w.by));
              ++compared;
            }
          }
        }
    }
  }
  // The random policies reach every outcome.
  CHECK(compared > 10000);
  CHECK(allowed > 1000);
  CHECK(conditional > 100);
}

TEST_CASE("a rule of many peers and many ports is kept as one rule, its grants in order") {
  // 1,500 ipBlock peers x 1,500 ports: 2.25 million grants in about 100 KB of
  // YAML. Kept as pairs (40 bytes each) they took 90 MB per isolation.
  std::string yaml =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: wide, namespace: x}\nspec:\n"
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n";
  for (int i = 0; i < 1500; ++i)
    yaml += "    - ipBlock: {cidr: 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24}\n";
  yaml += "    ports:\n";
  for (int i = 0; i < 1500; ++i) yaml += "    - {port: " + std::to_string(1000 + i) + "}\n";
  Inventory inv = world(yaml);
  Analyzer an(inv);
  PodNetwork net = an.analyze(inv.pods[0]);
  REQUIRE(net->egress_isolated);
  CHECK(net->egress.rules().size() == 1);
  CHECK(net->egress.size() == 1500u * 1500u);
  auto it = net->egress.begin();
  CHECK((*it).peer->cidr.to_string() == "10.0.0.0/24");
  CHECK((*it).port->port == 1000);
  ++it;
  CHECK((*it).peer->cidr.to_string() == "10.0.0.0/24");
  CHECK((*it).port->port == 1001);
  // The last peer on the last port: the grant that allows it is that pair.
  Verdict v = an.allows(net, Destination::address(*IpAddress::parse("10.5.219.9")), 2499, Protocol::TCP);
  CHECK(v.allowed);
  REQUIRE(v.by);
  CHECK(v.by->peer->cidr.to_string() == "10.5.219.0/24");
  CHECK(v.by->port->port == 2499);
  CHECK_FALSE(an.allows(net, Destination::address(*IpAddress::parse("10.5.220.9")), 2499, Protocol::TCP).possible());
  CHECK_FALSE(an.any_grant_covers_port(net->egress, 53, Protocol::UDP));
}

TEST_CASE("egress-policy-mismatch counts the grants beyond the promise without listing them all") {
  // A loki-mode agent promising no egress, selected by a policy of 600 peers x
  // 600 ports beyond DNS: 360,000 grants, three named and the rest counted.
  std::string yaml =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: wide, namespace: loki}\nspec:\n"
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - {protocol: UDP, port: 53}\n"
      "    - {protocol: TCP, port: 53}\n  - to:\n";
  for (int i = 0; i < 600; ++i)
    yaml += "    - ipBlock: {cidr: 10.1." + std::to_string(i % 256) + "." + std::to_string(i / 256) + "/32}\n";
  yaml += "    ports:\n";
  for (int i = 0; i < 600; ++i) yaml += "    - {port: " + std::to_string(2000 + i) + "}\n";
  yaml +=
      "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: agent, namespace: loki}\nspec:\n  selector: "
      "{matchLabels: {app: loki-mode}}\n  template:\n    metadata:\n      labels: {app: loki-mode}\n    spec:\n"
      "      containers:\n      - name: loki\n        image: loki:1\n        env:\n"
      "        - {name: LOKI_NETWORK_EGRESS_POLICY, value: none}\n";
  loki::LintSession s(loki::EngineOptions{});
  s.add_text(yaml, "t.yaml");
  auto r = s.finish();
  std::vector<std::string> messages;
  for (const auto& f : r.findings)
    if (f.rule == "egress-policy-mismatch") messages.push_back(f.message);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find(
            "NetworkPolicy loki/wide egress[1]: to ipBlock 10.1.0.0/32 on TCP/2000; NetworkPolicy loki/wide "
            "egress[1]: to ipBlock 10.1.0.0/32 on TCP/2001; NetworkPolicy loki/wide egress[1]: to ipBlock 10.1.0.0/32 "
            "on TCP/2002; and 359997 more") != std::string::npos);
  for (const auto& f : r.findings) CHECK(f.rule != "dns-blocked");
}

TEST_CASE("a named port many pods map to different numbers: covered only where a selected pod serves it") {
  // 400 pods name their port "serve" on 1000 + i; the rule's peers select the
  // even ones. The names are looked up sorted, the pods only for a number
  // some pod maps the name to.
  std::string yaml =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: named, namespace: x}\nspec:\n"
      "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n";
  for (int i = 0; i < 400; i += 2) yaml += "    - podSelector: {matchLabels: {app: s" + std::to_string(i) + "}}\n";
  yaml += "    ports:\n    - {port: serve}\n";
  Inventory inv = world(yaml);
  for (int i = 0; i < 400; ++i) {
    PodInfo p;
    p.ref = {"v1", "Pod", "x", "s" + std::to_string(i)};
    p.ns = "x";
    p.labels = {{"app", "s" + std::to_string(i)}};
    p.ports.push_back({"serve", i % 3 == 0 ? Protocol::UDP : Protocol::TCP, 1000 + i});
    inv.pods.push_back(std::move(p));
  }
  Analyzer an(inv);
  PodNetwork net = an.analyze(inv.pods[0]);  // x/a
  REQUIRE(net->egress_isolated);
  for (int i = 0; i < 400; ++i)
    for (Protocol proto : {Protocol::TCP, Protocol::UDP}) {
      // The spec's protocol is TCP (the default): UDP "serve" ports are not it.
      const bool served = i % 2 == 0 && i % 3 != 0 && proto == Protocol::TCP;
      CHECK(an.any_grant_covers_port(net->egress, 1000 + i, proto) == served);
    }
  CHECK_FALSE(an.any_grant_covers_port(net->egress, 80, Protocol::TCP));  // x/b's serve-80-tcp is another name
  CHECK_FALSE(an.any_grant_covers_port(net->egress, 1400, Protocol::TCP));
}
