// NetworkPolicy semantics, table-driven. The expected results are written
// from the specification (the API reference and the concepts page,
// https://kubernetes.io/docs/concepts/services-networking/network-policies/),
// and from the Kubernetes e2e network-policy scenarios
// (test/e2e/network/netpol/network_policy.go: namespaces x/y/z labelled
// ns=<name>, pods a/b/c labelled pod=<name>, each serving named ports
// serve-80-tcp, serve-81-tcp, serve-80-udp, serve-81-udp, serve-80-sctp,
// serve-81-sctp), not from the engine's output. The e2e matrices here are the
// egress side (what the client's policies allow); a pod's traffic to itself is
// left out, as the upstream matrices treat it specially.
#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include <functional>
#include <map>
#include <sstream>

using namespace loki::netpol;

namespace {

loki::netpol::Inventory load(const std::string& yaml, const std::string& default_ns = "x") {
  Inventory inv;
  loki::Config cfg;
  for (auto& d : loki::parse_manifest_text(yaml, "t.yaml")) {
    REQUIRE(d.errors.empty());
    for (auto& o : d.objects) inv.add(o, cfg, default_ns);
  }
  return inv;
}

// ---- the e2e model: x/y/z with pods a/b/c ---------------------------------------

const char* const kNamespaces[] = {"x", "y", "z"};
const char* const kPods[] = {"a", "b", "c"};

std::string ip_of(int ns, int pod) {
  return "10.0." + std::to_string(ns + 1) + "." + std::to_string(pod + 1);
}

Inventory e2e_world(const std::string& policies) {
  Inventory inv = policies.empty() ? Inventory{} : load(policies);
  for (int n = 0; n < 3; ++n) {
    inv.namespaces.add(kNamespaces[n], {{"ns", kNamespaces[n]}});
    for (int p = 0; p < 3; ++p) {
      PodInfo pod;
      pod.ref = {"v1", "Pod", kNamespaces[n], kPods[p]};
      pod.ns = kNamespaces[n];
      pod.labels = {{"pod", kPods[p]}};
      pod.ips = {*IpAddress::parse(ip_of(n, p))};
      for (int port : {80, 81}) {
        pod.ports.push_back({"serve-" + std::to_string(port) + "-tcp", Protocol::TCP, port});
        pod.ports.push_back({"serve-" + std::to_string(port) + "-udp", Protocol::UDP, port});
        pod.ports.push_back({"serve-" + std::to_string(port) + "-sctp", Protocol::SCTP, port});
      }
      inv.pods.push_back(std::move(pod));
    }
  }
  return inv;
}

// The e2e Reachability helper, egress side.
class Reachability {
 public:
  explicit Reachability(bool all) {
    for (auto f : names())
      for (auto t : names()) m_[{f, t}] = all;
  }
  static std::vector<std::string> names() {
    std::vector<std::string> v;
    for (auto n : kNamespaces)
      for (auto p : kPods) v.push_back(std::string(n) + "/" + p);
    return v;
  }
  Reachability& expect(const std::string& from, const std::string& to, bool ok) {
    m_[{from, to}] = ok;
    return *this;
  }
  Reachability& expect_all_ingress(const std::string& to, bool ok) {
    for (auto f : names()) m_[{f, to}] = ok;
    return *this;
  }
  Reachability& expect_all_egress(const std::string& from, bool ok) {
    for (auto t : names()) m_[{from, t}] = ok;
    return *this;
  }
  // Every pod of namespace `ns` to everything.
  Reachability& expect_namespace_egress(const std::string& ns, bool ok) {
    for (auto f : names())
      if (f.rfind(ns + "/", 0) == 0) expect_all_egress(f, ok);
    return *this;
  }
  bool at(const std::string& from, const std::string& to) const { return m_.at({from, to}); }

 private:
  std::map<std::pair<std::string, std::string>, bool> m_;
};

// Checks the whole matrix; prints the e2e-style truth table on mismatch.
void check_matrix(const Inventory& inv, const Reachability& want, int port, Protocol proto) {
  Analyzer an(inv);
  std::map<std::string, const PodInfo*> by_name;
  for (const auto& p : inv.pods) by_name[p.ns + "/" + p.ref.name] = &p;
  std::ostringstream table;
  int wrong = 0;
  table << "egress on " << to_string(proto) << "/" << port << " (want/got, X = mismatch)\n       ";
  for (auto t : Reachability::names()) table << t << " ";
  table << "\n";
  for (auto f : Reachability::names()) {
    table << f << "    ";
    PodNetwork net = an.analyze(*by_name.at(f));
    for (auto t : Reachability::names()) {
      if (f == t) {
        table << " -  ";
        continue;
      }
      bool got = an.allows(net, Destination::to_pod(*by_name.at(t)), port, proto).allowed;
      bool exp = want.at(f, t);
      wrong += got != exp;
      table << (exp ? "." : "#") << (got ? "." : "#") << (got != exp ? "X " : "  ");
    }
    table << "\n";
  }
  INFO(table.str());
  CHECK(wrong == 0);
}

PodNetwork net_of(const Analyzer& an, const Inventory& inv, const std::string& ns, const std::string& name) {
  for (const auto& p : inv.pods)
    if (p.ns == ns && p.ref.name == name) return an.analyze(p);
  FAIL("no pod " << ns << "/" << name);
  return {};
}

// A pod "db" etc. in a namespace, with labels.
PodInfo pod(const std::string& ns, const std::string& name, loki::Labels labels) {
  PodInfo p;
  p.ref = {"v1", "Pod", ns, name};
  p.ns = ns;
  p.labels = std::move(labels);
  return p;
}

bool allows_ip(const Analyzer& an, const PodNetwork& net, const std::string& ip, int port,
               Protocol proto = Protocol::TCP) {
  return an.allows(net, Destination::address(*IpAddress::parse(ip)), port, proto).allowed;
}

}  // namespace

