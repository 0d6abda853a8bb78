// Admission handlers: AdmissionReview JSON in, AdmissionReview out.
#include <doctest/doctest.h>
#include <algorithm>
#include <functional>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>

#include <nlohmann/json.hpp>
#include "admission.hpp"
#include "mutate.hpp"
#include "policy_cache.hpp"

using nlohmann::json;
using namespace loki::webhook;

namespace {

json review(json object, std::string op = "CREATE", std::string ns = "loki", std::string api = "admission.k8s.io/v1") {
  std::string kind = object.value("kind", "Pod");
  std::string group, version = "v1";
  std::string av = object.value("apiVersion", "v1");
  if (auto slash = av.find('/'); slash != std::string::npos) {
    group = av.substr(0, slash);
    version = av.substr(slash + 1);
  }
  return {{"apiVersion", api},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", group}, {"version", version}, {"kind", kind}}},
            {"resource", {{"group", group}, {"version", version}, {"resource", "pods"}}},
            {"namespace", ns},
            {"operation", op},
            {"userInfo", {{"username", "alice"}}},
            {"object", object}}}};
}

json pod(json spec, json labels = {{"app", "loki-mode"}}) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "agent"}, {"labels", labels}}}, {"spec", spec}};
}

json hardened_spec() {
  return json::parse(R"({
    "automountServiceAccountToken": false,
    "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "loki", "image": "loki:1",
      "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                          "capabilities": {"drop": ["ALL"]}}}]})");
}

json bare_spec() {
  return {{"containers", json::array({{{"name", "loki"}, {"image", "loki:1"}}})}};
}

json response(const Decision& d) {
  return d.review()["response"];
}

ClusterView no_cluster() {
  ClusterView v;
  v.fill = [](const std::string&, loki::netpol::Inventory&) {};
  v.pods = [](const std::string&, const loki::Config&, loki::netpol::Inventory&) {};
  v.namespace_labels = [](const std::string&) { return loki::Labels{}; };
  return v;
}

// A cluster view over manifests: policies and namespaces as the cache would hold them.
ClusterView cluster_of(const std::string& yaml, std::vector<json> live_pods = {}, loki::Labels ns_labels = {}) {
  auto docs = std::make_shared<std::vector<loki::Object>>();
  for (auto& d : loki::parse_manifest_text(yaml, "cluster.yaml"))
    for (auto& o : d.objects) docs->push_back(std::move(o));
  ClusterView v;
  v.fill = [docs](const std::string& ns, loki::netpol::Inventory& inv) {
    loki::Config cfg;
    for (const auto& o : *docs) {
      std::string kind = o.json.value("kind", "");
      if (kind == "NetworkPolicy" || kind == "Namespace" || kind == "CiliumNetworkPolicy" ||
          loki::netpol::is_cluster_policy_kind(kind))
        inv.add(o, cfg, ns);
    }
  };
  v.pods = [live_pods](const std::string& ns, const loki::Config& c, loki::netpol::Inventory& inv) {
    loki::webhook::add_live_pods(live_pods, ns, c, inv);
  };
  v.namespace_labels = [ns_labels](const std::string&) { return ns_labels; };
  v.pod_namespaces = [live_pods] {
    return live_pods.empty() ? std::vector<std::string>{} : std::vector<std::string>{"loki"};
  };
  return v;
}

const char* kShadowed = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: loki}
spec:
  podSelector: {matchLabels: {role: backend}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-orchestrator, namespace: loki}
spec:
  podSelector: {matchLabels: {app: loki-mode}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: orchestrator}}}]}]
)";

}  // namespace

