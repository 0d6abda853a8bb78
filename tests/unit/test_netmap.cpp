// loki-audit netmap: the matrix (compute_netmap / connections) on small
// inventories, and the shape of its three outputs.
#include <doctest/doctest.h>
#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netmap.hpp>
#include <nlohmann/json.hpp>

using namespace loki::netpol;

namespace {

Inventory load(const std::string& yaml) {
  Inventory inv;
  loki::Config cfg;  // agents: app=loki-mode
  for (auto& d : loki::parse_manifest_text(yaml, "t.yaml")) {
    REQUIRE(d.errors.empty());
    for (auto& o : d.objects) inv.add(o, cfg, "ns1");
  }
  return inv;
}

// `extra`: more of the pod spec; `ports`: the container's ports (flow YAML).
std::string pod(const std::string& name, const std::string& labels, const std::string& extra = "",
                const std::string& ports = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: ns1, labels: {" + labels +
         "}}\nspec:\n" + extra +
         "  containers:\n  - name: c\n    image: busybox@sha256:0000000000000000000000000000000000000000000000000000"
         "000000000000\n" +
         (ports.empty() ? "" : "    ports: " + ports + "\n") + "---\n";
}

std::string deployment(const std::string& name, const std::string& labels) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name +
         ", namespace: ns1}\nspec:\n  selector: {matchLabels: {" + labels +
         "}}\n  template:\n    metadata: {labels: {" + labels +
         "}}\n    spec:\n      containers:\n      - name: c\n        image: busybox@sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\n---\n";
}

std::string policy(const std::string& name, const std::string& selector, const std::string& body) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name +
         ", namespace: ns1}\nspec:\n  podSelector: {" + selector + "}\n" + body + "---\n";
}

const char* const kAgentDenyAll = "  policyTypes: [Egress]\n";
const char* const kDnsOnly =
    "  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]\n";

std::size_t index_of(const Netmap& m, const std::string& name) {
  for (std::size_t i = 0; i < m.pods.size(); ++i)
    if (m.pods[i]->ref.name == name) return i;
  FAIL("no pod " << name);
  return 0;
}

std::size_t ext(const Netmap& m, const std::string& id) {
  for (std::size_t e = 0; e < m.externals.size(); ++e)
    if (m.externals[e].id == id) return e;
  FAIL("no external " << id);
  return 0;
}

using A = Verdict::Answer;

}  // namespace

TEST_CASE("netmap: a deny-all namespace reaches nothing, not even DNS") {
  auto inv =
      load(policy("deny-all", "", "  policyTypes: [Ingress, Egress]\n") + pod("a", "app: a") + pod("b", "app: b"));
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  REQUIRE(m.pods.size() == 2);
  const auto a = index_of(m, "a"), b = index_of(m, "b");
  CHECK(m.conns[a][b].answer() == A::denied);
  CHECK(to_string(m.conns[a][b].allowed) == "-");
  CHECK(m.conns[a][a].allowed.empty());  // a workload to itself is not listed
  for (const char* id : {"internet", "metadata", "dns"}) CHECK(m.out[a][ext(m, id)].answer == A::denied);
  REQUIRE(m.dns_stand_in);  // no kube-dns pod in the input
  CHECK(m.externals[ext(m, "dns")].probes.front().dest.pod == m.dns_stand_in.get());
}

TEST_CASE("netmap: an agent allowed DNS only") {
  auto inv = load(policy("dns-only", "matchLabels: {app: loki-mode}", kDnsOnly) + pod("agent", "app: loki-mode") +
                  pod("web", "app: web"));
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  const auto agent = index_of(m, "agent"), web = index_of(m, "web");
  CHECK(m.pods[agent]->loki);
  CHECK(m.out[agent][ext(m, "dns")].answer == A::allowed);
  CHECK(m.out[agent][ext(m, "internet")].answer == A::denied);
  CHECK(m.out[agent][ext(m, "metadata")].answer == A::denied);
  // Exactly port 53 of both protocols, to a pod that does not isolate ingress.
  CHECK(to_string(m.conns[agent][web].allowed) == "TCP/53 UDP/53");
  CHECK(to_string(m.conns[web][agent].allowed) == "all");
  CHECK(m.out[web][ext(m, "metadata")].answer == A::allowed);
}

