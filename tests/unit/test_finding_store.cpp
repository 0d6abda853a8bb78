// FindingStore keeps findings compactly and must give back exactly what it
// was given, in the order sort_findings defines.
#include <doctest/doctest.h>
#include <loki/finding_store.hpp>

#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

std::vector<loki::Finding> random_findings(unsigned seed, int n) {
  std::mt19937 rng(seed);
  auto pick = [&](std::vector<std::string> v) { return v[rng() % v.size()]; };
  std::vector<loki::Finding> out;
  for (int i = 0; i < n; ++i) {
    loki::Finding f;
    f.rule = pick({"host-network", "run-as-root", "egress-shadowed", "capabilities-not-dropped"});
    f.severity = static_cast<loki::Severity>(rng() % 3);
    f.object = {pick({"v1", "apps/v1"}), pick({"Pod", "Deployment"}), pick({"a", "b", ""}), pick({"x", "y", "z"})};
    if (rng() % 2) f.container = pick({"agent", "sidecar", ""});
    f.file = pick({"a.yaml", "b.yaml", "dir/c.yaml"});
    f.line = static_cast<int>(rng() % 5);
    f.message = "message " + std::to_string(rng() % 7) + std::string(rng() % 300, 'm');
    f.remediation = pick({"fix it", "drop ALL", ""});
    f.suppressed = rng() % 5 == 0;
    if (f.suppressed) f.suppression_reason = pick({"reason one", "reason two"});
    f.field = "/spec/containers/" + std::to_string(rng() % 3);
    out.push_back(std::move(f));
  }
  return out;
}

bool same(const loki::Finding& a, const loki::Finding& b) {
  return a.rule == b.rule && a.severity == b.severity && a.object == b.object && a.container == b.container &&
         a.file == b.file && a.line == b.line && a.message == b.message && a.remediation == b.remediation &&
         a.suppressed == b.suppressed && a.suppression_reason == b.suppression_reason && a.field == b.field;
}

// One finding per text: texts[i] as the remediation and the texts in reverse
// as messages (the same set), every `suppress_every`-th suppressed with
// texts[i / 2] as the reason. Returns the texts' bytes counted once each.
std::size_t add_texts(loki::FindingStore& store, const std::vector<std::string>& texts, const std::string& rule,
                      std::size_t suppress_every = 0) {
  std::size_t whole = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    loki::Finding f;
    f.rule = rule;
    f.object = {"apps/v1", "Deployment", "ns", "agent-" + std::to_string(i)};
    f.file = "a.yaml";
    f.remediation = texts[i];
    f.message = texts[texts.size() - 1 - i];
    f.suppressed = suppress_every != 0 && i % suppress_every == 0;
    if (f.suppressed) f.suppression_reason = texts[i / 2];
    store.add(std::move(f), i);
    whole += texts[i].size();
  }
  return whole;
}

}  // namespace

TEST_CASE("FindingStore: round trip and the order of sort_findings") {
  for (unsigned seed : {1u, 2u, 3u}) {
    auto input = random_findings(seed, 2000);
    loki::FindingStore store;
    for (std::size_t i = 0; i < input.size(); ++i) store.add(loki::Finding(input[i]), i);
    REQUIRE(store.size() == input.size());
    for (std::size_t i = 0; i < input.size(); ++i) CHECK(same(store[i], input[i]));
    auto expected = input;
    loki::sort_findings(expected);  // stable: ties keep insertion order, as `order` does
    store.sort();
    auto got = store.to_vector();
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(same(got[i], expected[i]));
  }
}

TEST_CASE("FindingStore: keep_if drops by rule, iteration yields every finding") {
  loki::FindingStore store;
  store.add(random_findings(7, 500), 0);
  std::size_t roots = 0;
  for (const auto& f : store) roots += f.rule == "run-as-root";
  store.keep_if([](std::string_view rule) { return rule != "run-as-root"; });
  CHECK(store.size() == 500 - roots);
  for (const auto& f : store) CHECK(f.rule != "run-as-root");
  loki::FindingStore empty;
  CHECK(empty.empty());
  CHECK(empty.begin() == empty.end());
}

TEST_CASE("FindingStore: a message or field pointer repeated over findings is kept once") {
  // Most messages repeat (they name the object's policies or container, not
  // the object): 2,004 distinct of 23k findings on the 10k corpus.
  loki::FindingStore store;
  const std::string message =
      "the pod is egress-isolated by NetworkPolicy ns-1/p and no rule allows DNS" + std::string(200, '.');
  const std::string field = "/spec/template/spec/containers/0/securityContext";
  std::size_t distinct = 0;
  for (int i = 0; i < 1000; ++i) {
    loki::Finding f;
    f.rule = "dns-blocked";
    f.object = {"apps/v1", "Deployment", "ns-1", "app-" + std::to_string(i)};
    f.file = "c.yaml";
    f.line = i;
    f.message = message;
    f.field = field;
    f.remediation = "allow DNS";
    store.add(std::move(f), 0);
    distinct += std::string("app-" + std::to_string(i)).size();
  }
  distinct += message.size() + field.size() + std::string("dns-blockedapps/v1Deploymentns-1c.yamlallow DNS").size();
  CHECK(store.text_bytes() == distinct);
  CHECK(store[999].message == message);
  CHECK(store[999].field == field);
  CHECK(store[999].object.name == "app-999");
  CHECK(store[0].container == std::nullopt);
}

