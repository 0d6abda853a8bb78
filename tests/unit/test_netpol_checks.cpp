// The network rules, each with a positive and a negative case, through the
// lint session (as users run them), plus the bundled examples.
#include <doctest/doctest.h>

#include <loki/lint.hpp>
#include <loki/manifest.hpp>
#include <loki/network_checks.hpp>
#include <loki/rules.hpp>
#include "source_dir.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace {

loki::LintResult lint(const std::string& text, loki::EngineOptions opts = {}) {
  loki::LintSession s(opts);
  s.add_text(text, "t.yaml");
  return s.finish();
}

std::vector<loki::Finding> rule(const loki::LintResult& r, std::string_view id) {
  std::vector<loki::Finding> out;
  for (const auto& f : r.findings)
    if (f.rule == id) out.push_back(f);
  return out;
}

std::string read(const std::string& rel) {
  std::ifstream in(loki_test::source_path(rel));
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

loki::LintResult lint_files(const std::vector<std::string>& rels, loki::EngineOptions opts = {}) {
  loki::LintSession s(opts);
  for (const auto& r : rels) s.add_text(read(r), r);
  return s.finish();
}

// A loki-mode Deployment in namespace `ns` with extra env and labels.
std::string agent(const std::string& ns = "loki", const std::string& env = "", const std::string& labels = "",
                  const std::string& extra_spec = "") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: agent, namespace: " + ns +
         "}\nspec:\n  selector: {matchLabels: {app: loki-mode}}\n  template:\n    metadata:\n      labels: {app: "
         "loki-mode" +
         labels + "}\n    spec:\n" + extra_spec +
         "      containers:\n      - name: loki\n        image: loki:1\n        env:\n        - {name: X, value: "
         "\"1\"}\n" +
         env + "---\n";
}

std::string env(const std::string& name, const std::string& value) {
  return "        - {name: " + name + ", value: \"" + value + "\"}\n";
}

const std::string kDenyAll =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all-egress, namespace: loki}\n"
    "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n---\n";
const std::string kDns =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-dns, namespace: loki}\n"
    "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: "
    "{kubernetes.io/metadata.name: kube-system}}\n      podSelector: {matchLabels: {k8s-app: kube-dns}}\n"
    "    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]\n---\n";
const std::string kAiOnlyCilium =
    "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ai-only, namespace: loki}\nspec:\n"
    "  endpointSelector: {matchLabels: {app: loki-mode}}\n  egress:\n  - toFQDNs:\n"
    "    - matchName: api.anthropic.com\n    - matchName: api.openai.com\n"
    "    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n---\n";

}  // namespace

TEST_CASE("every network rule is registered with scope network and no pod check") {
  for (const char* id :
       {"egress-unrestricted", "egress-shadowed", "deny-egress-is-ingress-only", "egress-rules-ignored",
        "policy-selects-nothing", "egress-to-any", "metadata-endpoint-reachable", "host-network-bypasses-policy",
        "dns-blocked", "egress-policy-mismatch"}) {
    CAPTURE(id);
    const loki::Rule* r = loki::find_rule(id);
    REQUIRE(r);
    CHECK(r->scope == loki::RuleScope::network);
    bool no_pod_check = r->check == nullptr;
    CHECK(no_pod_check);
  }
}

