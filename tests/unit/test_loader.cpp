// Manifest loader: YAML/JSON to objects with lines, and bad input that must
// become clear invalid-manifest findings instead of crashes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <loki/engine.hpp>
#include <loki/lint.hpp>
#include <loki/manifest.hpp>
#include "source_dir.hpp"

#include "yaml_json.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

using nlohmann::json;

namespace {

std::vector<loki::Object> objects_of(const std::string& text, std::vector<loki::LoadError>* errors = nullptr) {
  std::vector<loki::Object> out;
  for (auto& d : loki::parse_manifest_text(text, "test.yaml")) {
    for (auto& o : d.objects) out.push_back(std::move(o));
    if (errors)
      for (auto& e : d.errors) errors->push_back(e);
  }
  return out;
}

loki::LintResult lint(const std::string& text, const std::string& name = "test.yaml") {
  loki::EngineOptions opts;
  loki::LintSession s(opts);
  s.add_text(text, name);
  return s.finish();
}

// Copies: a LintResult's findings are rebuilt on access (FindingStore).
std::vector<std::shared_ptr<const loki::Finding>> with_rule(const loki::LintResult& r, std::string_view rule) {
  std::vector<std::shared_ptr<const loki::Finding>> out;
  for (const auto& f : r.findings)
    if (f.rule == rule) out.push_back(std::make_shared<const loki::Finding>(f));
  return out;
}

}  // namespace

TEST_CASE("scalars resolve as Kubernetes' YAML decoder reads them") {
  using loki::detail::resolve_plain_scalar;
  CHECK(resolve_plain_scalar("true") == json(true));
  CHECK(resolve_plain_scalar("yes") == json(true));  // YAML 1.1, as go-yaml v2
  CHECK(resolve_plain_scalar("Off") == json(false));
  CHECK(resolve_plain_scalar("~").is_null());
  CHECK(resolve_plain_scalar("null").is_null());
  CHECK(resolve_plain_scalar("8080") == json(8080));
  CHECK(resolve_plain_scalar("-1") == json(-1));
  CHECK(resolve_plain_scalar("0x1F") == json(31));
  CHECK(resolve_plain_scalar("0644") == json(420));
  CHECK(resolve_plain_scalar("1.5") == json(1.5));
  CHECK(resolve_plain_scalar("1e3") == json(1000.0));
  CHECK(resolve_plain_scalar("7.5.13") == json("7.5.13"));
  CHECK(resolve_plain_scalar("loki-mode") == json("loki-mode"));
  CHECK(resolve_plain_scalar("99999999999999999999999") == json(1e23));
}

TEST_CASE("the YAML 1.1 words are exactly go-yaml v2's resolve table") {
  // go-yaml v2 resolve.go: {true, True, TRUE, yes, Yes, YES, y, Y, on, On, ON}
  // as true, the same for false / no / n / off, ~ null Null NULL, .inf .Inf
  // .INF and their + and - forms, .nan .NaN .NAN; any other case is a string.
  using loki::detail::resolve_plain_scalar;
  for (const char* w : {"true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON"})
    CHECK_MESSAGE(resolve_plain_scalar(w) == json(true), w);
  for (const char* w : {"false", "False", "FALSE", "no", "No", "NO", "n", "N", "off", "Off", "OFF"})
    CHECK_MESSAGE(resolve_plain_scalar(w) == json(false), w);
  for (const char* w : {"~", "null", "Null", "NULL"}) CHECK_MESSAGE(resolve_plain_scalar(w).is_null(), w);
  for (const char* w : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
    CHECK_MESSAGE(resolve_plain_scalar(w) == json(std::numeric_limits<double>::infinity()), w);
  for (const char* w : {"-.inf", "-.Inf", "-.INF"})
    CHECK_MESSAGE(resolve_plain_scalar(w) == json(-std::numeric_limits<double>::infinity()), w);
  for (const char* w : {".nan", ".NaN", ".NAN"}) {
    const json v = resolve_plain_scalar(w);
    CHECK_MESSAGE((v.is_number_float() && std::isnan(v.get<double>())), w);
  }
  for (const char* w : {"tRue",  "yES",  "oN", "nO", "NUll", "nulL",  "FaLse", "OFf", ".INf", "+.nan",
                        "-.nan", ".NAn", "yy", "nn", "~~",   "truee", "onn",   "Y ",  " y",   "falsey"})
    CHECK_MESSAGE(resolve_plain_scalar(w) == json(w), w);
}

TEST_CASE("mapping keys resolve as values do: the words of the table are not strings, other keys are") {
  // Keys take a path that skips resolution when the text cannot resolve to
  // anything but itself; these are the cases at its edge. A key that resolves
  // is named by its JSON text (true, false, null, numbers), as in go-yaml's
  // map[interface{}]interface{} handed to sigs.k8s.io/yaml.
  using loki::detail::resolve_plain_scalar;
  const std::vector<std::string> keys = {
      "y",      "Y",     "n",     "N",    "on",   "On",   "ON",    "off",   "Off", "yes",  "No", "NO",
      "true",   "TRUE",  "False", "null", "Null", "NULL", "~",     "0",     "1",   "0x1F", "-2", "+3",
      "1.5",    ".inf",  "-.Inf", "type", "name", "nope", "ye",    "tRue",  "oN",  "nulL", "yy", "format",
      "offset", "names", "t",     "f",    "o",    "O",    "truee", "Nulls", "On1", "no-x", "~x", "yes_"};
  auto expected = [&](const std::string& k) {
    const json v = resolve_plain_scalar(k);
    if (v.is_string()) return v.get<std::string>();
    return v.is_null() ? std::string("null") : v.dump();
  };
  auto parse = [](const std::string& text, std::vector<loki::detail::YamlError>& errors) {
    std::vector<loki::detail::ParsedDocument> docs;
    loki::detail::parse_yaml(text, 0, docs, errors, [](std::string_view k) { return k == "ConfigMap"; });
    return docs;
  };
  for (const auto& k : keys) {
    std::vector<loki::detail::YamlError> errors;
    auto docs = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  " + k + ": v\n", errors);
    REQUIRE(docs.size() == 1);
    CHECK_MESSAGE((docs[0].value["spec"] == json{{expected(k), "v"}}), k);
  }
  // Built or skipped, two keys are duplicates exactly when they resolve alike.
  for (const char* kind : {"Pod", "ConfigMap"})
    for (std::size_t i = 0; i < keys.size(); ++i)
      for (std::size_t j = i + 1; j < keys.size(); ++j) {
        std::vector<loki::detail::YamlError> errors;
        parse(std::string("apiVersion: v1\nkind: ") + kind + "\nmetadata: {name: c}\ndata:\n  " + keys[i] + ": a\n  " +
                  keys[j] + ": b\n",
              errors);
        CHECK_MESSAGE(errors.size() == (expected(keys[i]) == expected(keys[j]) ? 1U : 0U),
                      kind << ": " << keys[i] << ", " << keys[j]);
      }
}

namespace {
// The byte-at-a-time scan first_binary_line replaced, kept as its oracle.
int first_binary_line_oracle(std::string_view s) {
  int line = 1;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c == '\n') {
      ++line;
      ++p;
      continue;
    }
    if (c == 0) return line;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || c == 0xC0 || c == 0xC1 || c > 0xF4) return line;
    if (end - p <= n) return line;
    for (int i = 1; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80) return line;
    p += n + 1;
  }
  return 0;
}
}  // namespace