// ---- addresses ---------------------------------------------------------------------

TEST_CASE("IP addresses and CIDR blocks") {
  CHECK(IpAddress::parse("169.254.169.254")->to_string() == "169.254.169.254");
  CHECK(IpAddress::parse("fd00:ec2::254")->to_string() == "fd00:ec2::254");
  CHECK(IpAddress::parse("::ffff:10.0.0.1")->v6);
  CHECK(IpAddress::parse("2001:db8:0:0:0:0:0:1")->to_string() == "2001:db8::1");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1::2::3", "x::1", "1.2.3.4/"})
    CHECK_MESSAGE(!Cidr::parse(bad), bad);
  auto c = *Cidr::parse("172.17.0.0/16");
  CHECK(c.contains(*IpAddress::parse("172.17.255.1")));
  CHECK_FALSE(c.contains(*IpAddress::parse("172.18.0.1")));
  CHECK_FALSE(c.contains(*IpAddress::parse("::1")));  // families never mix
  CHECK(Cidr::parse("10.1.2.3/8")->to_string() == "10.0.0.0/8");
  CHECK(Cidr::parse("0.0.0.0/0")->everything());
  CHECK(Cidr::parse("::/0")->contains(*IpAddress::parse("fd00:ec2::254")));
  CHECK(Cidr::parse("2001:db8::/32")->contains(*Cidr::parse("2001:db8:1::/48")));
  CHECK_FALSE(Cidr::parse("2001:db8::/32")->contains(*Cidr::parse("2001::/16")));
}