TEST_CASE("egress-unrestricted") {
  // rule: egress-unrestricted positive
  SUBCASE("positive: no policy at all") {
    auto f = rule(lint(agent()), "egress-unrestricted");
    REQUIRE(f.size() == 1);
    CHECK(f[0].object.name == "agent");
    CHECK(f[0].line == 8);  // the template's labels
    CHECK(f[0].severity == loki::Severity::error);
    CHECK(f[0].remediation.find("policyTypes: [Egress]") != std::string::npos);
  }
  // rule: egress-unrestricted negative
  SUBCASE("negative: default deny egress") {
    CHECK(rule(lint(agent() + kDenyAll), "egress-unrestricted").empty());
  }
  SUBCASE("negative: not a loki-mode pod") {
    CHECK(rule(lint("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: x}]\n"),
               "egress-unrestricted")
              .empty());
  }
  SUBCASE("ignore annotation with a reason suppresses it") {
    std::string a = agent();
    a.replace(a.find("metadata: {name: agent, namespace: loki}"), 40,
              "metadata: {name: agent, namespace: loki, annotations: {ignore.loki-guard.io/egress-unrestricted: "
              "\"egress goes through the proxy sidecar\"}}");
    auto f = rule(lint(a), "egress-unrestricted");
    REQUIRE(f.size() == 1);
    CHECK(f[0].suppressed);
    CHECK(f[0].suppression_reason == "egress goes through the proxy sidecar");
  }
  SUBCASE("disabled by config") {
    loki::EngineOptions o;
    o.config.rules["egress-unrestricted"].enabled = false;
    CHECK(rule(lint(agent(), o), "egress-unrestricted").empty());
  }
}

TEST_CASE("egress-shadowed: the fourth seed") {
  auto r = lint_files({"manifests/examples/broken/shadowed-egress.yaml"});
  // rule: egress-shadowed positive
  auto f = rule(r, "egress-shadowed");
  REQUIRE(f.size() == 1);
  CHECK(f[0].object.kind == "Deployment");
  CHECK(f[0].object.name == "llm-api");
  CHECK(f[0].message.find("deny-all-egress selects role=backend; llm-api has no label role") != std::string::npos);
  CHECK(f[0].message.find("allow-to-orchestrator") != std::string::npos);
  CHECK(f[0].message.find("app=llm-api") != std::string::npos);
  CHECK(f[0].remediation.find("add the label `role: backend`") != std::string::npos);
  CHECK(f[0].remediation.find("podSelector") != std::string::npos);
  CHECK(rule(r, "egress-unrestricted").empty());  // the more precise rule replaces it
  // The policy that misses everything is reported too.
  auto n = rule(r, "policy-selects-nothing");
  REQUIRE(n.size() == 1);
  CHECK(n[0].object.name == "deny-all-egress");
  // Its env promised none.
  CHECK(rule(r, "egress-policy-mismatch").size() == 1);

  // rule: egress-shadowed negative
  SUBCASE("negative: with the label the egress policy selects") {
    std::string text = read("manifests/examples/broken/shadowed-egress.yaml");
    auto pos = text.find("      labels:\n        app: llm-api\n");
    REQUIRE(pos != std::string::npos);
    text.insert(pos + std::string("      labels:\n        app: llm-api\n").size(), "        role: backend\n");
    auto r2 = lint(text);
    CHECK(rule(r2, "egress-shadowed").empty());
    CHECK(rule(r2, "egress-unrestricted").empty());
    CHECK(rule(r2, "policy-selects-nothing").empty());
  }
  SUBCASE("a value mismatch is named") {
    std::string pol =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: loki}\nspec:\n"
        "  podSelector: {matchLabels: {tier: agent}}\n  policyTypes: [Egress]\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ing, namespace: loki}\nspec:\n"
        "  podSelector: {}\n  policyTypes: [Ingress]\n---\n";
    auto f2 = rule(lint(pol + agent("loki", "", ", tier: web")), "egress-shadowed");
    REQUIRE(f2.size() == 1);
    CHECK(f2[0].message.find("deny selects tier=agent; agent has tier=web, not agent") != std::string::npos);
    CHECK(f2[0].remediation.find("set the label `tier: agent`") != std::string::npos);
  }
}

