// Handler latency of loki-webhook's /validate and /mutate: parse the
// AdmissionReview body, decide (pod rules + NetworkPolicy analysis against 21
// policies of the namespace), serialise the response. Baseline in the same
// process: parse + serialise alone with nlohmann (the floor any JSON webhook
// pays), and the JSON libraries side by side on the same body (issue 19: the
// JSON path is chosen by these figures).
//   loki-admission-bench [--reviews N] [--policies N]   (a bare N: --reviews)
// Target (issue 19): /validate p99 <= 25 us for a typical pod.
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include "admission.hpp"
#include "json_body.hpp"
#include "metrics.hpp"
#include "review_handler.hpp"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#if LOKI_BENCH_SIMDJSON
#include <simdjson.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string review_body(bool hardened) {
  json spec = json::parse(R"({"containers": [{"name": "loki", "image": "asklokesh/loki-mode:7.5.13",
      "env": [{"name": "LOKI_NETWORK_EGRESS_POLICY", "value": "ai-only"},
              {"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
      "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
      "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
      "volumes": [{"name": "workspace", "emptyDir": {}}]})");
  if (hardened) {
    spec["automountServiceAccountToken"] = false;
    spec["securityContext"] = {
        {"runAsNonRoot", true}, {"runAsUser", 1000}, {"seccompProfile", {{"type", "RuntimeDefault"}}}};
    spec["containers"][0]["securityContext"] = {
        {"allowPrivilegeEscalation", false}, {"readOnlyRootFilesystem", true}, {"capabilities", {{"drop", {"ALL"}}}}};
  }
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "agent-7d9f"},
                {"namespace", "loki"},
                {"labels", {{"app", "loki-mode"}, {"role", "agent"}, {"pod-template-hash", "7d9f"}}}}},
              {"spec", spec}};
  json r = {{"apiVersion", "admission.k8s.io/v1"},
            {"kind", "AdmissionReview"},
            {"request",
             {{"uid", "0b3d6b5e-1d2c-4d8f-9a51-3c3c8e2f6a10"},
              {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
              {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
              {"namespace", "loki"},
              {"operation", "CREATE"},
              {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
              {"object", pod}}}};
  return r.dump();
}

std::string policies_yaml(int n) {
  std::string y;
  for (int i = 0; i < n; ++i) {
    y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" + std::to_string(i) +
         ", namespace: loki}\nspec:\n  podSelector: {matchLabels: {team: t" + std::to_string(i) +
         "}}\n  policyTypes: [Ingress, Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 10." + std::to_string(i % 256) +
         ".0.0/16}}]\n    ports: [{protocol: TCP, port: 443}]\n";
  }
  y += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: agents, namespace: loki}\n"
       "spec:\n  podSelector: {matchLabels: {app: loki-mode}}\n  policyTypes: [Egress]\n  egress:\n"
       "  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]\n"
       "    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]\n";
  return y;
}

struct Stats {
  double p50, p99, p999, mean;
};

// --only NAME: run that measurement alone (for callgrind: instructions per
// call are (Ir of the run - Ir of `--only none`) / (1.1 * reviews)).
const char* g_only = nullptr;

template <class Fn>
Stats measure(const char* name, int n, Fn&& fn) {
  if (g_only && std::strcmp(g_only, name) != 0) return {1, 1, 1, 1};
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n / 10; ++i) fn();  // warm up
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  return {us[n / 2], us[n * 99 / 100], us[n * 999 / 1000], sum / n};
}

