// End-to-end connectivity verdicts (issue 16): pod IPs, address families,
// hostNetwork destinations, traffic to itself, and the destination's ingress.
// Each case quotes the upstream sentence that decides it; the expectations
// come from that text, not from the engine.
#include <doctest/doctest.h>

#include <algorithm>
#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

using namespace loki::netpol;

namespace {

Inventory load(const std::string& yaml) {
  Inventory inv;
  loki::Config cfg;
  for (auto& d : loki::parse_manifest_text(yaml, "t.yaml")) {
    REQUIRE(d.errors.empty());
    for (auto& o : d.objects) inv.add(o, cfg, "db");
  }
  return inv;
}

const PodInfo& find(const Inventory& inv, const std::string& ns, const std::string& name) {
  for (const auto& p : inv.pods)
    if (p.ns == ns && p.ref.name == name) return p;
  FAIL("no pod " << ns << "/" << name);
  return inv.pods.front();
}

// A Pod with a status, as `kubectl get pod -o yaml` prints it.
std::string pod_yaml(const std::string& ns, const std::string& name, const std::string& labels,
                     const std::string& status, bool host_network = false, const std::string& ports = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {" + labels +
         "}}\nspec:\n" + (host_network ? "  hostNetwork: true\n" : "") +
         "  containers:\n  - name: c\n    image: busybox@sha256:0000000000000000000000000000000000000000000000000000"
         "000000000000\n" +
         (ports.empty() ? "" : "    ports: " + ports + "\n") + (status.empty() ? "" : "status: " + status + "\n") +
         "---\n";
}

const char* const kEgressTo = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: app}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: CIDR}}]
---
)";

std::string egress_to(const std::string& cidr) {
  std::string s = kEgressTo;
  s.replace(s.find("CIDR"), 4, cidr);
  return s;
}

}  // namespace

// (1) "should allow egress access to server in CIDR block" (the upstream e2e
// test, test/e2e/network/netpol/network_policy.go) builds the block from the
// server pod's IP and expects the connection ALLOWED: ipBlock peers match pods
// by their IPs (status.podIPs).
TEST_CASE("pod IPs: status.podIPs / status.podIP are read, and ipBlock matches pods by them") {
  auto inv = load(egress_to("10.244.1.0/24") +
                  pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7, podIPs: [{ip: 10.244.2.7}]}") +
                  pod_yaml("db", "p0", "app: db", "{podIP: 10.244.1.2, podIPs: [{ip: 10.244.1.2}, {ip: 'fd00::2'}]}") +
                  pod_yaml("db", "old", "app: db", "{podIP: 10.244.9.9}"));
  const PodInfo& p0 = find(inv, "db", "p0");
  REQUIRE(p0.ips.size() == 2);
  CHECK(p0.ips[0].to_string() == "10.244.1.2");
  CHECK(p0.ips[1].to_string() == "fd00::2");
  REQUIRE(find(inv, "db", "old").ips.size() == 1);  // only the older status.podIP
  Analyzer an(inv);
  auto v = an.allows(an.analyze(find(inv, "app", "p1")), Destination::to_pod(p0), 80, Protocol::TCP);
  CHECK(v.answer == Verdict::Answer::allowed);
  CHECK(v.reason.find("client-egress egress[0]") != std::string::npos);
  CHECK_FALSE(
      an.allows(an.analyze(find(inv, "app", "p1")), Destination::to_pod(find(inv, "db", "old")), 80, Protocol::TCP)
          .possible());
}

TEST_CASE("pod IPs: 0.0.0.0/0 except the metadata endpoint covers a pod by its IP") {
  auto inv = load(egress_to("0.0.0.0/0, except: [169.254.169.254/32]") +
                  pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                  pod_yaml("db", "db1", "app: db", "{podIP: 10.244.1.2}"));
  Analyzer an(inv);
  auto v =
      an.allows(an.analyze(find(inv, "app", "p1")), Destination::to_pod(find(inv, "db", "db1")), 5432, Protocol::TCP);
  CHECK(v.answer == Verdict::Answer::allowed);
}