TEST_CASE("Cilium FQDN patterns: `*` stays within one DNS label") {
  struct Case {
    const char* pattern;
    const char* name;
    bool match;
  } cases[] = {
      {"*.anthropic.com", "api.anthropic.com", true},
      {"*.anthropic.com", "a.b.anthropic.com", false},
      {"*.anthropic.com", "anthropic.com", false},
      {"api.*.com", "api.openai.com", true},
      {"api*.openai.com", "api-2.openai.com", true},
      {"*", "anything.example.org", true},
      {"API.Anthropic.COM", "api.anthropic.com.", true},
      {"*.googleapis.com", "generativelanguage.googleapis.com", true},
      {"*.googleapis.com", "evil.com", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CAPTURE(c.name);
    CHECK(fqdn_pattern_matches(c.pattern, c.name) == c.match);
  }
}

TEST_CASE("near-miss explanations per selector term") {
  auto sel = loki::LabelSelector::parse("role=backend,tier in (a,b),env!=prod,team,!legacy");
  loki::Labels labels{{"app", "llm-api"}, {"tier", "c"}, {"env", "prod"}, {"legacy", "1"}};
  auto m = selector_misses(sel, labels, "llm-api");
  REQUIRE(m.size() == 5);
  CHECK(m[0] == "llm-api has no label role");
  CHECK(m[1] == "llm-api has tier=c, not a or b");
  CHECK(m[2] == "llm-api has env=prod, which the selector excludes (env!=prod)");
  CHECK(m[3] == "llm-api has no label team");
  CHECK(m[4] == "llm-api has label legacy=1, which the selector requires to be absent");
  CHECK(selector_misses(loki::LabelSelector(), labels, "x").empty());
}

// ---- the documentation's examples ---------------------------------------------------

TEST_CASE("docs: policyTypes defaulting and the default policies") {
  struct Case {
    const char* name;
    const char* policy;
    bool ingress_isolated, egress_isolated, egress_allowed;
  } cases[] = {
      // "Default deny all ingress traffic": no policyTypes needed beyond Ingress; egress untouched.
      {"default-deny-ingress", "podSelector: {}\n  policyTypes: [Ingress]", true, false, true},
      // "Allow all ingress traffic": isolated for ingress but everything allowed; egress untouched.
      {"allow-all-ingress", "podSelector: {}\n  ingress: [{}]\n  policyTypes: [Ingress]", true, false, true},
      // "Default deny all egress traffic".
      {"default-deny-egress", "podSelector: {}\n  policyTypes: [Egress]", false, true, false},
      // "Allow all egress traffic": egress: [{}] with policyTypes Egress.
      {"allow-all-egress", "podSelector: {}\n  egress: [{}]\n  policyTypes: [Egress]", false, true, true},
      // "Default deny all ingress and all egress traffic".
      {"default-deny-all", "podSelector: {}\n  policyTypes: [Ingress, Egress]", true, true, false},
      // No policyTypes, no rules: defaults to [Ingress] (the deny-egress-is-ingress-only trap).
      {"no-types-no-rules", "podSelector: {}", true, false, true},
      // No policyTypes, egress rules: defaults to [Ingress, Egress].
      {"no-types-egress-rules", "podSelector: {}\n  egress: [{ports: [{port: 53, protocol: UDP}]}]", true, true, false},
      // `egress: []` is no rule at all: Egress is not defaulted in.
      {"no-types-empty-egress", "podSelector: {}\n  egress: []", true, false, true},
      // Egress rules written, policyTypes without Egress: the rules are ignored.
      {"egress-rules-ignored", "podSelector: {}\n  policyTypes: [Ingress]\n  egress: [{}]", true, false, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto inv = load(std::string("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, "
                                "namespace: default}\nspec:\n  ") +
                    c.policy);
    inv.pods.push_back(pod("default", "any", {{"app", "x"}}));
    Analyzer an(inv);
    auto net = an.analyze(inv.pods[0]);
    CHECK(net->ingress_isolated == c.ingress_isolated);
    CHECK(net->egress_isolated == c.egress_isolated);
    CHECK(allows_ip(an, net, "93.184.216.34", 443) == c.egress_allowed);
  }
}

TEST_CASE("docs: the test-network-policy example") {
  // The first example of the concepts page, verbatim.
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
)");
  inv.pods.push_back(pod("default", "db", {{"role", "db"}}));
  inv.pods.push_back(pod("default", "web", {{"role", "frontend"}}));
  Analyzer an(inv);
  auto db = an.analyze(inv.pods[0]);
  CHECK(db->ingress_isolated);
  CHECK(db->egress_isolated);
  REQUIRE(db->egress_policies.size() == 1);
  CHECK(db->egress.size() == 1);  // one peer x one port
  SUBCASE("db may connect to 10.0.0.0/24 on TCP 5978 only") {
    CHECK(allows_ip(an, db, "10.0.0.1", 5978));
    CHECK(allows_ip(an, db, "10.0.0.255", 5978));
    CHECK_FALSE(allows_ip(an, db, "10.0.1.1", 5978));
    CHECK_FALSE(allows_ip(an, db, "10.0.0.1", 5979));
    CHECK_FALSE(allows_ip(an, db, "10.0.0.1", 5978, Protocol::UDP));
    CHECK_FALSE(allows_ip(an, db, "169.254.169.254", 80));
  }
  SUBCASE("pods the policy does not select are not isolated") {
    auto web = an.analyze(inv.pods[1]);
    CHECK_FALSE(web->egress_isolated);
    CHECK_FALSE(web->ingress_isolated);
    CHECK(allows_ip(an, web, "1.1.1.1", 53, Protocol::UDP));
  }
}

TEST_CASE("docs: to/from selectors, one peer with both selectors vs two peers") {
  // "Behavior of to and from selectors": namespaceSelector and podSelector in
  // one element select pods with role=client in namespaces user=alice; as two
  // elements they select role=client pods of the policy's namespace OR every
  // pod of user=alice namespaces.
  const std::string head =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: default}\n"
      "spec:\n  podSelector: {matchLabels: {app: agent}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n";
  const std::string and_peer =
      "    - namespaceSelector: {matchLabels: {user: alice}}\n      podSelector: {matchLabels: {role: client}}\n";
  const std::string or_peers =
      "    - namespaceSelector: {matchLabels: {user: alice}}\n    - podSelector: {matchLabels: {role: client}}\n";
  struct Target {
    const char* ns;
    const char* role;
    bool and_allowed, or_allowed;
  } targets[] = {
      {"alice-ns", "client", true, true},  {"alice-ns", "server", false, true}, {"default", "client", false, true},
      {"default", "server", false, false}, {"bob-ns", "client", false, false},
  };
  for (bool use_and : {true, false}) {
    auto inv = load(head + (use_and ? and_peer : or_peers));
    inv.namespaces.add("alice-ns", {{"user", "alice"}});
    inv.namespaces.add("bob-ns", {{"user", "bob"}});
    inv.pods.push_back(pod("default", "agent", {{"app", "agent"}}));
    for (const auto& t : targets) inv.pods.push_back(pod(t.ns, std::string(t.ns) + "-" + t.role, {{"role", t.role}}));
    Analyzer an(inv);
    auto net = an.analyze(inv.pods[0]);
    for (std::size_t i = 0; i < std::size(targets); ++i) {
      CAPTURE(use_and);
      CAPTURE(targets[i].ns);
      CAPTURE(targets[i].role);
      bool got = an.allows(net, Destination::to_pod(inv.pods[i + 1]), 8080, Protocol::TCP).allowed;
      CHECK(got == (use_and ? targets[i].and_allowed : targets[i].or_allowed));
    }
  }
}