TEST_CASE("deny-egress-is-ingress-only") {
  std::string bad =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all-egress, namespace: loki}\n"
      "spec:\n  podSelector: {}\n---\n";
  auto r = lint(bad + agent());
  // rule: deny-egress-is-ingress-only positive
  auto f = rule(r, "deny-egress-is-ingress-only");
  REQUIRE(f.size() == 1);
  CHECK(f[0].object.kind == "NetworkPolicy");
  CHECK(f[0].line == 4);
  CHECK(f[0].severity == loki::Severity::warning);
  CHECK(f[0].message.find("policyTypes: [Ingress]") != std::string::npos);
  // and the pod is, indeed, unrestricted
  CHECK(rule(r, "egress-unrestricted").size() == 1);
  SUBCASE("negative: named for ingress") {
    std::string ok = bad;
    ok.replace(ok.find("deny-all-egress"), 15, "deny-all-ingress");
    CHECK(rule(lint(ok), "deny-egress-is-ingress-only").empty());
  }
  // rule: deny-egress-is-ingress-only negative
  SUBCASE("negative: policyTypes given") {
    CHECK(rule(lint(kDenyAll + agent()), "deny-egress-is-ingress-only").empty());
  }
  SUBCASE("an annotation that mentions egress counts") {
    std::string ann =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: lockdown, namespace: loki, "
        "annotations: {description: \"block all egress\"}}\nspec:\n  podSelector: {}\n";
    CHECK(rule(lint(ann), "deny-egress-is-ingress-only").size() == 1);
  }
}

TEST_CASE("egress-rules-ignored") {
  std::string bad =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: loki}\nspec:\n"
      "  podSelector: {}\n  policyTypes: [Ingress]\n  egress:\n  - ports: [{port: 443}]\n";
  // rule: egress-rules-ignored positive
  auto f = rule(lint(bad), "egress-rules-ignored");
  REQUIRE(f.size() == 1);
  CHECK(f[0].line == 6);
  CHECK(f[0].field == "/spec/policyTypes");
  // rule: egress-rules-ignored negative
  std::string ok = bad;
  ok.replace(ok.find("[Ingress]"), 9, "[Ingress, Egress]");
  CHECK(rule(lint(ok), "egress-rules-ignored").empty());
}

TEST_CASE("policy-selects-nothing") {
  std::string typo =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: loki}\nspec:\n"
      "  podSelector: {matchLabels: {app: loki-mod}}\n  policyTypes: [Egress]\n---\n";
  // rule: policy-selects-nothing positive
  auto f = rule(lint(typo + agent()), "policy-selects-nothing");
  REQUIRE(f.size() == 1);
  CHECK(f[0].line == 5);
  CHECK(f[0].message.find("agent has app=loki-mode, not loki-mod") != std::string::npos);
  // rule: policy-selects-nothing negative
  SUBCASE("negative: selects the agent") {
    CHECK(rule(lint(kDenyAll + agent()), "policy-selects-nothing").empty());
  }
  SUBCASE("negative: no pods of that namespace in the input") {
    CHECK(rule(lint(typo + agent("elsewhere")), "policy-selects-nothing").empty());
  }
}

TEST_CASE("egress-to-any: the first seed's `to: []` on 443") {
  auto r = lint_files({"manifests/examples/broken/seed-network-security-guide.yaml"});
  // rule: egress-to-any positive
  auto f = rule(r, "egress-to-any");
  REQUIRE(f.size() == 2);  // DNS to any server, and anywhere on 443
  CHECK(f[0].object.name == "loki-egress-policy");
  CHECK(f[0].message.find("DNS") != std::string::npos);
  CHECK(f[1].message.find("anywhere on the internet on TCP/443") != std::string::npos);
  CHECK(f[1].message.find("Pod loki/loki-worker") != std::string::npos);
  CHECK(f[1].line == 26);
  SUBCASE("0.0.0.0/0 counts, even with except") {
    std::string p =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: loki}\nspec:\n"
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: "
        "[169.254.169.254/32]}}]\n    ports: [{port: 443}]\n---\n";
    CHECK(rule(lint(p + agent()), "egress-to-any").size() == 1);
  }
  SUBCASE("negative: a policy that only selects non-loki pods") {
    std::string p =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: loki}\nspec:\n"
        "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 443}]\n---\n";
    CHECK(rule(lint(p + agent()), "egress-to-any").empty());
  }
  // rule: egress-to-any negative
  SUBCASE("negative: specific destinations") {
    CHECK(rule(lint(kDenyAll + kDns + agent()), "egress-to-any").empty());
  }
}