#if LOKI_BENCH_SIMDJSON
// Reads every value of an On-Demand value (what building any DOM would have to do).
std::size_t walk(simdjson::ondemand::value v) {
  using simdjson::ondemand::json_type;
  switch (v.type().value()) {
    case json_type::object: {
      std::size_t n = 0;
      for (auto field : v.get_object()) {
        n += field.unescaped_key().value().size();
        n += walk(field.value().value());
      }
      return n;
    }
    case json_type::array: {
      std::size_t n = 0;
      for (auto e : v.get_array()) n += walk(e.value());
      return n;
    }
    case json_type::string:
      return v.get_string().value().size();
    case json_type::number:
      return static_cast<std::size_t>(v.get_double().value()) & 1;
    case json_type::boolean:
      return v.get_bool().value() ? 1 : 0;
    case json_type::null:
      return v.is_null() ? 1 : 0;
  }
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int n = 20000, npol = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help")) {
      std::printf(
          "loki-admission-bench [--reviews N (20000)] [--policies N (20, plus the agents' policy)] [--only NAME]\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--reviews") && i + 1 < argc)
      n = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      g_only = argv[++i];
    else if (!std::strcmp(argv[i], "--policies") && i + 1 < argc)
      npol = std::atoi(argv[++i]);
    else
      n = std::atoi(argv[i]);
  }
  spdlog::set_level(spdlog::level::warn);  // as deployed at scale; the decision line is info
  // The cache's prepared view: policies parsed once, referred to per request.
  auto policies = std::make_shared<loki::netpol::PolicyList>();
  loki::Config cfg;
  for (auto& d : loki::parse_manifest_text(policies_yaml(npol), "policies.yaml"))
    for (auto& o : d.objects)
      for (auto& p : loki::netpol::parse_policies(o, "loki")) policies->push_back(std::move(p));
  loki::webhook::ClusterView view;
  view.fill = [&](const std::string&, loki::netpol::Inventory& inv) {
    for (const auto& p : *policies) inv.policies.push_back_ref(p);
    inv.policies.keep_alive(policies);
    inv.namespaces.add("loki", {{"kubernetes.io/metadata.name", "loki"}});
    inv.namespaces.add("kube-system", {{"kubernetes.io/metadata.name", "kube-system"}});
  };
  view.namespace_labels = [](const std::string&) { return loki::Labels{}; };
  view.pods = [](const std::string&, const loki::Config&, loki::netpol::Inventory&) {};
  // As the cache filled a review before: the namespace's policies copied into it.
  loki::webhook::ClusterView copying = view;
  copying.fill = [&](const std::string&, loki::netpol::Inventory& inv) {
    for (const auto& p : *policies) inv.policies.push_back(p);
    inv.namespaces.add("loki", {{"kubernetes.io/metadata.name", "loki"}});
    inv.namespaces.add("kube-system", {{"kubernetes.io/metadata.name", "kube-system"}});
  };

  const std::string hardened = review_body(true), bare = review_body(false);

  // ---- the JSON libraries on the typical review ----
  auto floor = measure("floor", n, [&] {
    json b = json::parse(hardened);
    std::string out = b.dump();
    (void)out;
  });
  auto p_nlohmann = measure("p_nlohmann", n, [&] {
    json b = json::parse(hardened);
    (void)b;
  });
  auto p_boost = measure("p_boost", n, [&] {
    boost::json::value v = boost::json::parse(hardened);
    (void)v;
  });
#if LOKI_BENCH_SIMDJSON
  simdjson::ondemand::parser sj;
  const simdjson::padded_string padded(hardened);
  auto p_simd = measure("p_simd", n, [&] {
    auto doc = sj.iterate(padded);
    std::size_t k = walk(doc.get_value().value());
    if (k == 0) std::abort();
  });
  auto p_simd_copy = measure("p_simd_copy", n, [&] {
    const simdjson::padded_string body(hardened);  // a request body is not padded: one copy
    auto doc = sj.iterate(body);
    std::size_t k = walk(doc.get_value().value());
    if (k == 0) std::abort();
  });