TEST_CASE("docs: targeting a range of ports (endPort)") {
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: multi-port-egress
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Egress
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 32000
          endPort: 32768
)");
  inv.pods.push_back(pod("default", "db", {{"role", "db"}}));
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  struct Case {
    int port;
    Protocol proto;
    bool allowed;
  } cases[] = {{32000, Protocol::TCP, true},   {32768, Protocol::TCP, true},  {32500, Protocol::TCP, true},
               {31999, Protocol::TCP, false},  {32769, Protocol::TCP, false}, {32000, Protocol::UDP, false},
               {32000, Protocol::SCTP, false}, {443, Protocol::TCP, false}};
  for (const auto& c : cases) {
    CAPTURE(c.port);
    CHECK(allows_ip(an, net, "10.0.0.7", c.port, c.proto) == c.allowed);
  }
}

TEST_CASE("docs: targeting a namespace by its name (kubernetes.io/metadata.name)") {
  // The automatic label exists also for namespaces the input does not define.
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-my-ns, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: my-ns
)");
  inv.pods.push_back(pod("default", "client", {}));
  inv.pods.push_back(pod("my-ns", "server", {{"app", "s"}}));
  inv.pods.push_back(pod("other", "server2", {{"app", "s"}}));
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  CHECK_FALSE(inv.namespaces.known("my-ns"));
  CHECK(an.allows(net, Destination::to_pod(inv.pods[1]), 80, Protocol::TCP).allowed);
  CHECK_FALSE(an.allows(net, Destination::to_pod(inv.pods[2]), 80, Protocol::TCP).allowed);
  CHECK_FALSE(allows_ip(an, net, "8.8.8.8", 80));
}

TEST_CASE("docs: protocol defaults to TCP, SCTP and UDP are distinct") {
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 80}, {protocol: SCTP, port: 9000}, {protocol: UDP}]
)");
  inv.pods.push_back(pod("default", "c", {}));
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  CHECK(allows_ip(an, net, "1.2.3.4", 80, Protocol::TCP));
  CHECK_FALSE(allows_ip(an, net, "1.2.3.4", 80, Protocol::SCTP));
  CHECK(allows_ip(an, net, "1.2.3.4", 9000, Protocol::SCTP));
  CHECK_FALSE(allows_ip(an, net, "1.2.3.4", 9000, Protocol::TCP));
  CHECK(allows_ip(an, net, "1.2.3.4", 12345, Protocol::UDP));  // a protocol without port: every port
  CHECK_FALSE(allows_ip(an, net, "1.2.3.4", 12345, Protocol::TCP));
}

TEST_CASE("docs: ipBlock with except, IPv4 and IPv6") {
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32, 10.0.0.0/8]}
    - ipBlock: {cidr: "::/0", except: ["fd00:ec2::254/128"]}
)");
  inv.pods.push_back(pod("default", "c", {}));
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  CHECK(allows_ip(an, net, "93.184.216.34", 443));
  CHECK_FALSE(allows_ip(an, net, "169.254.169.254", 80));
  CHECK(allows_ip(an, net, "169.254.169.253", 80));
  CHECK_FALSE(allows_ip(an, net, "10.1.2.3", 80));
  CHECK(allows_ip(an, net, "2001:db8::1", 443));
  CHECK_FALSE(allows_ip(an, net, "fd00:ec2::254", 80));
}

TEST_CASE("docs: NetworkPolicy does not apply to hostNetwork pods") {
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Egress]
)");
  auto p = pod("default", "hn", {});
  p.host_network = true;
  inv.pods.push_back(p);
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  CHECK(net->selecting.size() == 1);  // selected...
  CHECK_FALSE(net->policies_apply);   // ...but not enforced as node traffic
  CHECK_FALSE(net->egress_isolated);
  // "NetworkPolicy behaviour for hostNetwork pods is undefined": a plugin that
  // applies it denies, one that sees node traffic allows; neither is certain,
  // and the reachable side is kept (possible).
  auto v = an.allows(net, Destination::address(*IpAddress::parse("8.8.8.8")), 443, Protocol::TCP);
  CHECK(v.answer == Verdict::Answer::conditional);
  CHECK(v.possible());
}

// ---- the e2e scenarios -----------------------------------------------------------------