TEST_CASE("a hostNetwork loki-mode pod is refused with every rule and its fix") {
  json spec = hardened_spec();
  spec["hostNetwork"] = true;
  spec["containers"][0]["ports"] = json::array({{{"containerPort", 80}, {"hostPort", 8080}}});
  auto d = validate(review(pod(spec)), loki::Config{}, no_cluster());
  const json& r = response(d);
  CHECK(r["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(d.review()["apiVersion"] == "admission.k8s.io/v1");
  CHECK(d.review()["kind"] == "AdmissionReview");
  CHECK(r["allowed"] == false);
  CHECK(r["status"]["code"] == 403);
  std::string msg = r["status"]["message"];
  CHECK(msg.find("[host-network]") != std::string::npos);
  CHECK(msg.find("[host-port]") != std::string::npos);
  CHECK(msg.find("fix: remove `hostNetwork: true`") != std::string::npos);
  // Each violation names its field as kubectl spells it.
  CHECK(msg.find("(spec.hostNetwork)") != std::string::npos);
  CHECK(msg.find("(spec.containers[0].ports[0].hostPort)") != std::string::npos);
  CHECK(msg.find("2 violations") != std::string::npos);
  CHECK(d.decision == "deny");
  CHECK(d.user == "alice");
}

TEST_CASE("the response uses the request's AdmissionReview version") {
  auto d = validate(review(pod(hardened_spec()), "CREATE", "loki", "admission.k8s.io/v1beta1"), loki::Config{},
                    no_cluster());
  CHECK(d.review()["apiVersion"] == "admission.k8s.io/v1beta1");
  CHECK(response(d)["allowed"] == true);
  // No NetworkPolicy selects it: egress open, a warning (it promises nothing).
  REQUIRE(response(d)["warnings"].size() == 1);
  CHECK(response(d)["warnings"][0].get<std::string>().find("[egress-unrestricted]") == 0);
}

TEST_CASE("mutate fills in what is safe, the patched pod passes, a second pass is empty") {
  loki::Config cfg;
  json original = pod(bare_spec());
  auto before = validate(review(original), cfg, no_cluster());
  CHECK(response(before)["allowed"] == false);  // not patched: refused

  auto m = mutate(review(original), cfg, no_cluster());
  REQUIRE(response(m)["patchType"] == "JSONPatch");
  MutationResult direct = mutate_pod(original, "/spec", "/metadata", cfg);
  json patched = original.patch(direct.patch);
  CHECK(patched == direct.patched);
  CHECK(patched["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault");
  CHECK(patched["spec"]["securityContext"]["runAsNonRoot"] == true);
  CHECK(patched["spec"]["securityContext"]["runAsUser"] == 1000);
  CHECK(patched["spec"]["automountServiceAccountToken"] == false);
  const json& sc = patched["spec"]["containers"][0]["securityContext"];
  CHECK(sc["readOnlyRootFilesystem"] == true);
  CHECK(sc["allowPrivilegeEscalation"] == false);
  CHECK(sc["capabilities"]["drop"] == json::array({"ALL"}));
  CHECK(patched["spec"]["containers"][0]["volumeMounts"][0] == json({{"name", "loki-tmp"}, {"mountPath", "/tmp"}}));
  CHECK(patched["spec"]["volumes"][0]["emptyDir"] == json({{"medium", "Memory"}, {"sizeLimit", "256Mi"}}));
  CHECK(patched["metadata"]["annotations"]["loki-guard.io/patched"].get<std::string>().find("seccompProfile") !=
        std::string::npos);
  // JSON Pointer escaping of the annotation key (RFC 6901: "/" -> "~1").
  CHECK(direct.patch.dump().find("/metadata/annotations") != std::string::npos);
  json with_ann = original;
  with_ann["metadata"]["annotations"] = {{"example.com/a~b", "x"}};
  auto esc = mutate_pod(with_ann, "/spec", "/metadata", cfg);
  CHECK(esc.patch.dump().find("loki-guard.io~1patched") != std::string::npos);

  auto after = validate(review(patched), cfg, no_cluster());
  CHECK(response(after)["allowed"] == true);
  auto again = mutate(review(patched), cfg, no_cluster());
  CHECK_FALSE(response(again).contains("patch"));
  CHECK(mutate_pod(patched, "/spec", "/metadata", cfg).patch.empty());
}

TEST_CASE("mutation never touches what must be refused") {
  json spec = bare_spec();
  spec["hostNetwork"] = true;
  spec["securityContext"] = {{"runAsUser", 0}, {"seccompProfile", {{"type", "Unconfined"}}}};
  spec["containers"][0]["securityContext"] = {{"privileged", true}, {"capabilities", {{"add", {"NET_ADMIN"}}}}};
  spec["containers"][0]["ports"] = json::array({{{"containerPort", 80}, {"hostPort", 80}}});
  auto m = mutate_pod(pod(spec), "/spec", "/metadata", loki::Config{});
  const json& p = m.patched["spec"];
  CHECK(p["hostNetwork"] == true);
  CHECK(p["securityContext"]["runAsUser"] == 0);
  CHECK_FALSE(p["securityContext"].contains("runAsNonRoot"));
  CHECK(p["securityContext"]["seccompProfile"]["type"] == "Unconfined");
  CHECK(p["containers"][0]["securityContext"]["privileged"] == true);
  CHECK(p["containers"][0]["securityContext"]["capabilities"]["add"] == json::array({"NET_ADMIN"}));
  CHECK_FALSE(p["containers"][0]["securityContext"].contains("allowPrivilegeEscalation"));
  CHECK(p["containers"][0]["ports"][0]["hostPort"] == 80);
  auto d = validate(review(m.patched), loki::Config{}, no_cluster());
  CHECK(response(d)["allowed"] == false);
}

TEST_CASE("mutation: a root pod-level value every container overrides is replaced") {
  // It reaches only containers added later (an ephemeral debug container), so
  // replacing it cannot break the pod; Pod Security Admission refuses it.
  json spec = hardened_spec();
  spec["securityContext"] = {{"runAsNonRoot", false}, {"runAsUser", 0}, {"seccompProfile", {{"type", "Unconfined"}}}};
  json& csc = spec["containers"][0]["securityContext"];
  csc["runAsNonRoot"] = true;
  csc["runAsUser"] = 2000;
  csc["seccompProfile"] = {{"type", "RuntimeDefault"}};
  loki::Config cfg;
  CHECK(response(validate(review(pod(spec)), cfg, no_cluster()))["allowed"] == false);
  auto m = mutate_pod(pod(spec), "/spec", "/metadata", cfg);
  const json& p = m.patched["spec"];
  CHECK(p["securityContext"]["runAsNonRoot"] == true);
  CHECK(p["securityContext"]["runAsUser"] == 1000);
  CHECK(p["securityContext"]["seccompProfile"] == json({{"type", "RuntimeDefault"}}));
  CHECK(p["containers"][0]["securityContext"]["runAsUser"] == 2000);  // the container's own value stays
  CHECK(m.patched == pod(spec).patch(m.patch));
  CHECK(response(validate(review(m.patched), cfg, no_cluster()))["allowed"] == true);
  CHECK(mutate_pod(m.patched, "/spec", "/metadata", cfg).patch.empty());
  // A container that inherits the pod's value keeps it refused, untouched.
  json inherits = spec;
  inherits["containers"][0]["securityContext"].erase("runAsUser");
  inherits["containers"][0]["securityContext"].erase("seccompProfile");
  auto n = mutate_pod(pod(inherits), "/spec", "/metadata", cfg);
  CHECK(n.patched["spec"]["securityContext"]["runAsUser"] == 0);
  CHECK(n.patched["spec"]["securityContext"]["seccompProfile"]["type"] == "Unconfined");
  CHECK(response(validate(review(n.patched), cfg, no_cluster()))["allowed"] == false);
}

TEST_CASE("escape routes of a hardened pod are refused with the rule and field named") {
  json spec = hardened_spec();
  spec["volumes"] =
      json::array({{{"name", "sock"}, {"hostPath", {{"path", "/var/run/docker.sock"}, {"type", "Socket"}}}}});
  spec["containers"][0]["volumeMounts"] = json::array({{{"name", "sock"}, {"mountPath", "/var/run/docker.sock"}}});
  auto d = validate(review(pod(spec)), loki::Config{}, no_cluster());
  REQUIRE(response(d)["allowed"] == false);
  std::string msg = response(d)["status"]["message"];
  CHECK(msg.find("[host-path-runtime-socket]") != std::string::npos);
  CHECK(msg.find("(spec.volumes[0].hostPath.path)") != std::string::npos);
  json spc = hardened_spec();
  spc["containers"][0]["securityContext"]["seLinuxOptions"] = {{"type", "spc_t"}};
  msg = response(validate(review(pod(spc)), loki::Config{}, no_cluster()))["status"]["message"];
  CHECK(msg.find("[selinux-options]") != std::string::npos);
  CHECK(msg.find("(spec.containers[0].securityContext.seLinuxOptions.type)") != std::string::npos);
}

TEST_CASE("runtime-class-not-sandboxed: off by default, warns when enabled") {
  json spec = hardened_spec();
  auto warned = [](const Decision& d) {
    return response(d).value("warnings", json::array()).dump().find("[runtime-class-not-sandboxed]") !=
           std::string::npos;
  };
  CHECK_FALSE(warned(validate(review(pod(spec)), loki::Config{}, no_cluster())));
  auto cfg = loki::Config::parse("rules: {runtime-class-not-sandboxed: {enabled: true}}\n", "c.yaml");
  auto d = validate(review(pod(spec)), cfg, no_cluster());
  CHECK(response(d)["allowed"] == true);
  CHECK(warned(d));
  spec["runtimeClassName"] = "gvisor";
  CHECK_FALSE(warned(validate(review(pod(spec)), cfg, no_cluster())));
}

TEST_CASE("only rules whose action is patch are patched") {
  loki::Config cfg = loki::Config::parse("rules:\n  missing-seccomp: {action: deny}\n", "c.yaml");
  auto m = mutate_pod(pod(bare_spec()), "/spec", "/metadata", cfg);
  CHECK_FALSE(m.patched["spec"]["securityContext"].contains("seccompProfile"));
  auto d = validate(review(m.patched), cfg, no_cluster());
  CHECK(response(d)["allowed"] == false);
  CHECK(response(d)["status"]["message"].get<std::string>().find("[missing-seccomp]") != std::string::npos);
}

TEST_CASE("workload templates: a hostPort sidecar refuses the Deployment") {
  json tmpl_spec = hardened_spec();
  json sidecar = tmpl_spec["containers"][0];
  sidecar["name"] = "metrics";
  sidecar["ports"] = json::array({{{"containerPort", 1080}, {"hostPort", 1080}}});
  tmpl_spec["containers"].push_back(sidecar);
  json dep = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", "agent"}}},
              {"spec", {{"template", {{"metadata", {{"labels", {{"app", "loki-mode"}}}}}, {"spec", tmpl_spec}}}}}};
  auto d = validate(review(dep), loki::Config{}, no_cluster());
  CHECK(response(d)["allowed"] == false);
  CHECK(response(d)["status"]["message"].get<std::string>().find("hostPort 1080") != std::string::npos);
  SUBCASE("patchable findings on a template are warnings: its pods get patched") {
    dep["spec"]["template"]["spec"] = bare_spec();
    auto w = validate(review(dep), loki::Config{}, no_cluster());
    CHECK(response(w)["allowed"] == true);
    REQUIRE(response(w)["warnings"].size() >= 5);
    CHECK(response(w)["warnings"][0].get<std::string>().find("will be patched") != std::string::npos);
  }
}

TEST_CASE("workload templates: ReplicationController, DeploymentConfig and Rollout are judged like Deployments") {
  // The chart's workloads webhook lists replicationcontrollers, apps.openshift.io deploymentconfigs and
  // argoproj.io rollouts; each carries its pod template at spec.template.
  json tmpl_spec = hardened_spec();
  tmpl_spec["volumes"] = json::array({{{"name", "sock"}, {"hostPath", {{"path", "/var/run/docker.sock"}}}}});
  tmpl_spec["containers"][0]["volumeMounts"] = json::array({{{"name", "sock"}, {"mountPath", "/var/run/docker.sock"}}});
  for (auto [api, kind] :
       {std::pair{"v1", "ReplicationController"}, std::pair{"apps.openshift.io/v1", "DeploymentConfig"},
        std::pair{"argoproj.io/v1alpha1", "Rollout"}}) {
    json w = {{"apiVersion", api},
              {"kind", kind},
              {"metadata", {{"name", "agent"}}},
              {"spec", {{"template", {{"metadata", {{"labels", {{"app", "loki-mode"}}}}}, {"spec", tmpl_spec}}}}}};
    auto d = validate(review(w), loki::Config{}, no_cluster());
    const std::string k = kind;
    INFO(k);
    CHECK(response(d)["allowed"] == false);
    CHECK(response(d)["status"]["message"].get<std::string>().find("[host-path-runtime-socket]") != std::string::npos);
    CHECK(response(d)["status"]["message"].get<std::string>().find("spec.template.spec.volumes[0].hostPath.path") !=
          std::string::npos);
  }
}

TEST_CASE("skips: other pods, exempt namespaces, DELETE") {
  json spec = hardened_spec();
  spec["hostNetwork"] = true;
  CHECK(validate(review(pod(spec, {{"app", "web"}})), loki::Config{}, no_cluster()).decision == "skip");
  CHECK(response(validate(review(pod(spec), "CREATE", "kube-system"), loki::Config{}, no_cluster()))["allowed"] ==
        true);
  CHECK(response(validate(review(pod(spec), "DELETE"), loki::Config{}, no_cluster()))["allowed"] == true);
}

TEST_CASE("break-glass: admitted only with a reason, and said so") {
  json p = pod(bare_spec());
  p["spec"]["hostNetwork"] = true;
  p["metadata"]["annotations"] = {{"loki-guard.io/break-glass", "INC-4711: node-local debugging, approved by sec"}};
  auto d = validate(review(p), loki::Config{}, no_cluster());
  CHECK(response(d)["allowed"] == true);
  CHECK(d.decision == "break-glass");
  CHECK(response(d)["warnings"][0].get<std::string>().find("INC-4711") != std::string::npos);
  p["metadata"]["annotations"]["loki-guard.io/break-glass"] = "  ";
  CHECK(response(validate(review(p), loki::Config{}, no_cluster()))["allowed"] == false);
}

TEST_CASE("modes: warn and dry-run, from the config or a namespace label") {
  json p = pod(hardened_spec());
  p["spec"]["hostNetwork"] = true;
  loki::Config warn = loki::Config::parse("mode: warn\n", "c.yaml");
  auto w = validate(review(p), warn, no_cluster());
  CHECK(response(w)["allowed"] == true);
  CHECK(response(w)["warnings"].dump().find("(would deny) [host-network]") != std::string::npos);
  CHECK(w.decision == "warn");
  loki::Config dry = loki::Config::parse("mode: dry-run\n", "c.yaml");
  auto dr = validate(review(p), dry, no_cluster());
  CHECK(response(dr)["allowed"] == true);
  CHECK_FALSE(response(dr).contains("warnings"));
  CHECK(dr.decision == "dry-run-deny");
  CHECK(std::count(dr.rules.begin(), dr.rules.end(), "host-network") == 1);
  ClusterView labelled = no_cluster();
  labelled.namespace_labels = [](const std::string&) { return loki::Labels{{"loki-guard.io/mode", "warn"}}; };
  CHECK(response(validate(review(p), loki::Config{}, labelled))["allowed"] == true);
}

TEST_CASE("per-rule actions") {
  json p = pod(hardened_spec());
  p["spec"]["hostNetwork"] = true;
  loki::Config cfg = loki::Config::parse("rules:\n  host-network: {action: warn}\n", "c.yaml");
  auto d = validate(review(p), cfg, no_cluster());
  CHECK(response(d)["allowed"] == true);
  CHECK(response(d)["warnings"].dump().find("[host-network]") != std::string::npos);
  loki::Config off = loki::Config::parse("rules:\n  host-network: {action: off}\n", "c.yaml");
  auto o = validate(review(p), off, no_cluster());
  CHECK(response(o)["allowed"] == true);
  CHECK(response(o)["warnings"].dump().find("[host-network]") == std::string::npos);
}

TEST_CASE("ephemeral containers subresource: only the new containers are judged") {
  json p = pod(hardened_spec());
  p["spec"]["automountServiceAccountToken"] = true;  // an existing warning, not this request's business
  p["spec"]["ephemeralContainers"] = json::array({{{"name", "debugger"}, {"image", "busybox"}}});
  json r = review(p, "UPDATE");
  r["request"]["subResource"] = "ephemeralcontainers";
  auto d = validate(r, loki::Config{}, no_cluster());
  CHECK(response(d)["allowed"] == false);
  std::string msg = response(d)["status"]["message"];
  CHECK(msg.find("debugger") != std::string::npos);
  CHECK(msg.find("service-account-token") == std::string::npos);
}

TEST_CASE("ephemeral containers subresource: a debug container inheriting the pod's root user is refused") {
  // The pod predates the rule (or was admitted by break-glass): every regular
  // container overrides the pod-level runAsUser 0, the debug container does not.
  json spec = hardened_spec();
  spec["securityContext"]["runAsUser"] = 0;
  spec["containers"][0]["securityContext"]["runAsUser"] = 1000;
  json debugger = spec["containers"][0];
  debugger["name"] = "debugger";
  debugger["securityContext"].erase("runAsUser");
  spec["ephemeralContainers"] = json::array({debugger});
  json r = review(pod(spec), "UPDATE");
  r["request"]["subResource"] = "ephemeralcontainers";
  auto d = validate(r, loki::Config{}, no_cluster());
  REQUIRE(response(d)["allowed"] == false);
  std::string msg = response(d)["status"]["message"];
  CHECK(msg.find("[run-as-root] ephemeral container \"debugger\" runs as root") != std::string::npos);
  CHECK(msg.find("1 violation\n") != std::string::npos);  // not the pod-level finding itself
  // With its own non-root user it is admitted.
  r["request"]["object"]["spec"]["ephemeralContainers"][0]["securityContext"]["runAsUser"] = 1000;
  CHECK(response(validate(r, loki::Config{}, no_cluster()))["allowed"] == true);
}

TEST_CASE("NetworkPolicy awareness: the shadowed-egress pod from the fourth seed") {
  json spec = hardened_spec();
  spec["containers"][0]["env"] = json::array({{{"name", "LOKI_NETWORK_EGRESS_POLICY"}, {"value", "none"}}});
  json p = pod(spec, {{"app", "loki-mode"}});
  SUBCASE("a pod that promises no egress is refused, with the near miss") {
    auto d = validate(review(p), loki::Config{}, cluster_of(kShadowed));
    CHECK(response(d)["allowed"] == false);
    std::string msg = response(d)["status"]["message"];
    CHECK(msg.find("[egress-shadowed]") != std::string::npos);
    CHECK(msg.find("deny-all-egress") != std::string::npos);
    CHECK(msg.find("role") != std::string::npos);
  }
  SUBCASE("with the label the policy selects it: admitted") {
    json fixed = pod(spec, {{"app", "loki-mode"}, {"role", "backend"}});
    auto d = validate(review(fixed), loki::Config{}, cluster_of(kShadowed));
    CHECK(response(d)["allowed"] == true);
  }
  SUBCASE("no promise, no namespace requirement: a warning") {
    json quiet = pod(hardened_spec());
    auto d = validate(review(quiet), loki::Config{}, cluster_of(kShadowed));
    CHECK(response(d)["allowed"] == true);
    CHECK(response(d)["warnings"].dump().find("egress-shadowed") != std::string::npos);
  }
  SUBCASE("the namespace requires isolation: refused") {
    json quiet = pod(hardened_spec());
    auto d = validate(review(quiet), loki::Config{},
                      cluster_of(kShadowed, {}, {{"loki-guard.io/require-egress-isolation", "true"}}));
    CHECK(response(d)["allowed"] == false);
  }
  SUBCASE("cache not synced: fail closed by default, open when configured") {
    ClusterView down = no_cluster();
    down.available = false;
    down.unavailable_reason = "policy cache not synced";
    auto d = validate(review(p), loki::Config{}, down);
    CHECK(response(d)["allowed"] == false);
    CHECK(response(d)["status"]["message"].get<std::string>().find("fail closed") != std::string::npos);
    loki::Config open = loki::Config::parse("cacheUnavailable: allow\n", "c.yaml");
    CHECK(response(validate(review(p), open, down))["allowed"] == true);
  }
}

TEST_CASE("NetworkPolicy changes that would open running agents' egress") {
  const char* deny_all = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-egress, namespace: loki}
spec:
  podSelector: {}
  policyTypes: [Egress]
)";
  json live = pod(hardened_spec());
  live["metadata"]["namespace"] = "loki";
  json np = {{"apiVersion", "networking.k8s.io/v1"},
             {"kind", "NetworkPolicy"},
             {"metadata", {{"name", "deny-all-egress"}, {"namespace", "loki"}}},
             {"spec", {{"podSelector", json::object()}, {"policyTypes", {"Egress"}}}}};
  json del = review(np, "DELETE");
  del["request"]["name"] = "deny-all-egress";
  del["request"].erase("object");
  del["request"]["oldObject"] = np;
  auto d = validate(del, loki::Config{}, cluster_of(deny_all, {live}));
  CHECK(response(d)["allowed"] == false);
  CHECK(response(d)["status"]["message"].get<std::string>().find("agent") != std::string::npos);
  // Narrowing it to other pods is refused too; an unrelated policy is fine.
  json narrowed = np;
  narrowed["spec"]["podSelector"] = {{"matchLabels", {{"app", "web"}}}};
  CHECK(response(validate(review(narrowed, "UPDATE"), loki::Config{}, cluster_of(deny_all, {live})))["allowed"] ==
        false);
  json other = np;
  other["metadata"]["name"] = "extra";
  CHECK(response(validate(review(other), loki::Config{}, cluster_of(deny_all, {live})))["allowed"] == true);
  loki::Config warn = loki::Config::parse("networkPolicyChanges: warn\n", "c.yaml");
  CHECK(response(validate(del, warn, cluster_of(deny_all, {live})))["allowed"] == true);
}