TEST_CASE("binary text: the first NUL or broken UTF-8 sequence, by line, at any offset") {
  using loki::detail::first_binary_line;
  // Each bad or multi-byte sequence at every position of texts of one to three 16-byte blocks.
  const std::string pieces[] = {std::string(1, '\0'), "\xff",     "\xc3", "\xc3\xa9", "\xe2\x82\xac",    "\xe2\x82",
                                "\xf0\x9f\x98\x80",   "\xc0\xaf", "\x80", "\n",       "\xf5\x80\x80\x80"};
  int compared = 0;
  for (std::size_t len : {0u, 1u, 15u, 16u, 17u, 32u, 40u}) {
    for (std::size_t pos = 0; pos <= len; ++pos)
      for (const auto& p : pieces) {
        std::string s;
        for (std::size_t i = 0; i < len; ++i) s += i % 7 == 6 ? '\n' : 'a';
        s.insert(pos, p);
        INFO("len " << len << " pos " << pos);
        CHECK(first_binary_line(s) == first_binary_line_oracle(s));
        ++compared;
      }
  }
  CHECK(compared == 1408);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> pick(0, 999), any(0, 255), len(0, 200);
  for (int n = 0; n < 20000; ++n) {
    std::string s(static_cast<std::size_t>(len(rng)), 'x');
    for (auto& c : s) {
      const int r = pick(rng);
      c = static_cast<char>(r < 990 ? (r % 10 == 0 ? '\n' : 'a' + r % 26) : any(rng));
    }
    CHECK(first_binary_line(s) == first_binary_line_oracle(s));
  }
  CHECK(first_binary_line("a\nb\n\xff") == 3);
  CHECK(first_binary_line("plain: yaml\n") == 0);
}

TEST_CASE("quoted scalars stay strings") {
  auto objs =
      objects_of("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostNetwork: \"yes\"\n  x: '8080'\n");
  REQUIRE(objs.size() == 1);
  CHECK(objs[0].json["spec"]["hostNetwork"] == json("yes"));
  CHECK(objs[0].json["spec"]["x"] == json("8080"));
}