namespace {
struct E2ECase {
  const char* name;  // the e2e It(...) text
  const char* policies;
  int port;
  Protocol proto;
  std::function<void(Reachability&)> expect;  // applied to an all-true matrix
};

const E2ECase kE2E[] = {
    {"should support a 'default-deny-ingress' policy (egress unaffected)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-ingress}\nspec:\n  podSelector: {}\n"
     "  ingress: []\n",
     80, Protocol::TCP, [](Reachability&) {}},
    {"should support a 'default-deny-all' policy",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all-tcp-allow-dns}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  egress:\n  - ports: [{protocol: UDP, port: 53}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("x", false); }},
    {"should deny egress from pods based on PodSelector",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress-pod-a}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false); }},
    {"should deny egress from all pods in a namespace",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress-ns-x}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("x", false); }},
    {"should work with Ingress, Egress specified together (port 80)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ingress-egress}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {pod: b}}}]\n"
     "  egress:\n  - ports: [{protocol: TCP, port: 80}, {protocol: UDP, port: 53}]\n",
     80, Protocol::TCP, [](Reachability&) {}},
    {"should work with Ingress, Egress specified together (port 81 denied)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ingress-egress}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {pod: b}}}]\n"
     "  egress:\n  - ports: [{protocol: TCP, port: 80}, {protocol: UDP, port: 53}]\n",
     81, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false); }},
    {"should allow egress access on one named port (80)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: serve-80-tcp}]\n"
     "  - ports: [{protocol: UDP, port: 53}]\n",
     80, Protocol::TCP, [](Reachability&) {}},
    {"should allow egress access on one named port (81 denied)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: serve-80-tcp}]\n"
     "  - ports: [{protocol: UDP, port: 53}]\n",
     81, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("x", false); }},
    {"named port with the wrong protocol does not match (serve-80-udp over TCP)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress-udp-name}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: serve-80-udp}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("x", false); }},
    {"should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and "
     "NamespaceSelector",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-to-ns-y-pod-a}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchLabels: {ns: \"y\"}}, podSelector: {matchLabels: {pod: a}}}]\n"
     "  - ports: [{protocol: UDP, port: 53}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false).expect("x/a", "y/a", true); }},
    {"should enforce multiple egress policies with egress allow-all policy taking precedence (before allow-all)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress-port-80}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 80}]\n",
     81, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false); }},
    {"should enforce multiple egress policies with egress allow-all policy taking precedence (after allow-all)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress-port-80}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 80}]\n---\n"
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress-all}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - {}\n",
     81, Protocol::TCP, [](Reachability&) {}},
    {"should stop enforcing policies after they are deleted (while present)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all}\nspec:\n  podSelector: {}\n"
     "  policyTypes: [Ingress, Egress]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("x", false); }},
    {"should stop enforcing policies after they are deleted (after deletion)", "", 80, Protocol::TCP,
     [](Reachability&) {}},
    {"should allow egress access to server in CIDR block",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-cidr-egress-rule}\n"
     "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{ipBlock: {cidr: 10.0.2.2/32}}]\n",  // y/b's address
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false).expect("x/a", "y/b", true); }},
    {"should enforce except clause while egress access to server in CIDR block",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-client-a-via-except-cidr}\n"
     "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{ipBlock: {cidr: 10.0.1.2/4, except: [10.0.1.2/32]}}]\n",  // x/b's address /4, minus x/b
     80, Protocol::TCP, [](Reachability& r) { r.expect("x/a", "x/b", false); }},
    {"should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-client-a-via-except-cidr}\n"
     "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{ipBlock: {cidr: 10.0.1.2/4, except: [10.0.1.2/32]}}]\n---\n"
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-cidr}\n"
     "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{ipBlock: {cidr: 10.0.1.2/32}}]\n",
     80, Protocol::TCP, [](Reachability&) {}},
    {"should support denying of egress traffic on the client side (even if the server explicitly allows this "
     "traffic)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-to-ns-y-pod-a}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchLabels: {ns: \"y\"}}, podSelector: {matchLabels: {pod: a}}}]\n---\n"
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-from-xa-to-yb, namespace: \"y\"}\n"
     "spec:\n  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n  ingress:\n"
     "  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false).expect("x/a", "y/a", true); }},
    {"should enforce policy based on Multiple PodSelectors and NamespaceSelectors (ingress-only: egress open)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-z-pod-b-c}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
     "    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n"
     "      podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}\n",
     80, Protocol::TCP, [](Reachability&) {}},
    {"should enforce multiple, stacked policies with overlapping podSelectors (egress union)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: to-y}\nspec:\n  podSelector: {}\n"
     "  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {ns: \"y\"}}}]\n---\n"
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-to-z-c}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchLabels: {ns: z}}, podSelector: {matchLabels: {pod: c}}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       r.expect_namespace_egress("x", false);
       for (auto t : {"y/a", "y/b", "y/c"})
         for (auto f : {"x/a", "x/b", "x/c"}) r.expect(f, t, true);
       r.expect("x/a", "z/c", true);
     }},
    {"should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-to-y-by-name}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       r.expect_namespace_egress("x", false);
       for (auto f : {"x/a", "x/b", "x/c"})
         for (auto t : {"y/a", "y/b", "y/c"}) r.expect(f, t, true);
     }},
    {"should enforce policy based on NamespaceSelector with MatchExpressions (egress: ns NotIn [y])",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: not-y}\nspec:\n  podSelector: {}\n"
     "  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [\"y\"]}]}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       for (auto f : {"x/a", "x/b", "x/c"})
         for (auto t : {"y/a", "y/b", "y/c"}) r.expect(f, t, false);
     }},
    {"should enforce policy based on PodSelector with MatchExpressions (egress: pod DoesNotExist matches nothing)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: unlabelled}\nspec:\n"
     "  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{podSelector: {matchExpressions: [{key: pod, operator: DoesNotExist}]}}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/b", false); }},
    {"should enforce policy based on Ports (UDP egress only: TCP 81 denied)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: udp-81}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - ports: [{protocol: UDP, port: 81}]\n",
     81, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false); }},
    {"should enforce policy based on Ports (UDP egress only: UDP 81 allowed)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: udp-81}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - ports: [{protocol: UDP, port: 81}]\n",
     81, Protocol::UDP, [](Reachability&) {}},
    {"should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP'",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: sctp-80}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - ports: [{protocol: SCTP, port: 80}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_egress("x/a", false); }},
    {"should support egress to a port range (endPort 80-81 covers 81)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: range}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - ports: [{protocol: TCP, port: 80, endPort: 81}]\n",
     81, Protocol::TCP, [](Reachability&) {}},
    {"egress to pods of the policy's own namespace only (podSelector alone)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same-ns}\nspec:\n"
     "  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       r.expect_all_egress("x/c", false);
       r.expect("x/c", "x/a", true).expect("x/c", "x/b", true);
     }},
    {"a policy in namespace y does not select pods of x",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-y, namespace: \"y\"}\nspec:\n"
     "  podSelector: {}\n  policyTypes: [Egress]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_namespace_egress("y", false); }},
    {"egress: [{to: []}] (empty to, no ports) allows everything",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: all}\nspec:\n  podSelector: {}\n"
     "  policyTypes: [Egress]\n  egress:\n  - to: []\n",
     81, Protocol::SCTP, [](Reachability&) {}},
};
}  // namespace