// A pod known only by its template has an IP the input does not say: an
// ipBlock may cover it, so the answer is conditional, never a flat DENIED.
TEST_CASE("pod IPs: unknown destination IP and an ipBlock: conditional, naming the block") {
  auto inv = load(egress_to("10.244.0.0/16") + pod_yaml("app", "p1", "role: client", "") + R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: pg, namespace: db}
spec:
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers: [{name: pg, image: "postgres@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
)");
  Analyzer an(inv);
  auto v =
      an.allows(an.analyze(find(inv, "app", "p1")), Destination::to_pod(find(inv, "db", "pg")), 5432, Protocol::TCP);
  CHECK(v.answer == Verdict::Answer::conditional);
  CHECK(v.reason.find("only if the pod IP is in 10.244.0.0/16") != std::string::npos);
}

// (2) An IPv6 block holds no IPv4 address: Go's net.IPNet.Contains (used by
// the reference implementations) compares address lengths, and RFC 4291's
// ::/0 is the IPv6 address space. The API's IPBlock: "CIDR is a string
// representing the IPBlock Valid examples are "192.168.1.0/24" or
// "2001:db8::/64"".
TEST_CASE("address family: ::/0 does not cover IPv4 pods, addresses or names, and 0.0.0.0/0 no IPv6 pod") {
  auto inv = load(egress_to("'::/0'") + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                  pod_yaml("db", "v4", "app: db", "{podIP: 10.244.1.2}") +
                  pod_yaml("db", "v6", "app: db", "{podIP: 'fd00::5'}") + R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: tmpl, namespace: db}
spec:
  selector: {matchLabels: {app: t}}
  template:
    metadata: {labels: {app: t}}
    spec:
      containers: [{name: t, image: "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
)");
  Analyzer an(inv);
  auto net = an.analyze(find(inv, "app", "p1"));
  CHECK(an.allows(net, Destination::to_pod(find(inv, "db", "v4")), 80, Protocol::TCP).answer ==
        Verdict::Answer::denied);
  CHECK(an.allows(net, Destination::to_pod(find(inv, "db", "v6")), 80, Protocol::TCP).answer ==
        Verdict::Answer::allowed);
  CHECK(an.allows(net, Destination::address(*IpAddress::parse("1.1.1.1")), 443, Protocol::TCP).answer ==
        Verdict::Answer::denied);
  // The template's IP is unknown: IPv6 or not, it is not certain.
  CHECK(an.allows(net, Destination::to_pod(find(inv, "db", "tmpl")), 80, Protocol::TCP).answer !=
        Verdict::Answer::allowed);
  // A host name: reachable over ::/0 only if it has an IPv6 address.
  auto host = an.allows(net, Destination::hostname("api.anthropic.com"), 443, Protocol::TCP);
  CHECK(host.answer == Verdict::Answer::conditional);
  CHECK(host.reason.find("resolves to an address in ::/0") != std::string::npos);

  auto inv4 = load(egress_to("0.0.0.0/0") + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                   pod_yaml("db", "v6", "app: db", "{podIP: 'fd00::5'}"));
  Analyzer an4(inv4);
  CHECK(an4.allows(an4.analyze(find(inv4, "app", "p1")), Destination::to_pod(find(inv4, "db", "v6")), 80, Protocol::TCP)
            .answer == Verdict::Answer::denied);
  CHECK(an4.allows(an4.analyze(find(inv4, "app", "p1")), Destination::hostname("api.anthropic.com"), 443, Protocol::TCP)
            .answer == Verdict::Answer::allowed);
}

// (3) "NetworkPolicy behaviour for hostNetwork pods is undefined, but it should
// be limited to 2 possibilities: [...] will apply NetworkPolicy to hostNetwork
// pods just like it does to pod-network pods. [...] it ignores hostNetwork pods
// when matching podSelector and namespaceSelector. Traffic to/from hostNetwork
// pods is treated the same as all other traffic to/from the node IP."
TEST_CASE("hostNetwork destination: podSelector peers make it implementation-defined, never a confident verdict") {
  auto inv = load(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-db, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]
---
)" + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                  pod_yaml("db", "hn", "app: db", "{podIP: 192.168.0.10}", true));
  Analyzer an(inv);
  auto net = an.analyze(find(inv, "app", "p1"));
  auto v = an.allows(net, Destination::to_pod(find(inv, "db", "hn")), 80, Protocol::TCP);
  CHECK(v.answer == Verdict::Answer::conditional);
  CHECK(v.reason.find("implementation-defined") != std::string::npos);
  CHECK(v.reason.find("depends on the CNI") != std::string::npos);
  // The ingress side of a hostNetwork destination is conditional too when
  // it is isolated under the pod-network reading.
  auto c = an.connect(find(inv, "app", "p1"), Destination::to_pod(find(inv, "db", "hn")), 80, Protocol::TCP);
  CHECK(c.answer == Verdict::Answer::conditional);
}

TEST_CASE("hostNetwork destination: both readings agree, the verdict is certain") {
  auto inv = load(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all-out, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{}]
---
)" + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                  pod_yaml("db", "hn", "app: db", "{podIP: 192.168.0.10}", true));
  Analyzer an(inv);
  auto c = an.connect(find(inv, "app", "p1"), Destination::to_pod(find(inv, "db", "hn")), 80, Protocol::TCP);
  CHECK(c.egress.answer == Verdict::Answer::allowed);
  REQUIRE(c.ingress);
  CHECK(c.ingress->answer == Verdict::Answer::allowed);
  CHECK(c.answer == Verdict::Answer::allowed);
}