TEST_CASE("every mapping key and sequence item keeps its line") {
  const std::string text =
      "# comment\n"                    // 1
      "apiVersion: apps/v1\n"          // 2
      "kind: Deployment\n"             // 3
      "metadata:\n"                    // 4
      "  name: agent\n"                // 5
      "spec:\n"                        // 6
      "  template:\n"                  // 7
      "    spec:\n"                    // 8
      "      hostNetwork: true\n"      // 9
      "      containers:\n"            // 10
      "      - name: a\n"              // 11
      "        image: x\n"             // 12
      "      - name: b\n"              // 13
      "        ports:\n"               // 14
      "        - containerPort: 80\n"  // 15
      "          hostPort: 8080\n";    // 16
  auto objs = objects_of(text);
  REQUIRE(objs.size() == 1);
  const auto& o = objs[0];
  CHECK(o.line == 2);
  CHECK(o.line_of("/spec/template/spec/hostNetwork") == 9);
  CHECK(o.line_of("/spec/template/spec/containers/0") == 11);
  CHECK(o.line_of("/spec/template/spec/containers/1") == 13);
  CHECK(o.line_of("/spec/template/spec/containers/1/ports/0/hostPort") == 16);
  // A missing field falls back to its closest ancestor.
  CHECK(o.line_of("/spec/template/spec/containers/1/securityContext") == 13);
  CHECK(o.line_of("/nope") == 2);
}

TEST_CASE("multi-document YAML: lines are counted in the whole file") {
  const std::string text =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"  // 1-4
      "---\n"                                                    // 5
      "\n"                                                       // 6
      "apiVersion: v1\n"                                         // 7
      "kind: Pod\n"                                              // 8
      "metadata:\n  name: b\n"                                   // 9-10
      "spec:\n  hostPID: true\n"                                 // 11-12
      "  containers: []\n";
  auto objs = objects_of(text);
  REQUIRE(objs.size() == 2);
  CHECK(objs[1].line == 7);
  CHECK(objs[1].line_of("/spec/hostPID") == 12);
}

TEST_CASE("a YAML syntax error in one document does not hide the others") {
  const std::string text =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: first\nspec:\n  containers: [{name: a}]\n"  // 1-6
      "---\n"                                                                                    // 7
      "apiVersion: v1\n"                                                                         // 8
      "kind: Pod\n"                                                                              // 9
      "metadata: {name: broken\n"                                                                // 10
      "spec: [\n"                                                                                // 11
      "---\n"                                                                                    // 12
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: third\nspec:\n  hostNetwork: true\n  containers: [{name: c}]\n";
  std::vector<loki::LoadError> errors;
  auto objs = objects_of(text, &errors);
  REQUIRE(objs.size() == 2);
  CHECK(objs[0].json["metadata"]["name"] == "first");
  CHECK(objs[1].json["metadata"]["name"] == "third");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line >= 10);
  CHECK(errors[0].line <= 12);
  CHECK(errors[0].message.find("YAML syntax error") != std::string::npos);
}

// The stream is split at "---" lines sixteen bytes at a time (SSE2) and in
// windows of 256 KB; each document must keep its lines whatever the offsets.
// YAML 1.2, 9.1.4: a "---" at the start of a line "indicates the start of a
// document"; "---x" or "-- -" does not.
TEST_CASE("documents keep their lines at every offset of the splitter's blocks and windows") {
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    std::string text;
    int line = 1;
    std::vector<int> name_lines;
    const std::size_t target = round == 2 ? std::size_t{700} * 1024 : 4096;  // past two 256 KB windows
    while (text.size() < target) {
      // Filler lines of every length, some starting with '-' but no marker.
      for (int k = static_cast<int>(rng() % 4); k > 0; --k) {
        const std::size_t n = rng() % 40;
        std::string filler = (rng() % 3 == 0 ? "#-- " : "# ") + std::string(n, 'x') + "\n";
        text += filler;
        ++line;
      }
      text += "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm" + std::to_string(name_lines.size()) +
              "\ndata:\n  k: |\n    ---x\n    -- -\n";
      name_lines.push_back(line + 3);
      line += 8;
      text += rng() % 2 ? "---\n" : "--- # next\n";
      ++line;
    }
    auto objs = objects_of(text);
    REQUIRE(objs.size() == name_lines.size());
    for (std::size_t i = 0; i < objs.size(); ++i) {
      INFO("round " << round << ", document " << i);
      CHECK(objs[i].json["metadata"]["name"] == "cm" + std::to_string(i));
      CHECK(objs[i].line_of("/metadata/name") == name_lines[i]);
    }
  }
}

TEST_CASE("a document that does not parse is named from its text: block or flow metadata") {
  auto object_of = [](const std::string& text) {
    std::vector<loki::LoadError> errors;
    auto objs = objects_of(text, &errors);
    REQUIRE(objs.empty());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("YAML syntax error") != std::string::npos);
    return errors[0].object;
  };
  SUBCASE("flow style, unclosed") {
    auto o = object_of("apiVersion: v1\nkind: Pod\nmetadata: {name: broken, namespace: team-a\nspec: [\n");
    CHECK(o.kind == "Pod");
    CHECK(o.apiVersion == "v1");
    CHECK(o.name == "broken");
    CHECK(o.ns == "team-a");
  }
  SUBCASE("flow style, closed, quoted") {
    auto o = object_of("kind: Pod\nmetadata: {namespace: \"b\", name: 'x'}\nspec: [\n");
    CHECK(o.name == "x");
    CHECK(o.ns == "b");
  }
  SUBCASE("block style at any indentation; nested name keys are not the object's") {
    auto o = object_of(
        "kind: Deployment\nmetadata:\n    labels:\n        name: label-not-name\n    # name: comment\n"
        "    namespace: ns1\n    name: web\nspec: [\n");
    CHECK(o.kind == "Deployment");
    CHECK(o.name == "web");
    CHECK(o.ns == "ns1");
  }
  SUBCASE("no metadata: nothing guessed") {
    auto o = object_of("kind: Pod\nspec:\n  name: not-metadata\n  x: [\n");
    CHECK(o.name.empty());
    CHECK(o.ns.empty());
  }
}