TEST_CASE("e2e network-policy scenarios: egress reachability matrices") {
  for (const auto& c : kE2E) {
    SUBCASE(c.name) {
      auto inv = e2e_world(c.policies);
      Reachability want(true);
      c.expect(want);
      check_matrix(inv, want, c.port, c.proto);
    }
  }
}

TEST_CASE("e2e: isolation per direction and selecting policies") {
  auto inv = e2e_world(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ingress-only}\nspec:\n"
      "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{}]\n---\n"
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: egress-b}\nspec:\n"
      "  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Egress]\n");
  Analyzer an(inv);
  auto xa = net_of(an, inv, "x", "a");
  CHECK(xa->ingress_isolated);
  CHECK_FALSE(xa->egress_isolated);
  REQUIRE(xa->ingress_policies.size() == 1);
  CHECK(xa->ingress_policies[0]->ref.name == "ingress-only");
  CHECK(xa->egress_policies.empty());
  auto xb = net_of(an, inv, "x", "b");
  CHECK_FALSE(xb->ingress_isolated);
  CHECK(xb->egress_isolated);
  CHECK(xb->egress.empty());  // isolated, nothing allowed
  auto ya = net_of(an, inv, "y", "a");
  CHECK(ya->selecting.empty());
}

TEST_CASE("CiliumNetworkPolicy egress: FQDNs, entities, CIDR sets, endpoints, ports") {
  auto inv = load(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ai-only, namespace: loki}
spec:
  endpointSelector:
    matchLabels: {app: loki-mode}
  egress:
  - toEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: kube-system
        k8s-app: kube-dns
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
  - toFQDNs:
    - matchName: api.anthropic.com
    - matchPattern: "*.openai.com"
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
  - toCIDRSet:
    - cidr: 10.0.0.0/8
      except: [10.96.0.0/12]
    toPorts:
    - ports: [{port: "5432"}]
  - toEntities: [world]
    toPorts:
    - ports: [{port: "8443", protocol: TCP}]
  - toEndpoints: [{}]
)",
                  "loki");
  inv.pods.push_back(pod("loki", "agent", {{"app", "loki-mode"}}));
  inv.pods.push_back(pod("kube-system", "coredns", {{"k8s-app", "kube-dns"}}));
  inv.pods.push_back(pod("loki", "db", {{"app", "db"}}));
  inv.pods.push_back(pod("other", "db2", {{"app", "db"}}));
  REQUIRE(inv.policies.size() == 1);
  CHECK(inv.policies[0].is_cilium());
  Analyzer an(inv);
  auto net = an.analyze(inv.pods[0]);
  CHECK(net->egress_isolated);
  auto host = [&](const char* h, int port) {
    return an.allows(net, Destination::hostname(h), port, Protocol::TCP).allowed;
  };
  CHECK(host("api.anthropic.com", 443));
  CHECK_FALSE(host("api.anthropic.com", 80));
  CHECK(host("api.openai.com", 443));
  CHECK_FALSE(host("a.b.openai.com", 443));
  CHECK_FALSE(host("example.com", 443));
  CHECK(host("example.com", 8443));  // world
  CHECK(an.allows(net, Destination::to_pod(inv.pods[1]), 53, Protocol::UDP).allowed);
  CHECK(an.allows(net, Destination::to_pod(inv.pods[1]), 53, Protocol::TCP).allowed);  // ANY
  CHECK_FALSE(an.allows(net, Destination::to_pod(inv.pods[1]), 80, Protocol::TCP).allowed);
  CHECK(an.allows(net, Destination::to_pod(inv.pods[2]), 9999, Protocol::TCP).allowed);  // toEndpoints [{}]: own ns
  CHECK_FALSE(an.allows(net, Destination::to_pod(inv.pods[3]), 9999, Protocol::TCP).allowed);
  CHECK(allows_ip(an, net, "10.1.2.3", 5432));
  CHECK(allows_ip(an, net, "10.1.2.3", 5432, Protocol::UDP));  // protocol defaults to ANY
  CHECK_FALSE(allows_ip(an, net, "10.96.0.10", 5432));
  CHECK(allows_ip(an, net, "169.254.169.254", 8443));  // world includes it
  CHECK_FALSE(allows_ip(an, net, "169.254.169.254", 80));
}