// (4) The concepts page: "Other pods that are allowed (exception: a pod cannot
// block access to itself)".
TEST_CASE("a pod can always reach itself, however isolated") {
  auto inv = load(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: db}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
)" + pod_yaml("db", "solo", "app: db", "{podIP: 10.244.1.2}") +
                  pod_yaml("db", "other", "app: db", "{podIP: 10.244.1.3}"));
  Analyzer an(inv);
  const PodInfo& solo = find(inv, "db", "solo");
  auto self = an.connect(solo, Destination::to_pod(solo), 8080, Protocol::TCP);
  CHECK(self.egress.answer == Verdict::Answer::allowed);
  REQUIRE(self.ingress);
  CHECK(self.ingress->answer == Verdict::Answer::allowed);
  CHECK(self.answer == Verdict::Answer::allowed);
  CHECK(self.egress.reason.find("cannot block access to itself") != std::string::npos);
  // Another pod of the same policy stays denied.
  CHECK(an.connect(solo, Destination::to_pod(find(inv, "db", "other")), 8080, Protocol::TCP).answer ==
        Verdict::Answer::denied);
}

// (5) "For a connection from a source pod to a destination pod to be allowed,
// both the egress policy on the source pod and the ingress policy on the
// destination pod need to allow the connection. If either side does not
// allow the connection, it will not happen."
TEST_CASE("end to end: the destination's ingress decides too; named ports resolve against the destination") {
  auto inv =
      load(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: db}
spec:
  podSelector: {matchLabels: {app: pg}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: web}}, podSelector: {matchLabels: {role: client}}}]
    ports: [{port: postgres}]
---
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {team: web}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
)" + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
           pod_yaml("other", "p2", "role: client", "{podIP: 10.244.3.7}") +
           pod_yaml("db", "pg", "app: pg", "{podIP: 10.244.1.2}", false, "[{name: postgres, containerPort: 5432}]"));
  Analyzer an(inv);
  const PodInfo& pg = find(inv, "db", "pg");
  // p1 is not egress-isolated, and pg's ingress admits it on its named port.
  auto ok = an.connect(find(inv, "app", "p1"), Destination::to_pod(pg), 5432, Protocol::TCP);
  CHECK(ok.answer == Verdict::Answer::allowed);
  REQUIRE(ok.ingress);
  REQUIRE(ok.ingress->by);
  REQUIRE(ok.ingress->by->policy);
  CHECK(ok.ingress->by->policy->ref.name == "db-ingress");
  CHECK(ok.ingress->by->ingress);
  CHECK(ok.ingress->by->rule == 0);
  // p2's egress is open, but pg's ingress does not admit namespace other:
  // egress-only analysis would have said ALLOWED.
  auto no = an.connect(find(inv, "other", "p2"), Destination::to_pod(pg), 5432, Protocol::TCP);
  CHECK(no.egress.answer == Verdict::Answer::allowed);
  REQUIRE(no.ingress);
  CHECK(no.ingress->answer == Verdict::Answer::denied);
  CHECK(no.answer == Verdict::Answer::denied);
  // Another port of pg is not the named one.
  CHECK(an.connect(find(inv, "app", "p1"), Destination::to_pod(pg), 5433, Protocol::TCP).answer ==
        Verdict::Answer::denied);
  // An address destination: only the source's egress applies.
  auto ip = an.connect(find(inv, "app", "p1"), Destination::address(*IpAddress::parse("1.1.1.1")), 443, Protocol::TCP);
  CHECK_FALSE(ip.ingress);
  CHECK(ip.answer == Verdict::Answer::allowed);
}

TEST_CASE("explain_json: verdict per direction with the deciding policy and rule") {
  auto inv = load(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: db}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{port: 5432}]
---
)" + pod_yaml("app", "p1", "role: client", "{podIP: 10.244.2.7}") +
                  pod_yaml("db", "pg", "app: pg", "{podIP: 10.244.1.2}"));
  Analyzer an(inv);
  ExplainTarget t{Destination::to_pod(find(inv, "db", "pg")), 5432, Protocol::TCP, "", "pod/pg:5432"};
  auto j = explain_json(an, find(inv, "app", "p1"), t);
  CHECK(j["verdict"] == "allowed");
  CHECK(j["egress"]["verdict"] == "allowed");
  CHECK(j["egress"]["policy"].is_null());
  CHECK(j["ingress"]["verdict"] == "allowed");
  CHECK(j["ingress"]["policy"] == "NetworkPolicy db/db-ingress");
  CHECK(j["ingress"]["rule"] == 0);
  t.port = 5433;
  CHECK(explain_json(an, find(inv, "app", "p1"), t)["verdict"] == "denied");
}

