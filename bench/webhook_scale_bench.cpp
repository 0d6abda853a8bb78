// Admission cost against cluster size (issue 19): fills loki-webhook's policy
// cache through the reflectors' own store code (Reflector::replace, what a
// list does) with N namespaces, pods and NetworkPolicies, then measures the
// /validate and /mutate handlers (parse, view of the cache, decide, dump) for a
// typical loki-mode pod review and a NetworkPolicy review, side by side with
// the same cache empty in the same process. Rounds alternate between the two
// caches so machine noise hits both alike; ratios are what to compare.
//   loki-webhook-scale-bench [--namespaces 10000] [--pods 100000] [--policies 20000] [--reviews 4000]
//                            [--events 100]
#include <loki/config.hpp>

#include "admission.hpp"
#include "policy_cache.hpp"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Sizes {
  int namespaces = 10000, pods = 100000, policies = 20000, reviews = 4000, events = 100;
};

// Bytes in use on the heap. (No malloc_trim: releasing the pages of free
// chunks makes later allocations fault them back in, which showed up as
// slower reviews than any cache costs.)
std::size_t heap_bytes() {
  struct mallinfo2 m = mallinfo2();  // every arena
  return m.uordblks + m.hblkhd;
}

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

std::string ns_name(int i) {
  return "tenant-" + std::to_string(i);
}

// Labels as tenants' namespaces carry them.
json namespace_object(int i) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata",
           {{"name", ns_name(i)},
            {"uid", "6f1c2a7e-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"resourceVersion", std::to_string(1000 + i)},
            {"labels",
             {{"kubernetes.io/metadata.name", ns_name(i)},
              {"team", "team-" + std::to_string(i % 200)},
              {"env", i % 3 == 0   ? "prod"
                      : i % 3 == 1 ? "staging"
                                   : "dev"},
              {"tenant", "t" + std::to_string(i)}}}}},
          {"spec", {{"finalizers", {"kubernetes"}}}},
          {"status", {{"phase", "Active"}}}};
}

// A live pod as the API server lists it (about 2.5 KB of JSON): three in ten
// are loki-mode agents with their LOKI_* settings.
json pod_object(int i, int ns, std::mt19937& rng) {
  static const char* apps[] = {"web", "api", "worker", "cache", "loki-mode"};
  const bool agent = i % 10 < 3;
  const std::string app = agent ? "loki-mode" : apps[i % 4];
  char hash[11];
  for (char& c : hash) c = "bcdfghjklmnpqrstvwxz2456789"[rng() % 27];
  hash[10] = 0;
  const std::string name = app + "-" + std::string(hash, 10) + "-" + std::to_string(i);
  json env = json::array({{{"name", "LOG_LEVEL"}, {"value", "info"}}});
  if (agent) {
    env.push_back({{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "ai-only"}});
    env.push_back({{"name", "LOKI_ALLOWED_HOSTS"}, {"value", "api.anthropic.com,github.com"}});
    env.push_back({{"name", "LOKI_BLOCK_METADATA_ENDPOINT"}, {"value", "true"}});
  }
  const std::string ip =
      "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", ns_name(ns)},
        {"uid", "0b3d6b5e-1d2c-4d8f-9a51-" + std::to_string(100000000000 + i)},
        {"resourceVersion", std::to_string(50000 + i)},
        {"creationTimestamp", "2026-11-30T10:00:00Z"},
        {"labels",
         {{"app", app},
          {"app.kubernetes.io/part-of", "team-" + std::to_string(ns % 200)},
          {"pod-template-hash", std::string(hash, 10)},
          {"version", "v" + std::to_string(i % 7)}}},
        {"annotations", {{"kubectl.kubernetes.io/restartedAt", "2026-11-30T09:59:00Z"}}},
        {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "ReplicaSet"},
                                          {"name", app + "-" + std::string(hash, 10)},
                                          {"uid", "a1b2c3d4-0000-4000-8000-000000000001"},
                                          {"controller", true}}})}}},
      {"spec",
       {{"containers",
         json::array({{{"name", app},
                       {"image", "registry.example.com/" + app + ":1." + std::to_string(i % 13)},
                       {"ports", json::array({{{"name", "http"}, {"containerPort", 8080}, {"protocol", "TCP"}},
                                              {{"name", "metrics"}, {"containerPort", 9090}, {"protocol", "TCP"}}})},
                       {"env", env},
                       {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
                       {"volumeMounts", json::array({{{"name", "kube-api-access"},
                                                      {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                                                      {"readOnly", true}}})},
                       {"terminationMessagePath", "/dev/termination-log"},
                       {"imagePullPolicy", "IfNotPresent"}}})},
        {"volumes", json::array({{{"name", "kube-api-access"}, {"projected", {{"defaultMode", 420}}}}})},
        {"restartPolicy", "Always"},
        {"dnsPolicy", "ClusterFirst"},
        {"serviceAccountName", "default"},
        {"nodeName", "node-" + std::to_string(i % 300)},
        {"schedulerName", "default-scheduler"},
        {"priority", 0}}},
      {"status",
       {{"phase", "Running"},
        {"hostIP", "192.168." + std::to_string(i % 300 / 256) + "." + std::to_string(i % 256)},
        {"podIP", ip},
        {"podIPs", json::array({{{"ip", ip}}})},
        {"qosClass", "Burstable"},
        {"startTime", "2026-11-30T10:00:01Z"},
        {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}},
                                    {{"type", "ContainersReady"}, {"status", "True"}},
                                    {{"type", "PodScheduled"}, {"status", "True"}}})}}}};
}