TEST_CASE("cluster network policy changes that would open running agents' egress (issue 21)") {
  // An Admin-tier Deny of everything is the only thing restricting the agent (no NetworkPolicy isolates it).
  const char* admin_deny = R"(
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: agent-lockdown}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress:
  - {name: deny, action: Deny, to: [{networks: [0.0.0.0/0, "::/0"]}]}
)";
  json live = pod(hardened_spec());
  live["metadata"]["namespace"] = "loki";
  json cnp = loki::parse_manifest_text(admin_deny, "cnp.yaml").at(0).objects.at(0).json;
  json del = review(cnp, "DELETE", "");
  del["request"]["name"] = "agent-lockdown";
  del["request"].erase("object");
  del["request"]["oldObject"] = cnp;
  auto d = validate(del, loki::Config{}, cluster_of(admin_deny, {live}));
  CHECK(response(d)["allowed"] == false);
  CHECK(response(d)["status"]["message"].get<std::string>().find("loki/agent") != std::string::npos);
  // Turning the Deny into a Pass hands the agent to a namespace no NetworkPolicy isolates: refused.
  json pass = cnp;
  pass["spec"]["egress"][0]["action"] = "Pass";
  CHECK(response(validate(review(pass, "UPDATE", ""), loki::Config{}, cluster_of(admin_deny, {live})))["allowed"] ==
        false);
  // Another policy, or no running agents: admitted; networkPolicyChanges: warn admits with a warning.
  json other = cnp;
  other["metadata"]["name"] = "extra";
  CHECK(response(validate(review(other, "CREATE", ""), loki::Config{}, cluster_of(admin_deny, {live})))["allowed"] ==
        true);
  CHECK(response(validate(del, loki::Config{}, cluster_of(admin_deny)))["allowed"] == true);
  loki::Config warn = loki::Config::parse("networkPolicyChanges: warn\n", "c.yaml");
  CHECK(response(validate(del, warn, cluster_of(admin_deny, {live})))["allowed"] == true);
}

