// loki-netpol-bench: the network pass at scale. Generates (seeded) N pods and
// M policies across K namespaces (default 10k / 2k / 100, a quarter of the
// pods loki-mode), then times, in one run:
//   baseline  building the inventory from the objects (what any consumer of
//             the manifests pays: read each object once);
//   analysis  the full network pass (check_network: every rule) over it;
//   queries   analyze() + allows() for every pod to three destinations.
// Reports wall times, the analysis/baseline ratio and peak RSS.
// Usage: loki-netpol-bench [PODS POLICIES NAMESPACES [SEED]]
#include <loki/config.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>
#include <loki/network_checks.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

const char* const kApps[] = {"api", "web", "worker", "db", "cache", "queue", "batch", "proxy", "search", "ml"};

json pod_object(int ns, int i, std::mt19937& rng) {
  std::string app = kApps[rng() % 10];
  bool loki = rng() % 4 == 0;
  json labels = {{"app", loki ? std::string("loki-mode") : app}, {"tier", (i % 3 == 0) ? "backend" : "frontend"}};
  if (rng() % 5 == 0) labels["role"] = "backend";
  json container = {
      {"name", "c"}, {"image", "x:1"}, {"ports", json::array({{{"name", "http"}, {"containerPort", 8080}}})}};
  if (loki) {
    const char* pol[] = {"none", "ai-only", "unrestricted"};
    container["env"] = json::array({{{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", pol[rng() % 3]}},
                                    {{"name", "LOKI_BLOCK_METADATA_ENDPOINT"}, {"value", "true"}}});
  }
  json spec = {{"containers", json::array({container})}};
  if (rng() % 200 == 0) spec["hostNetwork"] = true;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "d" + std::to_string(i)}, {"namespace", "ns" + std::to_string(ns)}}},
          {"spec", {{"template", {{"metadata", {{"labels", labels}}}, {"spec", spec}}}}}};
}