#endif
  auto p_chosen = measure("p_chosen", n, [&] {
    json b = loki::webhook::parse_body(hardened);
    (void)b;
  });

  // ---- the handlers ----
  auto validate_old = measure("validate_old", n, [&] {
    json b = json::parse(hardened);
    auto d = loki::webhook::validate(std::move(b), cfg, view);
    std::string out = d.body();
  });
  auto validate_copying = measure("validate_copying", n, [&] {
    json b = loki::webhook::parse_body(hardened);
    auto d = loki::webhook::validate(std::move(b), cfg, copying);
    std::string out = d.body();
  });
  auto validate = measure("validate", n, [&] {
    json b = loki::webhook::parse_body(hardened);
    auto d = loki::webhook::validate(std::move(b), cfg, view);
    std::string out = d.body();
  });
  auto mutate = measure("mutate", n, [&] {
    json b = loki::webhook::parse_body(bare);
    auto d = loki::webhook::mutate(b, cfg, view);
    std::string out = d.body();
  });
  // The whole endpoint: method and depth checks, parse, decision, metrics, log level check, response.
  loki::webhook::metrics::Registry registry;
  auto shared_cfg = std::make_shared<const loki::Config>(cfg);
  loki::webhook::ReviewEndpoint endpoint{registry, [&] { return shared_cfg; },
                                         [&](const loki::Config&) { return view; }};
  loki::webhook::HttpRequest vreq{"POST", "/validate", hardened, "127.0.0.1:1", "application/json"};
  loki::webhook::HttpRequest mreq{"POST", "/mutate", bare, "127.0.0.1:1", "application/json"};
  auto endpoint_v = measure("endpoint_v", n, [&] {
    auto r = endpoint(vreq, true);
    if (r.status != 200) std::abort();
  });
  auto endpoint_m = measure("endpoint_m", n, [&] {
    auto r = endpoint(mreq, false);
    if (r.status != 200) std::abort();
  });
  // The decision's info line formatted as deployed, written nowhere.
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>()));
  spdlog::set_level(spdlog::level::info);
  auto endpoint_v_logged = measure("endpoint_v_logged", n, [&] {
    auto r = endpoint(vreq, true);
    if (r.status != 200) std::abort();
  });

  std::printf(
      "| JSON parse of the %zu-byte pod review (%d runs) | p50 us | p99 us | p99.9 us | mean us | p50 / nlohmann |\n",
      hardened.size(), n);
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  auto jrow = [&](const char* name, const Stats& s) {
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", name, s.p50, s.p99, s.p999, s.mean,
                s.p50 / p_nlohmann.p50);
  };
  jrow("nlohmann::json::parse (DOM the rules read)", p_nlohmann);
  jrow("Boost.JSON boost::json::parse (its own DOM)", p_boost);
#if LOKI_BENCH_SIMDJSON
  jrow("simdjson On-Demand, every value read (body already padded)", p_simd);
  jrow("simdjson On-Demand, every value read (+ copy into a padded buffer)", p_simd_copy);
#endif
  jrow("Boost.JSON parser -> nlohmann DOM (parse_body)", p_chosen);
  std::printf("\n");
  std::printf(
      "| handler (%d reviews, %zu-byte pod review, %zu policies in the namespace) | p50 us | p99 us | p99.9 us | mean "
      "us | p99 / floor p99 |\n",
      n, hardened.size(), policies->size());
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, const Stats& s) {
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", name, s.p50, s.p99, s.p999, s.mean, s.p99 / floor.p99);
  };
  row("floor: nlohmann parse + dump of the review", floor);
  row("/validate, nlohmann parse (rules + NetworkPolicy analysis)", validate_old);
  row("/validate, parse_body, policies copied into the review (before)", validate_copying);
  row("/validate, parse_body (rules + NetworkPolicy analysis)", validate);
  row("/mutate, parse_body (rules + JSON Patch)", mutate);
  row("ReviewEndpoint /validate (+ depth guard, metrics, log check)", endpoint_v);
  row("ReviewEndpoint /mutate", endpoint_m);
  row("ReviewEndpoint /validate, decision line at info (null sink)", endpoint_v_logged);
  return validate.p99 < 100 && mutate.p99 < 100 ? 0 : 1;
}