TEST_CASE("malformed reviews are refused with a clear reason") {
  CHECK_THROWS_WITH_AS(validate(json::array(), loki::Config{}, no_cluster()), doctest::Contains("not a JSON object"),
                       BadReview);
  json r = review(pod(hardened_spec()));
  r["apiVersion"] = "admission.k8s.io/v2";
  CHECK_THROWS_WITH_AS(validate(r, loki::Config{}, no_cluster()), doctest::Contains("apiVersion"), BadReview);
  r = review(pod(hardened_spec()));
  r["request"].erase("uid");
  CHECK_THROWS_WITH_AS(validate(r, loki::Config{}, no_cluster()), doctest::Contains("uid"), BadReview);
  r = review(pod(hardened_spec()));
  r.erase("request");
  CHECK_THROWS_AS(mutate(r, loki::Config{}, no_cluster()), BadReview);
  r = review(pod(hardened_spec()));
  r["request"]["object"] = "a string";
  CHECK_THROWS_AS(validate(r, loki::Config{}, no_cluster()), BadReview);
  // Wrong types inside the object are not a crash either.
  json weird = pod(hardened_spec());
  weird["spec"]["containers"] = "agent";
  weird["spec"]["securityContext"] = json::array();
  CHECK_NOTHROW(validate(review(weird), loki::Config{}, no_cluster()));
  CHECK_NOTHROW(mutate(review(weird), loki::Config{}, no_cluster()));
}