TEST_CASE("JSON manifests and kind: List") {
  const std::string text = R"({
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "d"},
     "spec": {"template": {"spec": {"hostIPC": true, "containers": [{"name": "c"}]}}}}
  ]
})";
  auto objs = objects_of(text);
  REQUIRE(objs.size() == 2);
  CHECK(objs[0].json["kind"] == "Pod");
  CHECK(objs[0].line == 5);
  CHECK(objs[1].json["metadata"]["name"] == "d");
  CHECK(objs[1].line_of("/spec/template/spec/hostIPC") == 8);
}

TEST_CASE("anchors, aliases and merge keys") {
  const std::string text =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &l {app: loki-mode}\n"
      "  annotations:\n    <<: {a: '1', b: '2'}\n    b: '3'\n"
      "spec:\n  containers:\n  - &c {name: x, image: img}\n  - {<<: *c, name: z}\n";
  auto objs = objects_of(text);
  REQUIRE(objs.size() == 1);
  const auto& j = objs[0].json;
  CHECK(j["metadata"]["annotations"]["a"] == "1");
  CHECK(j["metadata"]["annotations"]["b"] == "3");  // explicit keys win over merged ones
  CHECK(j["spec"]["containers"][1]["name"] == "z");
  CHECK(j["spec"]["containers"][1]["image"] == "img");
}

TEST_CASE("aliases that expand the document too far are refused, as kubectl's YAML decoder refuses them") {
  auto parse = [](const std::string& text) {
    std::vector<loki::detail::ParsedDocument> docs;
    std::vector<loki::detail::YamlError> errors;
    loki::detail::parse_yaml(text, 0, docs, errors);
    return std::pair{docs, errors};
  };
  auto excessive = [](const std::vector<loki::detail::YamlError>& errors) {
    return errors.size() == 1 && errors[0].message.find("excessive aliasing") != std::string::npos;
  };
  SUBCASE("go-yaml v2 limit_test.go: the cases with anchors, same inputs, same verdicts") {
    // gopkg.in/yaml.v2 limit_test.go (TestLimits): "1000kb of maps with 100
    // aliases" fails with "yaml: document contains excessive aliasing"; "1kb
    // of maps" ... "1000kb of maps" (an anchor, no alias) decode.
    auto repeat = [](const std::string& s, std::size_t n) {
      std::string out;
      for (std::size_t i = 0; i < n; ++i) out += s;
      return out;
    };
    auto [docs, errors] =
        parse("{a: &a [{a}" + repeat(",{a}", 1000 * 1024 / 4 - 100) + "], b: &b [*a" + repeat(",*a", 99) + "]}");
    CHECK(docs.empty());
    REQUIRE(excessive(errors));
    CHECK(errors[0].line == 1);
    CHECK(errors[0].field == "/b/1");  // the second copy of the 767,704-node list tips it
    for (int kb : {1, 10, 100, 1000}) {
      auto [ok_docs, ok_errors] =
          parse("a: &a [{a}" + repeat(",{a}", static_cast<std::size_t>(kb) * 1024 / 4 - 1) + "]");
      CHECK(ok_errors.empty());
      CHECK(ok_docs.size() == 1);
    }
  }
  SUBCASE("billion laughs: 1 KB whose nine levels of aliases would be 10^9 strings") {
    std::string text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n";
    text += "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (int i = 1; i < 10; ++i) {
      text += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int k = 0; k < 9; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
      text += "]\n";
    }
    auto [docs, errors] = parse(text);
    CHECK(docs.empty());
    REQUIRE(excessive(errors));
    // a3 (line 8): its 5th copy of a2 makes aliases more than 99 % of the
    // document's nodes as go-yaml counts them (tests/yaml-diff compares the
    // verdict with go-yaml itself); nothing past it was copied.
    CHECK(errors[0].line == 8);
    CHECK(errors[0].field == "/data/a3/4");
    // Through the loader: an invalid-manifest finding, the other documents still checked.
    auto r = lint(text + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->line == 8);
    CHECK(inv[0]->field == "/data/a3/4");
    CHECK(inv[0]->message.find("kubectl refuses it too") != std::string::npos);
    CHECK(r.summary.objects == 1);
  }
  SUBCASE("anchors used as people use them are fine, even when aliases are most of the document") {
    std::string text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n";
    text +=
        "  - &c {name: c, image: i, env: [{name: A, value: '1'}, {name: B, value: '2'}], ports: [{containerPort: "
        "80}]}\n";
    for (int i = 0; i < 200; ++i) text += "  - *c\n";  // 200 copies: ~96 % of the nodes came from aliases
    auto [docs, errors] = parse(text);
    CHECK(errors.empty());
    REQUIRE(docs.size() == 1);
    CHECK(docs[0].value["spec"]["containers"].size() == 201);
  }
  SUBCASE("the allowed share: go-yaml's allowedAliasRatio") {
    // decode.go: 99 % up to 400,000 nodes, 10 % from 4,000,000, linear between.
    CHECK(loki::detail::allowed_alias_ratio(1000) == doctest::Approx(0.99));
    CHECK(loki::detail::allowed_alias_ratio(400000) == doctest::Approx(0.99));
    CHECK(loki::detail::allowed_alias_ratio(2200000) == doctest::Approx(0.545));
    CHECK(loki::detail::allowed_alias_ratio(4000000) == doctest::Approx(0.10));
    CHECK(loki::detail::allowed_alias_ratio(40000000) == doctest::Approx(0.10));
  }
}