// Policies with selectors: the agents' egress (DNS, their team's namespaces,
// the AI API by CIDR) and a web ingress from the prod namespaces.
json policy_object(int i, int ns) {
  const bool agents = i % 2 == 0;
  json spec;
  if (agents) {
    spec = {
        {"podSelector", {{"matchLabels", {{"app", "loki-mode"}}}}},
        {"policyTypes", {"Egress"}},
        {"egress",
         json::array(
             {{{"to", json::array(
                          {{{"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", "kube-system"}}}}},
                            {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}})},
               {"ports", json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}})}},
              {{"to",
                json::array({{{"namespaceSelector", {{"matchLabels", {{"team", "team-" + std::to_string(ns % 200)}}}}},
                              {"podSelector", {{"matchLabels", {{"app", "api"}}}}}}})},
               {"ports", json::array({{{"protocol", "TCP"}, {"port", "http"}}})}},
              {{"to", json::array({{{"ipBlock", {{"cidr", "160.79.104.0/23"}}}}})},
               {"ports", json::array({{{"protocol", "TCP"}, {"port", 443}}})}}})}};
  } else {
    spec = {{"podSelector",
             {{"matchExpressions", json::array({{{"key", "app"}, {"operator", "In"}, {"values", {"web", "api"}}}})}}},
            {"policyTypes", {"Ingress"}},
            {"ingress",
             json::array({{{"from", json::array({{{"namespaceSelector", {{"matchLabels", {{"env", "prod"}}}}}}})},
                           {"ports", json::array({{{"protocol", "TCP"}, {"port", 8080}}})}}})}};
  }
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata",
           {{"name", agents ? "agents-egress-" + std::to_string(i) : "web-ingress-" + std::to_string(i)},
            {"namespace", ns_name(ns)},
            {"resourceVersion", std::to_string(900000 + i)}}},
          {"spec", spec}};
}

std::string review(const std::string& ns, const std::string& kind, const std::string& group, const std::string& op,
                   const json& object) {
  json r = {{"apiVersion", "admission.k8s.io/v1"},
            {"kind", "AdmissionReview"},
            {"request",
             {{"uid", "0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a10"},
              {"kind", {{"group", group}, {"version", "v1"}, {"kind", kind}}},
              {"namespace", ns},
              {"operation", op},
              {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
              {"object", object}}}};
  return r.dump();
}

// The typical loki-mode pod review of bench/admission_bench.cpp (hardened).
json review_pod(const std::string& ns) {
  json spec = json::parse(R"({"automountServiceAccountToken": false,
      "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [{"name": "loki", "image": "asklokesh/loki-mode:7.5.13",
      "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "ai-only"},
              {"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
      "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                          "capabilities": {"drop": ["ALL"]}},
      "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
      "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
      "volumes": [{"name": "workspace", "emptyDir": {}}]})");
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", "agent-7d9f"},
            {"namespace", ns},
            {"labels", {{"app", "loki-mode"}, {"role", "agent"}, {"pod-template-hash", "7d9f"}}}}},
          {"spec", spec}};
}