// The pod CIDR (`--pod-cidr`) settles what the template alone cannot: a block
// covering it contains every pod IP, a block disjoint from it none.
TEST_CASE("pod IPs: unknown destination IP decided by the pod CIDRs where it can be") {
  auto tmpl = std::string(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: pg, namespace: db}
spec:
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers: [{name: pg, image: "postgres@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
)");
  auto answer = [&](const std::string& cidr, std::vector<std::string> pod_cidrs) {
    auto inv = load(egress_to(cidr) + pod_yaml("app", "p1", "role: client", "") + tmpl);
    Analyzer an(inv);
    std::vector<Cidr> pcs;
    for (const auto& c : pod_cidrs) pcs.push_back(*Cidr::parse(c));
    an.set_pod_cidrs(pcs);
    return an
        .allows(an.analyze(find(inv, "app", "p1")), Destination::to_pod(find(inv, "db", "pg")), 5432, Protocol::TCP)
        .answer;
  };
  using A = Verdict::Answer;
  CHECK(answer("10.0.0.0/8", {"10.244.0.0/16"}) == A::allowed);
  CHECK(answer("192.168.0.0/16", {"10.244.0.0/16"}) == A::denied);
  CHECK(answer("10.244.1.0/24", {"10.244.0.0/16"}) == A::conditional);
  CHECK(answer("0.0.0.0/0, except: [10.244.5.0/24]", {"10.244.0.0/16"}) == A::conditional);
  CHECK(answer("'::/0'", {"10.244.0.0/16"}) == A::denied);                       // an IPv4-only cluster
  CHECK(answer("'::/0'", {"10.244.0.0/16", "fd00:10:244::/56"}) == A::allowed);  // dual-stack: its IPv6 IP
  CHECK(answer("10.0.0.0/8", {}) == A::conditional);                             // nothing known
}

// pods_of_peer shares one list among peers that select across namespaces and
// read alike (namespace selector, pod selector); own-namespace peers must
// still select their own namespace's pods, and the namespace selector must
// tell lists apart.
// NetworkPolicyPeer.podSelector: "This is a label selector which selects Pods.
// This field follows standard label selector semantics; if present but
// empty, it selects all pods. If namespaceSelector is also set, then the
// NetworkPolicyPeer as a whole selects the Pods matching PodSelector in the
// Namespaces selected by NamespaceSelector. Otherwise it selects the Pods
// matching PodSelector in the policy's own namespace."
TEST_CASE("pods a peer selects: alike peers of different namespaces select their own namespace's pods") {
  std::string yaml =
      pod_yaml("a", "db", "app: db", "") + pod_yaml("b", "db", "app: db", "") + pod_yaml("b", "web", "app: web", "");
  for (const std::string ns : {"a", "b", "a"})
    yaml += "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: to-db-" +
            std::to_string(yaml.size()) + ", namespace: " + ns +
            "}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "  - to: [{podSelector: {matchLabels: {app: db}}}]\n"
            "  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]\n"
            "  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}, podSelector: {matchLabels: "
            "{app: db}}}]\n---\n";
  Inventory inv = load(yaml);
  inv.sort();
  Analyzer an(inv);
  REQUIRE(inv.policies.size() == 3);
  auto names = [](const std::vector<const PodInfo*>& pods) {
    std::vector<std::string> out;
    for (const PodInfo* p : pods) out.push_back(p->ns + "/" + p->ref.name);
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<std::string> both = {"a/db", "b/db"};
  for (const Policy& p : inv.policies) {
    REQUIRE(p.egress_rules.size() == 3);
    const auto& own = an.pods_of_peer(p, p.egress_rules[0].to.at(0));
    CHECK(names(own) == std::vector<std::string>{p.ns + "/db"});
    CHECK(names(an.pods_of_peer(p, p.egress_rules[1].to.at(0))) == both);
    CHECK(names(an.pods_of_peer(p, p.egress_rules[2].to.at(0))) == std::vector<std::string>{"b/db"});
  }
  // Peers across namespaces that read alike share one list; own-namespace
  // peers keep their own (the same pods for the same namespace).
  const Policy* a1 = nullptr;
  const Policy* a2 = nullptr;
  const Policy* b = nullptr;
  for (const Policy& p : inv.policies) (p.ns == "b" ? b : a1 ? a2 : a1) = &p;
  REQUIRE((a1 && a2 && b));
  CHECK(an.pods_of_peer(*a1, a1->egress_rules[0].to[0]) == an.pods_of_peer(*a2, a2->egress_rules[0].to[0]));
  CHECK(an.pods_of_peer(*a1, a1->egress_rules[0].to[0]) != an.pods_of_peer(*b, b->egress_rules[0].to[0]));
  CHECK(&an.pods_of_peer(*a1, a1->egress_rules[1].to[0]) == &an.pods_of_peer(*b, b->egress_rules[1].to[0]));
}