TEST_CASE("metadata-endpoint-reachable") {
  std::string open443 =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-out, namespace: loki}\nspec:\n"
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n---\n";
  // rule: metadata-endpoint-reachable positive
  auto f = rule(lint(open443 + agent()), "metadata-endpoint-reachable");
  REQUIRE(f.size() == 1);
  CHECK(f[0].message.find("169.254.169.254") != std::string::npos);
  CHECK(f[0].message.find("depends on the CNI") != std::string::npos);
  CHECK(f[0].remediation.find("except: [169.254.169.254/32]") != std::string::npos);
  // rule: metadata-endpoint-reachable negative
  SUBCASE("negative: except fixes it") {
    std::string fixed = open443;
    fixed.replace(fixed.find("{cidr: 0.0.0.0/0}"), 17, "{cidr: 0.0.0.0/0, except: [169.254.169.254/32]}");
    CHECK(rule(lint(fixed + agent()), "metadata-endpoint-reachable").empty());
  }
  SUBCASE("negative: 443 only") {
    std::string only443 = open443;
    only443.replace(only443.find("---"), 3, "    ports: [{port: 443}]\n---");
    CHECK(rule(lint(only443 + agent()), "metadata-endpoint-reachable").empty());
  }
  SUBCASE("IPv6: fd00:ec2::254") {
    std::string v6 =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: v6, namespace: loki}\nspec:\n"
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: \"fd00::/8\"}}]\n---\n";
    auto g = rule(lint(v6 + agent()), "metadata-endpoint-reachable");
    REQUIRE(g.size() == 1);
    CHECK(g[0].message.find("fd00:ec2::254") != std::string::npos);
  }
}

TEST_CASE("host-network-bypasses-policy: the third seed") {
  auto r = lint_files({"manifests/examples/broken/host-network-model-backend.yaml"});
  // rule: host-network-bypasses-policy positive
  auto f = rule(r, "host-network-bypasses-policy");
  REQUIRE(f.size() == 1);
  CHECK(f[0].object.name == "model-backend");
  CHECK(f[0].field == "/spec/template/spec/hostNetwork");
  CHECK(f[0].message.find("deny-all-egress") != std::string::npos);
  CHECK(rule(r, "egress-unrestricted").empty());
  // rule: host-network-bypasses-policy negative
  SUBCASE("negative: no hostNetwork") {
    CHECK(rule(lint(kDenyAll + agent()), "host-network-bypasses-policy").empty());
  }
  SUBCASE("without policies it is plain egress-unrestricted") {
    auto r2 = lint(agent("loki", "", "", "      hostNetwork: true\n"));
    CHECK(rule(r2, "host-network-bypasses-policy").empty());
    auto u = rule(r2, "egress-unrestricted");
    REQUIRE(u.size() == 1);
    CHECK(u[0].message.find("hostNetwork") != std::string::npos);
  }
}

TEST_CASE("dns-blocked") {
  // rule: dns-blocked positive
  auto f = rule(lint(kDenyAll + agent()), "dns-blocked");
  REQUIRE(f.size() == 1);
  CHECK(f[0].severity == loki::Severity::warning);
  CHECK(f[0].message.find("UDP or TCP 53") != std::string::npos);
  // rule: dns-blocked negative
  SUBCASE("negative: DNS to kube-dns allowed") {
    CHECK(rule(lint(kDenyAll + kDns + agent()), "dns-blocked").empty());
  }
  SUBCASE("negative: the agent promises none") {
    CHECK(rule(lint(kDenyAll + agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "none"))), "dns-blocked").empty());
  }
  SUBCASE("UDP only is not enough") {
    std::string udp = kDns;
    udp.replace(udp.find(", {protocol: TCP, port: 53}"), 27, "");
    auto g = rule(lint(kDenyAll + udp + agent()), "dns-blocked");
    REQUIRE(g.size() == 1);
    CHECK(g[0].message.find("TCP 53") != std::string::npos);
  }
}