// json_patch_diff against its oracle, nlohmann's json::diff: the same
// operations in the same order on random edits of a pod (keys needing RFC 6901
// escapes, arrays grown and shrunk, type changes, 1 against 1.0, which ==
// calls equal).
TEST_CASE("json_patch_diff gives json::diff's operations, in its order") {
  const json base = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "agent", "labels": {"app": "loki-mode", "a/b": "x", "t~n": "y"}, "annotations": {}},
    "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}, {"containerPort": 81}],
                             "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}},
                            {"name": "d", "env": [{"name": "X", "value": "1"}]}],
             "volumes": [], "hostNetwork": false, "priority": 1.5}})");
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&seed](std::uint64_t n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed % n;
  };
  const json values[] = {
      json(nullptr), json(true), json(1),       json(1.0),           json(2u),       json(-3),
      json("s"),     json("~/"), json::array(), json::array({1, 2}), json::object(), json::object({{"k", 1}})};
  // One random edit somewhere in the tree.
  std::function<void(json&)> edit = [&](json& j) {
    if (j.is_object() && !j.empty() && next(3) != 0) {
      auto it = j.begin();
      std::advance(it, static_cast<long>(next(j.size())));
      return edit(it.value());
    }
    if (j.is_array() && !j.empty() && next(3) != 0) return edit(j[next(j.size())]);
    switch (next(5)) {
      case 0:
        j = values[next(std::size(values))];
        break;
      case 1:
        if (j.is_object()) {
          const char* keys[] = {"new", "a/b", "t~n", "~", "/", "z"};
          j[keys[next(std::size(keys))]] = values[next(std::size(values))];
        } else if (j.is_array()) {
          j.push_back(values[next(std::size(values))]);
        }
        break;
      case 2:
        if (j.is_object() && !j.empty())
          j.erase(j.begin());
        else if (j.is_array() && !j.empty())
          j.erase(j.begin() + static_cast<long>(next(j.size())));
        break;
      case 3:
        if (j.is_array()) j = json::array();  // shrink to nothing: removals, last index first
        break;
      default:
        break;  // no edit: an empty patch
    }
  };
  int nonempty = 0;
  for (int round = 0; round < 3000; ++round) {
    json source = base, target = base;
    for (std::uint64_t e = next(4); e > 0; --e) edit(source);
    for (std::uint64_t e = next(4); e > 0; --e) edit(target);
    const json expected = json::diff(source, target);
    const json got = json_patch_diff(source, target);
    CAPTURE(round);
    CAPTURE(source.dump());
    CAPTURE(target.dump());
    REQUIRE(got.dump() == expected.dump());
    nonempty += expected.empty() ? 0 : 1;
  }
  CHECK(nonempty > 2000);  // the edits do reach the diff
  CHECK(json_patch_diff(json(1), json(1.0)).empty());
  CHECK(json_patch_diff(json::object({{"a/b~", 1}}), json::object()).dump() == R"([{"op":"remove","path":"/a~1b~0"}])");
}