// The isolation is a function of the selecting policies (and whether they
// apply): pods the same policies select share one, and each keeps its own pod.
TEST_CASE("analyze: pods selected by the same policies share one isolation, others do not") {
  auto inv = load(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-web, namespace: a}
spec:
  podSelector: {matchLabels: {role: web}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 443}]
)");
  inv.pods.push_back(pod("a", "web-1", {{"role", "web"}}));
  inv.pods.push_back(pod("a", "web-2", {{"role", "web"}, {"x", "y"}}));
  inv.pods.push_back(pod("a", "db", {{"role", "db"}}));
  inv.pods.push_back(pod("a", "web-host", {{"role", "web"}}));
  inv.pods.back().host_network = true;
  inv.pods.push_back(pod("b", "web", {{"role", "web"}}));
  Analyzer an(inv);
  const PodNetwork w1 = an.analyze(inv.pods[0]);
  const PodNetwork w2 = an.analyze(inv.pods[1]);
  CHECK(w1.pod == &inv.pods[0]);
  CHECK(w2.pod == &inv.pods[1]);
  CHECK(w1.isolation == w2.isolation);
  CHECK(w1->egress_isolated);
  REQUIRE(w1->egress.size() == 1);
  const PodNetwork db = an.analyze(inv.pods[2]);
  const PodNetwork other_ns = an.analyze(inv.pods[4]);
  CHECK(db.isolation == other_ns.isolation);  // both selected by nothing
  CHECK(db.isolation != w1.isolation);
  CHECK_FALSE(db->egress_isolated);
  // Selected, but the policy does not apply to a hostNetwork pod's traffic.
  const PodNetwork host = an.analyze(inv.pods[3]);
  CHECK(host.isolation != w1.isolation);
  CHECK(host->selecting.size() == 1);
  CHECK_FALSE(host->egress_isolated);
  const PodNetwork host_as_pod = an.analyze(inv.pods[3], true);
  CHECK(host_as_pod.isolation == w1.isolation);
  CHECK(host_as_pod.pod == &inv.pods[3]);
}

TEST_CASE("Cilium: `- {}` isolates and allows nothing, enableDefaultDeny.egress: false does not isolate") {
  auto inv = load(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: a}
spec:
  endpointSelector: {}
  egress:
  - {}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: add-only, namespace: b}
spec:
  endpointSelector: {}
  enableDefaultDeny: {egress: false}
  egress:
  - toFQDNs: [{matchName: api.anthropic.com}]
)");
  inv.pods.push_back(pod("a", "p", {}));
  inv.pods.push_back(pod("b", "p", {}));
  Analyzer an(inv);
  auto a = an.analyze(inv.pods[0]);
  CHECK(a->egress_isolated);
  CHECK_FALSE(allows_ip(an, a, "8.8.8.8", 53, Protocol::UDP));
  auto b = an.analyze(inv.pods[1]);
  CHECK_FALSE(b->egress_isolated);
  CHECK(allows_ip(an, b, "8.8.8.8", 443));
}

// ---- the e2e scenarios end to end: source egress AND destination ingress -------------------