TEST_CASE("netmap: an agent with egress to any reaches the internet and the metadata endpoint") {
  auto inv = load(policy("open", "matchLabels: {app: loki-mode}", "  policyTypes: [Egress]\n  egress: [{}]\n") +
                  policy("deny", "matchLabels: {app: loki-mode}", kAgentDenyAll) + pod("agent", "app: loki-mode") +
                  pod("web", "app: web"));
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  const auto agent = index_of(m, "agent"), web = index_of(m, "web");
  CHECK(m.out[agent][ext(m, "internet")].answer == A::allowed);
  CHECK(m.out[agent][ext(m, "metadata")].answer == A::allowed);
  CHECK(to_string(m.conns[agent][web].allowed) == "all");
  const std::string text = netmap_text(m);
  CHECK(text.find("[1] Pod/agent *") != std::string::npos);
  CHECK(text.find("allowed !") != std::string::npos);
  CHECK(text.find("\x1b[") == std::string::npos);  // no colour unless asked
  CHECK(netmap_text(m, {true}).find("\x1b[1;31mallowed !\x1b[0m") != std::string::npos);
  const std::string dot = netmap_dot(m);
  CHECK(dot.find("\"ns1/agent[Pod]\" -> \"internet\" [label=\"TCP/443\" color=red2") != std::string::npos);
}

TEST_CASE("netmap: a destination known by its template is conditional on its pod IP") {
  auto inv = load(policy("to-block", "matchLabels: {app: web}",
                         "  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}}]\n"
                         "    ports: [{port: 8000, endPort: 8080}, {port: 8081}]\n") +
                  pod("web", "app: web") + deployment("cache", "app: cache"));
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  const auto web = index_of(m, "web"), cache = index_of(m, "cache");
  const ConnSet& c = m.conns[web][cache];
  CHECK(c.answer() == A::conditional);
  CHECK(c.allowed.empty());
  CHECK(to_string(c.conditional) == "TCP/8000-8081");  // adjacent ranges merged
  CHECK(c.condition.find("only if the pod IP is in 10.0.0.0/8") != std::string::npos);
  const auto j = netmap_json(m);
  bool seen = false;
  for (const auto& x : j["connections"])
    if (x["from"] == "Pod ns1/web" && x["to"] == "Deployment ns1/cache") {
      seen = true;
      CHECK(x["verdict"] == "conditional");
      CHECK(x["conditional"][0] == nlohmann::json{{"protocol", "TCP"}, {"first", 8000}, {"last", 8081}});
      CHECK(x.contains("condition"));
    }
  CHECK(seen);
  CHECK(netmap_dot(m).find("[label=\"?TCP/8000-8081\" style=dashed]") != std::string::npos);
  // The pod CIDR settles it.
  an.set_pod_cidrs({*Cidr::parse("10.244.0.0/16")});
  CHECK(to_string(connections(an, *m.pods[web], *m.pods[cache]).allowed) == "TCP/8000-8081");
}

TEST_CASE("netmap: hostNetwork pods are conditional (implementation-defined)") {
  auto inv = load(policy("deny", "", "  policyTypes: [Ingress, Egress]\n") +
                  pod("exporter", "app: exporter", "  hostNetwork: true\n") + pod("web", "app: web"));
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  const auto ex = index_of(m, "exporter"), web = index_of(m, "web");
  // As node traffic no policy applies to it; as a pod, deny-all does.
  CHECK(m.out[ex][ext(m, "internet")].answer == A::conditional);
  // To it: denied as a pod, and as node traffic only from its own node.
  CHECK(m.conns[web][ex].answer() == A::conditional);
  CHECK(m.conns[web][ex].condition.find("implementation-defined") != std::string::npos);
  CHECK(netmap_text(m).find("Pod/exporter [hostNetwork]") != std::string::npos);
}

TEST_CASE("netmap: named ports of the destination and a real kube-dns pod") {
  auto inv =
      load(policy("agent", "matchLabels: {app: loki-mode}",
                  "  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchLabels: {app: api}}}]\n"
                  "    ports: [{port: http}]\n") +
           pod("agent", "app: loki-mode") + pod("api", "app: api", "", "[{name: http, containerPort: 8080}]") +
           "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}\n"
           "spec:\n  containers:\n  - name: c\n    image: busybox@sha256:"
           "0000000000000000000000000000000000000000000000000000000000000000\n---\n");
  Analyzer an(inv);
  Netmap m = compute_netmap(an, "ns1");
  CHECK(to_string(m.conns[index_of(m, "agent")][index_of(m, "api")].allowed) == "TCP/8080");
  CHECK_FALSE(m.dns_stand_in);
  CHECK(m.externals[ext(m, "dns")].probes.front().dest.pod->ref.name == "coredns");
  CHECK(m.out[index_of(m, "agent")][ext(m, "dns")].answer == A::denied);
}