TEST_CASE("service-account-token: a cached ServiceAccount with automountServiceAccountToken: false settles it") {
  // "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken
  // value" (Kubernetes docs, Configure Service Accounts for Pods,
  // https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/): a pod that leaves the
  // field unset mounts no token when its ServiceAccount sets it false. As `loki-audit` (core/cluster.cpp).
  auto service_account = [](const std::string& name, json automount) {
    json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}, {"namespace", "loki"}}}};
    if (!automount.is_null()) sa["automountServiceAccountToken"] = automount;
    return sa;
  };
  PolicyCache cache(loki::ClusterConfig{}, false);
  cache.create_reflectors(false);
  loki::Config cfg;
  json spec = hardened_spec();
  spec.erase("automountServiceAccountToken");
  spec["serviceAccountName"] = "no-token";
  const json inherits = pod(spec);
  json sets_true = inherits;
  sets_true["spec"]["automountServiceAccountToken"] = true;
  auto rules_of = [&](const json& object, const ClusterView& view) {
    Decision d = validate(review(object), cfg, view);
    return std::count(d.rules.begin(), d.rules.end(), "service-account-token");
  };
  auto patches_token = [&](const json& object, const ClusterView& view) {
    Decision d = mutate(review(object), cfg, view);
    return d.patch_summary.find("automountServiceAccountToken") != std::string::npos && response(d).contains("patch");
  };
  auto view = [&] {
    ClusterView v = cache.view(cfg);
    v.available = true;  // no reflector threads here: synced by replace()
    return v;
  };

  // Not listed yet: unknown, so the finding and the patch stay (as before the webhook read ServiceAccounts).
  CHECK(rules_of(inherits, view()) == 1);
  CHECK(patches_token(inherits, view()));

  cache.reflector("serviceaccounts")->replace({service_account("no-token", false), service_account("default", true)});
  CHECK(rules_of(inherits, view()) == 0);
  CHECK(response(validate(review(inherits), cfg, view()))["allowed"] == true);
  CHECK_FALSE(patches_token(inherits, view()));
  CHECK(mutate(review(inherits), cfg, view()).decision == Verdict::allow);  // nothing else to patch
  // The pod's own value wins.
  CHECK(rules_of(sets_true, view()) == 1);
  // Another ServiceAccount (the default one, automount true), another namespace: the finding stays.
  json plain = inherits;
  plain["spec"].erase("serviceAccountName");
  CHECK(rules_of(plain, view()) == 1);
  CHECK(patches_token(plain, view()));
  CHECK(validate(review(inherits, "CREATE", "other"), cfg, view()).decision == Verdict::deny);
  // The cache down (a watch interrupted): a ServiceAccount may have changed; the finding and the patch stay.
  ClusterView down = view();
  down.available = false;
  CHECK(rules_of(inherits, down) == 1);
  CHECK(patches_token(inherits, down));
  // The ServiceAccount turns automount back on: reported and patched again.
  cache.reflector("serviceaccounts")->apply("MODIFIED", service_account("no-token", true));
  CHECK(rules_of(inherits, view()) == 1);
  CHECK(patches_token(inherits, view()));
  // A workload's template is settled the same way.
  cache.reflector("serviceaccounts")->apply("MODIFIED", service_account("no-token", false));
  json deployment = {{"apiVersion", "apps/v1"},
                     {"kind", "Deployment"},
                     {"metadata", {{"name", "agent"}}},
                     {"spec",
                      {{"selector", {{"matchLabels", {{"app", "loki-mode"}}}}},
                       {"template", {{"metadata", {{"labels", {{"app", "loki-mode"}}}}}, {"spec", spec}}}}}};
  CHECK(rules_of(deployment, view()) == 0);
  cache.reflector("serviceaccounts")->apply("DELETED", service_account("no-token", false));
  CHECK(rules_of(deployment, view()) == 1);
}