namespace {
// Upstream's ingress cases (and one of both directions), checked with
// Analyzer::connect: "For a connection from a source pod to a destination
// pod to be allowed, both the egress policy on the source pod and the ingress
// policy on the destination pod need to allow the connection." Traffic of a
// pod to itself is checked separately (test_netpol_connect.cpp).
const E2ECase kE2EBoth[] = {
    {"should support a 'default-deny-ingress' policy",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-ingress}\nspec:\n  podSelector: {}\n"
     "  ingress: []\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       for (auto t : {"x/a", "x/b", "x/c"}) r.expect_all_ingress(t, false);
     }},
    {"should enforce policy to allow traffic from pods within server namespace based on PodSelector",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-pod-selector}\n"
     "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {pod: b}}}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_ingress("x/a", false).expect("x/b", "x/a", true); }},
    {"should enforce policy based on NamespaceSelector with MatchExpressions",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y}\nspec:\n  podSelector: {}\n"
     "  ingress:\n  - from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [\"y\"]}]}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       for (auto t : {"x/a", "x/b", "x/c"})
         for (auto f : {"x/a", "x/b", "x/c", "z/a", "z/b", "z/c"}) r.expect(f, t, false);
     }},
    {"should enforce policy based on PodSelector or NamespaceSelector",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-or}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
     "    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n"
     "    - podSelector: {matchLabels: {pod: b}}\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       r.expect_all_ingress("x/a", false).expect("x/b", "x/a", true);
       for (auto f : {"y/a", "y/b", "y/c", "z/a", "z/b", "z/c"}) r.expect(f, "x/a", true);
     }},
    {"should enforce policy based on PodSelector and NamespaceSelector",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-and}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
     "    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n"
     "      podSelector: {matchLabels: {pod: b}}\n",
     80, Protocol::TCP,
     [](Reachability& r) { r.expect_all_ingress("x/a", false).expect("y/b", "x/a", true).expect("z/b", "x/a", true); }},
    {"should enforce policy based on Ports (81 allowed from y)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ingress-on-port-81}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
     "  - from: [{namespaceSelector: {matchLabels: {ns: \"y\"}}}]\n    ports: [{port: 81}]\n",
     81, Protocol::TCP,
     [](Reachability& r) {
       r.expect_all_ingress("x/a", false);
       for (auto f : {"y/a", "y/b", "y/c"}) r.expect(f, "x/a", true);
     }},
    {"should enforce policy based on Ports (80 denied)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ingress-on-port-81}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
     "  - from: [{namespaceSelector: {matchLabels: {ns: \"y\"}}}]\n    ports: [{port: 81}]\n",
     80, Protocol::TCP, [](Reachability& r) { r.expect_all_ingress("x/a", false); }},
    {"should allow ingress access on one named port",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all-on-serve-81}\nspec:\n"
     "  podSelector: {}\n  ingress:\n  - ports: [{port: serve-81-tcp}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       for (auto t : {"x/a", "x/b", "x/c"}) r.expect_all_ingress(t, false);
     }},
    {"should support denying of egress traffic on the client side (even if the server explicitly allows this "
     "traffic)",
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-to-ns-y-pod-a}\nspec:\n"
     "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n"
     "  - to: [{namespaceSelector: {matchLabels: {ns: \"y\"}}, podSelector: {matchLabels: {pod: a}}}]\n---\n"
     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-from-xa-to-yb, namespace: \"y\"}\n"
     "spec:\n  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n  ingress:\n"
     "  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]\n",
     80, Protocol::TCP,
     [](Reachability& r) {
       r.expect_all_ingress("y/b", false);
       r.expect_all_egress("x/a", false).expect("x/a", "y/a", true);
     }},
};
}  // namespace

TEST_CASE("e2e network-policy scenarios end to end: egress and ingress") {
  for (const auto& c : kE2EBoth) {
    SUBCASE(c.name) {
      auto inv = e2e_world(c.policies);
      Reachability want(true);
      c.expect(want);
      Analyzer an(inv);
      std::map<std::string, const PodInfo*> by_name;
      for (const auto& p : inv.pods) by_name[p.ns + "/" + p.ref.name] = &p;
      int wrong = 0;
      std::string misses;
      for (auto f : Reachability::names())
        for (auto t : Reachability::names()) {
          if (f == t) continue;
          auto conn = an.connect(*by_name.at(f), Destination::to_pod(*by_name.at(t)), c.port, c.proto);
          bool got = conn.answer == Verdict::Answer::allowed;
          if (got != want.at(f, t)) {
            ++wrong;
            misses += f + " -> " + t + ": want " + (want.at(f, t) ? "allowed" : "denied") + ", got " +
                      std::string(to_string(conn.answer)) + "\n";
          }
          CHECK(conn.answer != Verdict::Answer::conditional);  // every pod IP is known
        }
      INFO(misses);
      CHECK(wrong == 0);
    }
  }
}