json policy_object(int ns, int i, std::mt19937& rng) {
  json md = {{"name", "p" + std::to_string(i)}, {"namespace", "ns" + std::to_string(ns)}};
  json sel = json::object();
  switch (rng() % 5) {
    case 0:
      break;  // every pod
    case 1:
      sel["matchLabels"] = {{"app", kApps[rng() % 10]}};
      break;
    case 2:
      sel["matchLabels"] = {{"app", "loki-mode"}};
      break;
    case 3:
      sel["matchExpressions"] = json::array({{{"key", "tier"}, {"operator", "In"}, {"values", {"backend", "x"}}}});
      break;
    default:
      sel["matchLabels"] = {{"role", "backend"}};
  }
  switch (rng() % 6) {
    case 0:  // ingress-only
      return {{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata", md},
              {"spec",
               {{"podSelector", sel},
                {"policyTypes", {"Ingress"}},
                {"ingress",
                 json::array({{{"from", json::array({{{"podSelector", {{"matchLabels", {{"app", "web"}}}}}}})}}})}}}};
    case 1:  // default deny egress
      return {{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata", md},
              {"spec", {{"podSelector", json::object()}, {"policyTypes", {"Egress"}}}}};
    case 2:  // DNS to kube-dns
      return {
          {"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", md},
          {"spec",
           {{"podSelector", sel},
            {"policyTypes", {"Egress"}},
            {"egress",
             json::array({{{"to", json::array({{{"namespaceSelector",
                                                 {{"matchLabels", {{"kubernetes.io/metadata.name", "kube-system"}}}}},
                                                {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}})},
                           {"ports", json::array({{{"protocol", "UDP"}, {"port", 53}},
                                                  {{"protocol", "TCP"}, {"port", 53}}})}}})}}}};
    case 3:  // ipBlock with except, to a named port range
      return {
          {"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", md},
          {"spec",
           {{"podSelector", sel},
            {"policyTypes", {"Egress"}},
            {"egress",
             json::array(
                 {{{"to", json::array({{{"ipBlock",
                                         {{"cidr", "0.0.0.0/0"}, {"except", {"169.254.169.254/32", "10.0.0.0/8"}}}}}})},
                   {"ports", json::array({{{"port", 443}}, {{"port", 8000}, {"endPort", 9000}}})}}})}}}};
    case 4:  // to other namespaces' pods on a named port
      return {
          {"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", md},
          {"spec",
           {{"podSelector", sel},
            {"egress",
             json::array({{{"to", json::array({{{"namespaceSelector",
                                                 {{"matchLabels", {{"team", "t" + std::to_string(rng() % 10)}}}}},
                                                {"podSelector", {{"matchLabels", {{"app", kApps[rng() % 10]}}}}}}})},
                           {"ports", json::array({{{"port", "http"}}})}}})}}}};
    default:  // Cilium FQDNs
      return {
          {"apiVersion", "cilium.io/v2"},
          {"kind", "CiliumNetworkPolicy"},
          {"metadata", md},
          {"spec",
           {{"endpointSelector", sel},
            {"egress",
             json::array(
                 {{{"toFQDNs", json::array({{{"matchName", "api.anthropic.com"}}, {{"matchPattern", "*.openai.com"}}})},
                   {"toPorts",
                    json::array({{{"ports", json::array({{{"port", "443"}, {"protocol", "TCP"}}})}}})}}})}}}};
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n_pods = argc > 1 ? std::atoi(argv[1]) : 10000;
  int n_policies = argc > 2 ? std::atoi(argv[2]) : 2000;
  int n_ns = argc > 3 ? std::atoi(argv[3]) : 100;
  unsigned seed = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 42;
  if (n_pods <= 0 || n_policies < 0 || n_ns <= 0) {
    std::fprintf(stderr, "usage: loki-netpol-bench [PODS POLICIES NAMESPACES [SEED]]\n");
    return 2;
  }
  std::mt19937 rng(seed);
  std::vector<loki::Object> objects;
  objects.reserve(static_cast<std::size_t>(n_pods + n_policies + n_ns));
  for (int ns = 0; ns < n_ns; ++ns) {
    loki::Object o;
    o.json = {
        {"apiVersion", "v1"},
        {"kind", "Namespace"},
        {"metadata", {{"name", "ns" + std::to_string(ns)}, {"labels", {{"team", "t" + std::to_string(ns % 10)}}}}}};
    objects.push_back(std::move(o));
  }
  for (int i = 0; i < n_pods; ++i) {
    loki::Object o;
    o.json = pod_object(i % n_ns, i, rng);
    objects.push_back(std::move(o));
  }
  for (int i = 0; i < n_policies; ++i) {
    loki::Object o;
    o.json = policy_object(i % n_ns, i, rng);
    objects.push_back(std::move(o));
  }
  for (std::size_t i = 0; i < objects.size(); ++i) {
    objects[i].file = "bench.yaml";
    objects[i].line = static_cast<int>(i) + 1;
  }
  long rss_objects = peak_rss_kib();

  loki::Config config;
  auto t0 = std::chrono::steady_clock::now();
  loki::netpol::Inventory inv;
  for (const auto& o : objects) inv.add(o, config, "default");
  inv.sort();
  double t_inventory = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  auto findings = loki::check_network(inv, config);
  double t_analysis = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  loki::netpol::Analyzer an(inv);
  std::size_t allowed = 0;
  auto meta = loki::netpol::Destination::address(*loki::netpol::IpAddress::parse("169.254.169.254"));
  auto ext = loki::netpol::Destination::address(*loki::netpol::IpAddress::parse("93.184.216.34"));
  auto host = loki::netpol::Destination::hostname("api.anthropic.com");
  for (const auto& pod : inv.pods) {
    auto net = an.analyze(pod);
    allowed += an.allows(net, meta, 80, loki::netpol::Protocol::TCP).allowed;
    allowed += an.allows(net, ext, 443, loki::netpol::Protocol::TCP).allowed;
    allowed += an.allows(net, host, 443, loki::netpol::Protocol::TCP).allowed;
  }
  double t_queries = seconds_since(t0);

  std::map<std::string, std::size_t> by_rule;
  for (const auto& f : findings) ++by_rule[f.rule];
  std::printf("loki-netpol-bench: %d pods, %d policies, %d namespaces (seed %u)\n", n_pods, n_policies, n_ns, seed);
  std::printf("  inventory (baseline):    %8.3f s  (%zu pods, %zu policies)\n", t_inventory, inv.pods.size(),
              inv.policies.size());
  std::printf("  analysis (every rule):   %8.3f s  (%.2fx baseline), %zu findings\n", t_analysis,
              t_inventory > 0 ? t_analysis / t_inventory : 0.0, findings.size());
  std::printf("  queries (3 per pod):     %8.3f s  (%zu allowed)\n", t_queries, allowed);
  std::printf("  peak RSS:                %8.1f MiB (%.1f MiB after generating the objects)\n", peak_rss_kib() / 1024.0,
              rss_objects / 1024.0);
  for (const auto& [rule, n] : by_rule) std::printf("    %-30s %zu\n", rule.c_str(), n);
  return 0;
}