TEST_CASE("egress-policy-mismatch") {
  // rule: egress-policy-mismatch positive
  SUBCASE("none, but not isolated") {
    auto f = rule(lint(agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "none"))), "egress-policy-mismatch");
    REQUIRE(f.size() == 1);
    CHECK(f[0].container == "loki");
    CHECK(f[0].line == 15);  // the env entry
  }
  // rule: egress-policy-mismatch negative
  SUBCASE("none, and only DNS allowed: kept") {
    CHECK(
        rule(lint(kDenyAll + kDns + agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "none"))), "egress-policy-mismatch")
            .empty());
  }
  SUBCASE("ai-only with `to: []` on 443: NetworkPolicy cannot express it") {
    std::string any443 =
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: https, namespace: loki}\nspec:\n"
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: []\n    ports: [{port: 443}]\n---\n";
    auto f = rule(lint(kDenyAll + kDns + any443 + agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "ai-only"))),
                  "egress-policy-mismatch");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("anything on 443") != std::string::npos);
    CHECK(f[0].message.find("cannot express ai-only") != std::string::npos);
    CHECK(f[0].remediation.find("toFQDNs") != std::string::npos);
  }
  SUBCASE("ai-only with the Cilium FQDN policy: kept") {
    CHECK(rule(lint(kDenyAll + kDns + kAiOnlyCilium + agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "ai-only"))),
               "egress-policy-mismatch")
              .empty());
  }
  SUBCASE("ai-only: a host outside the list breaks it; LOKI_ALLOWED_HOSTS extends the list") {
    std::string extra = kAiOnlyCilium;
    extra.replace(extra.find("    - matchName: api.openai.com\n"), 0, "    - matchName: files.example.com\n");
    std::string e = env("LOKI_NETWORK_EGRESS_POLICY", "ai-only");
    CHECK(rule(lint(kDenyAll + kDns + extra + agent("loki", e)), "egress-policy-mismatch").size() == 1);
    CHECK(rule(lint(kDenyAll + kDns + extra + agent("loki", e + env("LOKI_ALLOWED_HOSTS", "files.example.com"))),
               "egress-policy-mismatch")
              .empty());
  }
  SUBCASE("block-metadata promised but reachable") {
    auto f = rule(lint(agent("loki", env("LOKI_BLOCK_METADATA_ENDPOINT", "true"))), "egress-policy-mismatch");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("169.254.169.254") != std::string::npos);
  }
  SUBCASE("invalid values") {
    auto f = rule(
        lint(agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "strict") + env("LOKI_BLOCK_METADATA_ENDPOINT", "yes") +
                               env("LOKI_ALLOWED_HOSTS", "api.example.com, bad host"))),
        "egress-policy-mismatch");
    REQUIRE(f.size() == 3);
    CHECK(f[0].message.find("\"strict\"") != std::string::npos);
  }
  SUBCASE("unrestricted (the default) promises nothing") {
    CHECK(
        rule(lint(agent("loki", env("LOKI_NETWORK_EGRESS_POLICY", "unrestricted"))), "egress-policy-mismatch").empty());
  }
}

TEST_CASE("examples: hardened is clean, broken ones carry the network findings") {
  auto hardened = lint_files({"manifests/examples/hardened/loki-agent.yaml"});
  for (const auto& f : hardened.findings) FAIL_CHECK(f.rule << ": " << f.message);
  auto broken = lint_files({"manifests/examples/broken/deny-egress-ingress-only.yaml"});
  CHECK(rule(broken, "deny-egress-is-ingress-only").size() == 1);
  CHECK(rule(broken, "egress-unrestricted").size() == 1);
  auto md = lint_files({"manifests/examples/broken/metadata-endpoint.yaml"});
  CHECK(rule(md, "metadata-endpoint-reachable").size() == 1);
  CHECK(rule(md, "egress-policy-mismatch").size() == 1);  // LOKI_BLOCK_METADATA_ENDPOINT=true
}

TEST_CASE("the network pass is deterministic and lean across inputs") {
  // Policies and workloads in separate inputs still meet.
  loki::LintSession s{loki::EngineOptions{}};
  s.add_text(kDenyAll, "policies.yaml");
  s.add_text(agent(), "agent.yaml");
  auto r = s.finish();
  CHECK(rule(r, "egress-unrestricted").empty());
  CHECK(rule(r, "dns-blocked").size() == 1);
  CHECK(rule(r, "dns-blocked")[0].file == "agent.yaml");
}