TEST_CASE("Helm output: findings name the template from # Source") {
  const std::string text =
      "---\n"                                  // 1
      "# Source: loki/templates/agent.yaml\n"  // 2
      "apiVersion: v1\n"                       // 3 -> template line 1
      "kind: Pod\n"                            // 4
      "metadata:\n  name: agent\n  labels: {app: loki-mode}\n"
      "spec:\n"                // 8
      "  hostNetwork: true\n"  // 9 -> template line 7
      "  containers: [{name: c}]\n";
  auto r = lint(text, "<stdin>");
  auto hn = with_rule(r, "host-network");
  REQUIRE(hn.size() == 1);
  CHECK(hn[0]->file == "loki/templates/agent.yaml");
  CHECK(hn[0]->line == 7);
}

TEST_CASE("bad input becomes invalid-manifest findings naming file, line, object and field") {
  // rule: invalid-manifest positive
  SUBCASE("wrong types") {
    const std::string text =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: loki-mode}\n"
        "spec:\n"                   // 6
        "  hostNetwork: \"yes\"\n"  // 7
        "  containers: agent\n";    // 8
    auto r = lint(text);
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 2);
    CHECK(inv[0]->line == 7);
    CHECK(inv[0]->message.find("spec.hostNetwork") != std::string::npos);
    CHECK(inv[0]->message.find("expected a boolean") != std::string::npos);
    CHECK(inv[0]->object.name == "p");
    CHECK(inv[0]->object.kind == "Pod");
    CHECK(inv[1]->line == 8);
    CHECK(inv[1]->message.find("spec.containers") != std::string::npos);
  }
  SUBCASE("missing metadata.name") {
    auto r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: x\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("metadata.name") != std::string::npos);
    CHECK(inv[0]->line == 3);
  }
  SUBCASE("an apiVersion that does not exist for the kind") {
    auto r = lint("apiVersion: 7.5.13\nkind: NetworkPolicy\nmetadata:\n  name: x\nspec:\n  podSelector: {}\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->line == 1);
    CHECK(inv[0]->message.find("networking.k8s.io/v1") != std::string::npos);
  }
  SUBCASE("a removed apiVersion names the release") {
    auto r = lint(
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: x\n"
        "spec:\n  template:\n    spec:\n      containers: [{name: c}]\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("removed in Kubernetes 1.16") != std::string::npos);
  }
  SUBCASE("an unknown kind with a malformed apiVersion") {
    auto r = lint("apiVersion: foo/bar/baz\nkind: Widget\nmetadata:\n  name: x\n");
    CHECK(with_rule(r, "invalid-manifest").size() == 1);
    // rule: invalid-manifest negative
    auto ok = lint("apiVersion: example.com/v1beta2\nkind: Widget\nmetadata:\n  name: x\n");
    CHECK(with_rule(ok, "invalid-manifest").empty());
  }
  SUBCASE("label values must be strings") {
    auto r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    version: 1.0\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->line == 6);
    CHECK(inv[0]->message.find("metadata.labels.version") != std::string::npos);
  }
  SUBCASE("a label key with '/' is one JSON pointer token, and the finding is on its own line") {
    // RFC 6901, section 3: "'~' needs to be encoded as '~0' and '/' needs to
    // be encoded as '~1' when these characters appear in a reference token."
    auto r = lint(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app: a\n"
        "    example.com/tier: \"not a label value!\"\n"  // 7
        "    example.com/v~1: 2\n");                      // 8
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 2);
    CHECK(inv[0]->field == "/metadata/labels/example.com~1tier");
    CHECK(inv[0]->line == 7);
    CHECK(inv[0]->message.find("field metadata.labels.example.com/tier:") == 0);
    CHECK(inv[1]->field == "/metadata/labels/example.com~1v~01");
    CHECK(inv[1]->line == 8);
  }
  SUBCASE("binary junk") {
    std::string junk = "apiVersion: v1\n";
    junk += std::string("\x00\x01\xff\xfe garbage", 12);
    auto r = lint(junk);
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("not a text manifest") != std::string::npos);
    CHECK(inv[0]->line == 2);
  }
  SUBCASE("an empty file") {
    auto r = lint("# nothing here\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("no Kubernetes objects") != std::string::npos);
  }
  SUBCASE("a document that is a list of objects, not a mapping") {
    auto r = lint("- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- kind: Secret\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("document is a list, not a Kubernetes object") != std::string::npos);
    CHECK(r.skipped.empty());
  }
  SUBCASE("a scalar document that names apiVersion or kind (a lost colon)") {
    auto r = lint("apiVersion v1\nkind Pod\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message.find("document is a string") != std::string::npos);
  }
  SUBCASE("duplicate keys") {
    auto r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: other\n");
    auto inv = with_rule(r, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->line == 5);
    CHECK(inv[0]->message.find("already defined") != std::string::npos);
  }
  SUBCASE("deep nesting is refused, not a stack overflow") {
    std::string deep = std::string(100000, '[') + std::string(100000, ']') + "\n";
    auto r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: " + deep);
    CHECK(!with_rule(r, "invalid-manifest").empty());
    // The same nesting in a document that is not a manifest is skipped, still without a crash.
    auto other = lint("a: " + deep);
    CHECK(other.findings.empty());
    CHECK(other.skipped.size() == 1);
  }
}

TEST_CASE("documents that are not Kubernetes objects are skipped, not reported") {
  auto skipped_only = [](const loki::LintResult& r) {
    CHECK(r.findings.empty());
    CHECK(r.summary.objects == 0);
    CHECK(r.summary.documents_skipped == r.skipped.size());
    return r.skipped.size();
  };
  SUBCASE("a pre-commit config, a GitHub workflow, a Helm values.yaml") {
    auto pc = lint(
        "repos:\n  - repo: https://github.com/pre-commit/pre-commit-hooks\n    rev: v5.0.0\n"
        "    hooks:\n      - id: check-yaml\n",
        ".pre-commit-config.yaml");
    CHECK(skipped_only(pc) == 1);
    CHECK(pc.skipped[0].file == ".pre-commit-config.yaml");
    CHECK(pc.skipped[0].line == 1);
    CHECK(pc.skipped[0].reason == "not a Kubernetes object (no apiVersion or kind)");
    auto wf = lint(
        "name: ci\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n");
    CHECK(skipped_only(wf) == 1);
    auto values = lint("# Default values\n\nreplicaCount: 1\nimage:\n  repository: nginx\n", "values.yaml");
    CHECK(skipped_only(values) == 1);
    CHECK(values.skipped[0].line == 3);  // the document's first node, after the comments
  }
  SUBCASE("lists and scalars that name neither key, JSON, JSON with comments") {
    CHECK(skipped_only(lint("- hosts: all\n  tasks:\n  - name: ping\n    ping: {}\n")) == 1);  // an Ansible play
    CHECK(skipped_only(lint("[1, 2, 3]\n", "data.json")) == 1);
    CHECK(skipped_only(lint("just some text\n")) == 1);
    CHECK(skipped_only(lint("{\"name\": \"pkg\", \"version\": \"1.0.0\"}\n", "package.json")) == 1);
    auto jsonc = lint("{\n  // comment\n  \"compilerOptions\": {\"strict\": true}\n}\n", "tsconfig.json");
    CHECK(skipped_only(jsonc) == 1);
    CHECK(jsonc.skipped[0].reason.find("not valid YAML") != std::string::npos);
  }
  SUBCASE("a duplicate key in a document that is not a manifest is not reported") {
    CHECK(skipped_only(lint("name: ci\nname: again\n")) == 1);
  }
  SUBCASE("tool configuration in the object style") {
    CHECK(skipped_only(lint("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                            "resources: [deploy.yaml]\n")) == 1);
    CHECK(skipped_only(lint("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")) == 1);
    CHECK(skipped_only(lint("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")) == 1);
    CHECK(skipped_only(lint("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: control-plane}]\n")) ==
          1);
    auto k = lint("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
    CHECK(k.skipped[0].reason ==
          "a kustomize file (Kustomization, kustomize.config.k8s.io/v1beta1), not an API object");
    // A CRD whose group merely resembles one of those is an object like any other.
    auto flux = lint("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nspec: {}\n");
    CHECK(flux.skipped.empty());
    CHECK(with_rule(flux, "invalid-manifest").size() == 1);  // metadata is missing
  }
  SUBCASE("a document with only one of apiVersion and kind is a broken manifest") {
    auto kind_only = lint("kind: Deployment\nmetadata:\n  name: x\n");
    auto inv = with_rule(kind_only, "invalid-manifest");
    REQUIRE(inv.size() == 1);
    CHECK(inv[0]->message == "field apiVersion: required field is missing");
    CHECK(kind_only.skipped.empty());
    auto version_only = lint("apiVersion: v2\nname: chart\nversion: 0.1.0\n");
    REQUIRE(with_rule(version_only, "invalid-manifest").size() == 2);  // kind and metadata
    // Present but null still counts as meant to be an object.
    CHECK(!with_rule(lint("apiVersion:\nkind:\n"), "invalid-manifest").empty());
  }
  SUBCASE("a syntax error in a manifest stays an error") {
    auto r = lint("apiVersion: v1\nkind: Pod\nmetadata: {name: broken\nspec: [\n");
    CHECK(with_rule(r, "invalid-manifest").size() == 1);
    CHECK(r.skipped.empty());
  }
  SUBCASE("objects and other documents in one file") {
    auto r = lint(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "some: settings\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
    CHECK(r.findings.empty());
    CHECK(r.summary.objects == 2);
    REQUIRE(r.skipped.size() == 1);
    CHECK(r.skipped[0].line == 5);
    CHECK(r.summary.documents_skipped == 1);
  }
  SUBCASE("an empty file is still reported: it holds nothing at all") {
    CHECK(with_rule(lint("---\n# nothing\n---\n"), "invalid-manifest").size() == 1);
  }
}

TEST_CASE("expand_inputs: files named inside a Helm chart are skipped with a note") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("loki-chart-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "charts/agent/templates");
  fs::create_directories(dir / "deploy");
  auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
  write(dir / "charts/agent/Chart.yaml", "apiVersion: v2\nname: agent\nversion: 0.1.0\n");
  write(dir / "charts/agent/values.yaml", "replicas: 1\n");
  write(dir / "charts/agent/templates/deployment.yaml", "{{- if .Values.enabled }}\nkind: Deployment\n{{- end }}\n");
  write(dir / "deploy/agent.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
  auto in = loki::expand_inputs({(dir / "charts/agent/Chart.yaml").string(), (dir / "deploy/agent.yaml").string(),
                                 (dir / "charts/agent/templates/deployment.yaml").string(),
                                 (dir / "charts/agent/values.yaml").string()});
  REQUIRE(in.files.size() == 1);
  CHECK(in.files[0] == (dir / "deploy/agent.yaml").string());
  REQUIRE(in.skipped.size() == 1);  // one note per chart
  CHECK(in.skipped[0].find("Helm chart skipped (3 files of it named)") != std::string::npos);
  CHECK(in.skipped[0].find("helm template") != std::string::npos);
  CHECK(in.skipped[0].find((dir / "charts/agent").string()) != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("expand_inputs: directories recurse, missing paths are usage errors") {
  auto in = loki::expand_inputs({loki_test::source_path("manifests/examples").string()});
  CHECK(in.files.size() >= 5);
  for (const auto& f : in.files) CHECK((f.ends_with(".yaml") || f.ends_with(".yml") || f.ends_with(".json")));
  CHECK(std::is_sorted(in.files.begin(), in.files.end()));
  CHECK_THROWS_WITH_AS(loki::expand_inputs({"/no/such/path.yaml"}), doctest::Contains("no such file"),
                       std::runtime_error);
}

TEST_CASE("many documents parse in parallel and keep their order") {
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + std::to_string(i) + "\n";
  loki::LoadOptions lo;
  lo.threads = 4;
  auto docs = loki::parse_manifest_text(text, "many.yaml", lo);
  REQUIRE(docs.size() == 500);
  for (int i = 0; i < 500; ++i) {
    REQUIRE(docs[i].objects.size() == 1);
    CHECK(docs[i].objects[0].json["metadata"]["name"] == "cm-" + std::to_string(i));
    CHECK(docs[i].objects[0].line == 2 + 5 * i);
  }
}

TEST_CASE("kinds no check reads: parsed for syntax and duplicate keys, only what checks read is built") {
  auto unread = [](std::string_view k) { return k != "Deployment"; };
  // Same errors as a full build, and the same fields where anything reads them.
  auto same_as_full = [&](const std::string& text) {
    std::vector<loki::detail::ParsedDocument> lean, full;
    std::vector<loki::detail::YamlError> lean_errors, full_errors;
    loki::detail::parse_yaml(text, 0, lean, lean_errors, unread);
    loki::detail::parse_yaml(text, 0, full, full_errors);
    REQUIRE(lean_errors.size() == full_errors.size());
    for (std::size_t i = 0; i < full_errors.size(); ++i) {
      CHECK(lean_errors[i].line == full_errors[i].line);
      CHECK(lean_errors[i].column == full_errors[i].column);
      CHECK(lean_errors[i].message == full_errors[i].message);
      CHECK(lean_errors[i].field == full_errors[i].field);
    }
    REQUIRE(lean.size() == full.size());
    for (std::size_t i = 0; i < full.size(); ++i) {
      const json& l = lean[i].value;
      const json& f = full[i].value;
      CHECK(lean[i].first_line == full[i].first_line);
      REQUIRE(l.type() == f.type());
      if (!f.is_object()) {
        CHECK(l == f);
        continue;
      }
      CHECK(l.size() == f.size());  // skipped fields stay as null placeholders
      for (const char* k : {"apiVersion", "kind", "metadata"}) CHECK(l.value(k, json()) == f.value(k, json()));
      if (f.contains("spec") && f["spec"].is_object())
        CHECK(l["spec"].value("template", json()) == f["spec"].value("template", json()));
      for (const char* p : {"/metadata/name", "/metadata/labels/a", "/spec/template/spec/containers/0"})
        CHECK(lean[i].lines->find(p) == full[i].lines->find(p));
    }
    return lean;
  };

  SUBCASE("a duplicate key deep in a skipped field is still an error, with its pointer and line") {
    auto docs = same_as_full(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: b}\n"
        "data:\n  x: 1\n  y:\n  - {p: 1, q: 2}\n  - {p: 1, p: 2}\n  x: 2\nbinaryData: {}\nbinaryData: {}\n");
    CHECK(docs[0].value["data"].is_null());
  }
  SUBCASE("a wide skipped mapping: duplicates found before and after the keys go into a hash set") {
    // The skipped path keeps its keys in a short list, then a hash set: a
    // duplicate of an early key, of a late one, and a repeated triple.
    std::string text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n";
    for (int i = 0; i < 3000; ++i) {
      text += "  k" + std::to_string(i) + ": v\n";
      if (i == 8) text += "  k3: again\n";   // still in the scanned list
      if (i == 40) text += "  k2: again\n";  // a key from the list, found in the set
      if (i == 2500) text += "  k2499: again\n  k2499: third\n";
    }
    text += "  k0: last\n";
    same_as_full(text);
    std::vector<loki::detail::ParsedDocument> docs;
    std::vector<loki::detail::YamlError> errors;
    loki::detail::parse_yaml(text, 0, docs, errors, unread);
    REQUIRE(errors.size() == 5);
    CHECK(errors[0].field == "/stringData/k3");
    CHECK(errors[0].line == 14);
    CHECK(errors[1].field == "/stringData/k2");
    CHECK(errors[3].field == "/stringData/k2499");
    CHECK(errors[4].field == "/stringData/k0");
    CHECK(errors[4].line == 3000 + 5 + 4);
  }
  SUBCASE("keys compare as resolved (1 and 0x1 are the same key), merge keys are not duplicates") {
    same_as_full("kind: Secret\napiVersion: v1\nmetadata: {name: s}\nstringData:\n  1: a\n  0x1: b\n  '1': c\n");
  }
  SUBCASE("the kind after a field: built whole") {
    auto docs = same_as_full("data: {a: b}\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    CHECK(docs[0].value["data"] == json{{"a", "b"}});
  }
  SUBCASE("anchors, aliases, complex keys and a second kind fall back to a full build") {
    same_as_full("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: &d {a: b}\nother: *d\n");
    same_as_full("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: *l\ndata: {a: b}\n");
    same_as_full("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ? [a, b]\n  : c\n  ? [a, b]\n  : d\n");
    auto docs = same_as_full(
        "apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: c}\nspec:\n  replicas: 1\n  selector: {}\n"
        "  template:\n    spec:\n      containers: [{name: a}]\nkind: Deployment\n");
    CHECK(docs[0].value["spec"]["selector"].is_object());
  }
  SUBCASE("spec.template is built for a pod template inferred from an unknown kind") {
    auto docs = same_as_full(
        "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  big: {a: [1, 2, 3]}\n"
        "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - name: a\n        image: "
        "x\n");
    CHECK(docs[0].value["spec"]["big"].is_null());
  }
  SUBCASE("syntax errors in skipped fields are reported as before") {
    same_as_full("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: [1, 2\n  b: c\n");
    same_as_full("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: b\n c: d\n");
  }
  SUBCASE("workload kinds, Lists and multi-document chunks") {
    same_as_full("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1, replicas: 2}\n");
    same_as_full(
        "apiVersion: v1\nkind: ConfigMap\ndata: {a: 1}\n...\n---\napiVersion: v1\nkind: Deployment\nx: {a: 1}\n");
  }
}

TEST_CASE("the text before the first unvisited document is handed to `done` in whole pages") {
  // 6,000 ConfigMaps of ~60 bytes: every document is smaller than a page, so
  // handing over each document's own text released no page at all, and a
  // mapped input stayed resident to the end of the run.
  std::string text;
  for (int i = 0; i < 6000; ++i)
    text += "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c" + std::to_string(i) + "}\n---\n";
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(text.data());
  const auto end = begin + text.size();
  std::mutex mu;
  bool whole_seen = false;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> after_split;  // ranges handed over while parsing
  loki::LoadOptions opts;
  opts.threads = 2;
  opts.done = [&](std::string_view part) {
    std::lock_guard lk(mu);
    const auto b = reinterpret_cast<std::uintptr_t>(part.data());
    if (b == begin && part.size() == text.size()) {
      whole_seen = true;  // after splitting
      return;
    }
    if (whole_seen) after_split.emplace_back(b, b + part.size());
  };
  std::atomic<int> docs{0};
  loki::for_each_document(
      text, "t.yaml", [&](std::size_t, loki::DocumentResult&& d) { docs += static_cast<int>(d.objects.size()); }, opts);
  CHECK(docs == 6000);
  REQUIRE(whole_seen);
  REQUIRE(!after_split.empty());
  CHECK(after_split.size() > 1);  // released as the parse goes, not only at the end
  // Contiguous from the start to the end, each range but the last ending on a
  // page boundary: InputText::release frees the whole pages inside a range.
  CHECK(after_split.front().first == begin);
  CHECK(after_split.back().second == end);
  for (std::size_t i = 0; i + 1 < after_split.size(); ++i) {
    CHECK(after_split[i].second == after_split[i + 1].first);
    CHECK(after_split[i].second % page == 0);
  }
}