TEST_CASE("FindingStore: long texts of several lines come back byte for byte, their repeated lines kept once") {
  // A remediation carrying a manifest (egress-policy-mismatch's
  // CiliumNetworkPolicy): the name and a label differ per object, the other
  // lines do not.
  std::mt19937 rng(11);
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    std::string t = "NetworkPolicy alone cannot express ai-only; with Cilium:\napiVersion: cilium.io/v2\n";
    t += "kind: CiliumNetworkPolicy\nmetadata:\n  name: agent-" + std::to_string(i) + "-ai-only\n";
    t += "spec:\n  endpointSelector:\n    matchLabels:\n      app: loki-mode\n";
    if (rng() % 2) t += "\n\n";                // empty lines
    t.append(rng() % 40, 'x').append("\r\n");  // a CR stays in its line
    if (rng() % 3 == 0)
      t += "  toPorts: [443]\n";  // a final line break...
    else
      t += "  toPorts: [443]";  // ...or none
    texts.push_back(t);
  }
  for (const auto& [head, n, c, tail] : {std::tuple<const char*, std::size_t, char, const char*>{"", 500, 'y', "\n"},
                                         {"\n", 300, 'z', ""},
                                         {"", 400, '\n', ""},
                                         {"", 191, 'a', "\n"}}) {  // the last under the split length: kept whole
    std::string t = head;
    t.append(n, c);
    texts.push_back(t.append(tail));
  }
  loki::FindingStore store;
  const std::size_t whole = add_texts(store, texts, "egress-policy-mismatch", 7);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const loki::Finding f = store[i];
    CHECK(f.remediation == texts[i]);
    CHECK(f.message == texts[texts.size() - 1 - i]);
    CHECK(f.suppression_reason == (i % 7 == 0 ? texts[i / 2] : ""));
  }
  // The texts whole (each kept once, messages are the same set) against what the store holds.
  CHECK(store.text_bytes() * 2 < whole);
}

TEST_CASE("FindingStore: long one-line texts are kept as pieces and come back byte for byte") {
  // egress-unrestricted names the pod's labels and the policy that misses it,
  // in its message and again in its remediation: the texts are distinct per
  // workload, their clauses and labels are not.
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    const std::string labels = "app=worker,app.kubernetes.io/instance=worker-" + std::to_string(i) +
                               ",role=frontend,team=" + (i % 2 ? "infra" : "ml");
    texts.push_back("no NetworkPolicy with Egress selects this pod (labels: " + labels +
                    "), so it can reach anything (the internet, the cloud metadata endpoint, every service of the "
                    "cluster). NetworkPolicy ns-0/policy-" +
                    std::to_string(i % 9) + " isolates egress in this namespace but misses it: policy-" +
                    std::to_string(i % 9) + " selects role=backend; worker-" + std::to_string(i) +
                    " has role=frontend, not backend");
    texts.push_back("set the label `role: backend` in spec.template.metadata.labels of Deployment ns-0/worker-" +
                    std::to_string(i) + ", or change the podSelector so it also selects " + labels);
  }
  // Every place a piece ends, at the text's ends and doubled, with no cut
  // point at all, and just at and under the length where cutting starts.
  texts.push_back(std::string(300, 'a'));
  texts.push_back(", " + std::string(250, 'b') + ",");
  texts.push_back(",,, ,\n. ; : .;:" + std::string(200, 'c') + ". ");
  texts.push_back(std::string(200, 'd') + ": " + std::string(3, 'e') + ":");
  texts.push_back("x," + std::string(190, 'f'));  // 192 bytes: cut
  texts.push_back("x," + std::string(189, 'g'));  // 191 bytes: whole
  loki::FindingStore store;
  const std::size_t whole = add_texts(store, texts, "egress-unrestricted");
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const loki::Finding f = store[i];
    CHECK(f.remediation == texts[i]);
    CHECK(f.message == texts[texts.size() - 1 - i]);
  }
  // Whole, these distinct texts are 237 KB; as pieces, 96 KB: the labels and
  // clauses are kept once.
  CHECK(store.text_bytes() * 2 < whole);
}

TEST_CASE("FindingStore: texts cut at every offset of the scan's 16-byte blocks come back byte for byte") {
  std::mt19937 rng(5);
  const std::string alphabet = "ab ,.;:\n";
  std::vector<std::string> texts;
  loki::FindingStore store;
  for (std::size_t i = 0; i < 500; ++i) {
    std::string t(190 + rng() % 100, 'a');
    for (char& c : t) c = rng() % 4 ? 'a' : alphabet[rng() % alphabet.size()];
    loki::Finding f;
    f.rule = "r";
    f.object = {"v1", "Pod", "ns", "p"};
    f.message = t;
    store.add(std::move(f), i);
    texts.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < texts.size(); ++i) CHECK(store[i].message == texts[i]);
}