struct Stats {
  std::vector<double> us;
  double pct(double p) const {
    std::vector<double> s = us;
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[std::min(s.size() - 1, static_cast<std::size_t>(p * static_cast<double>(s.size())))];
  }
};

struct Cache {
  loki::webhook::PolicyCache cache;
  explicit Cache(bool pods) : cache(loki::ClusterConfig{}, pods) { cache.create_reflectors(false); }
  Cache(const Cache&) = delete;
};

}  // namespace

int main(int argc, char** argv) {
  Sizes n;
  for (int i = 1; i + 1 < argc; i += 2) {
    int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--namespaces")) n.namespaces = v;
    if (!std::strcmp(argv[i], "--pods")) n.pods = v;
    if (!std::strcmp(argv[i], "--policies")) n.policies = v;
    if (!std::strcmp(argv[i], "--reviews")) n.reviews = v;
    if (!std::strcmp(argv[i], "--events")) n.events = v;
  }
  loki::Config cfg;
  // empty: nothing cached; alone: only the reviewed namespace's objects (the
  // work a review must do whatever the cluster); full: the whole cluster.
  Cache empty(true), alone(true), full(true);
  for (const char* r : {"networkpolicies", "namespaces", "pods"}) empty.cache.reflector(r)->replace({});
  const int home = n.namespaces / 2;  // the namespace under review

  // Fill: generate each list, hand it to the store as a list would, and count
  // what stays on the heap once the JSON is gone.
  std::mt19937 rng(42);
  long rss0 = rss_kb();
  std::size_t h0 = heap_bytes();
  auto t0 = Clock::now();
  double store_s = 0;  // in Reflector::replace alone
  auto fill = [&](const char* resource, int count, auto&& make) {
    std::vector<json> items, own;  // own: the home namespace's objects, for `alone`
    for (int i = 0; i < count; ++i) {
      items.push_back(make(i));
      if (i % n.namespaces == home) own.push_back(items.back());
    }
    auto s0 = Clock::now();
    full.cache.reflector(resource)->replace(std::move(items));
    store_s += std::chrono::duration<double>(Clock::now() - s0).count();
    alone.cache.reflector(resource)->replace(std::move(own));
  };
  // On another thread, as the reflectors run: glibc gives it its own malloc
  // arena, so the holes the freed JSON leaves are not where reviews allocate
  // (on one thread they slowed every review 1.5-3x, whatever the cache).
  std::size_t h1 = 0, h2 = 0, h3 = 0;
  std::thread([&] {
    fill("namespaces", n.namespaces, [](int i) { return namespace_object(i); });
    h1 = heap_bytes();
    fill("networkpolicies", n.policies, [&](int i) { return policy_object(i, i % n.namespaces); });
    h2 = heap_bytes();
    fill("pods", n.pods, [&](int i) { return pod_object(i, i % n.namespaces, rng); });
    h3 = heap_bytes();
  }).join();
  double fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss1 = rss_kb();

  // Reviews in one tenant namespace (10 pods, 2 policies at the defaults).
  const std::string ns = ns_name(home);
  const std::string pod_review = review(ns, "Pod", "", "CREATE", review_pod(ns));
  const std::string policy_review =
      review(ns, "NetworkPolicy", "networking.k8s.io", "UPDATE", policy_object(home, home));

  enum Handler { validate_pod, mutate_pod, validate_policy, handlers };
  const char* names[handlers] = {"/validate loki-mode Pod CREATE", "/mutate loki-mode Pod CREATE",
                                 "/validate NetworkPolicy UPDATE"};
  Stats stats[3][handlers];
  const Cache* caches[3] = {&empty, &alone, &full};
  auto once = [&](const Cache& c, Handler h) {
    auto start = Clock::now();
    loki::webhook::ClusterView view = c.cache.view(cfg);
    view.available = true;  // no reflector threads here: synced by replace()
    view.unavailable_reason.clear();
    json body = json::parse(h == validate_policy ? policy_review : pod_review);
    loki::webhook::Decision d =
        h == mutate_pod ? loki::webhook::mutate(body, cfg, view) : loki::webhook::validate(std::move(body), cfg, view);
    std::string out = d.body();
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };
  // Same answer from both caches' sizes? Print the decisions once (not timed).
  for (int h = 0; h < handlers; ++h) {
    for (const Cache* c : caches) {
      loki::webhook::ClusterView view = c->cache.view(cfg);
      view.available = true;
      json body = json::parse(h == validate_policy ? policy_review : pod_review);
      auto d = h == mutate_pod ? loki::webhook::mutate(body, cfg, view)
                               : loki::webhook::validate(std::move(body), cfg, view);
      std::fprintf(stderr, "%s (%s cache): %s %zu findings\n", names[h],
                   c == &empty   ? "empty"
                   : c == &alone ? "namespace alone"
                                 : "full",
                   std::string(loki::webhook::to_string(d.decision)).c_str(), d.findings.size());
    }
  }
  const int rounds = 10, per_round = std::max(1, n.reviews / rounds);
  for (int h = 0; h < handlers; ++h)
    for (int i = 0; i < per_round; ++i)
      for (const Cache* c : caches) once(*c, Handler(h));  // warm up
  for (int r = 0; r < rounds; ++r)
    for (int h = 0; h < handlers; ++h)
      for (int k = 0; k < 3; ++k)
        for (int i = 0; i < per_round; ++i) stats[k][h].us.push_back(once(*caches[k], Handler(h)));

  // Watch events: a pod of the home namespace added, then deleted, through
  // Reflector::apply as the watch applies them.
  auto events = [&](const Cache& c, int count) {
    std::mt19937 r(7);
    double us = 0;
    for (int i = 0; i < count; ++i) {
      json p = pod_object(1000000 + i, home, r);
      json gone = {{"metadata", {{"namespace", ns}, {"name", p["metadata"]["name"]}}}};
      auto start = Clock::now();
      c.cache.reflector("pods")->apply("ADDED", std::move(p));
      c.cache.reflector("pods")->apply("DELETED", std::move(gone));
      us += std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    }
    return us / (2.0 * count);
  };
  double ev_alone = events(alone, n.events), ev_full = events(full, n.events);

  std::printf("cache: %d namespaces, %d pods, %d NetworkPolicies; filled in %.2f s; RSS %ld -> %ld MB\n", n.namespaces,
              n.pods, n.policies, fill_s, rss0 / 1024, rss1 / 1024);
  std::printf("heap kept per namespace %.0f B, per policy %.0f B, per pod %.0f B\n", double(h1 - h0) / n.namespaces,
              double(h2 - h1) / n.policies, double(h3 - h2) / n.pods);
  std::printf("filled through Reflector::replace in %.2f s (%.2f s generating JSON included)\n", store_s, fill_s);
  std::printf(
      "watch event (pod ADDED or DELETED) applied: %.1f us with the namespace alone, %.1f us with the "
      "full cache (%.2fx)\n",
      ev_alone, ev_full, ev_full / ev_alone);
  std::printf(
      "\n| handler (%d reviews each, alternating rounds) | empty p50 | empty p99 | ns alone p50 | ns alone p99 | "
      "full p50 | full p99 | p99 full/alone | p99 full/empty |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      per_round * rounds);
  for (int h = 0; h < handlers; ++h) {
    const Stats &e = stats[0][h], &a = stats[1][h], &f = stats[2][h];
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", names[h], e.pct(0.5), e.pct(0.99),
                a.pct(0.5), a.pct(0.99), f.pct(0.5), f.pct(0.99), f.pct(0.99) / a.pct(0.99), f.pct(0.99) / e.pct(0.99));
  }
  std::printf("(microseconds; a review = parse + view of the cache + decide + dump)\n");
  return 0;
}
