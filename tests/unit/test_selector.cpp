// Label selectors: kubectl syntax and metav1.LabelSelector, with the API's
// matching rules (NotIn / != match when the key is absent).
#include <doctest/doctest.h>
#include <loki/selector.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using loki::Labels;
using loki::LabelSelector;
using nlohmann::json;

TEST_CASE("kubectl selector syntax") {
  Labels pod{{"app", "loki-mode"}, {"tier", "agent"}, {"env", "prod"}};
  struct Case {
    const char* selector;
    bool matches;
  };
  const Case cases[] = {
      {"", true},
      {"app=loki-mode", true},
      {"app==loki-mode", true},
      {"app = loki-mode , tier=agent", true},
      {"app=other", false},
      {"app!=other", true},
      {"missing!=x", true},  // absent keys satisfy !=
      {"app!=loki-mode", false},
      {"env in (prod, staging)", true},
      {"env in (staging)", false},
      {"env notin (staging)", true},
      {"missing notin (a)", true},
      {"env notin (prod)", false},
      {"tier", true},
      {"missing", false},
      {"!missing", true},
      {"!tier", false},
      {"app=loki-mode,!tier", false},
      {"example.com/role=", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.selector);
    CHECK(LabelSelector::parse(c.selector).matches(pod) == c.matches);
  }
}

TEST_CASE("kubectl selector errors are clear") {
  for (const char* bad :
       {"app in (a", "app in a", "=x", "app===x", "app=a b", "Bad Key=x", "app in ()", "app in (,,)", "app=x,"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(LabelSelector::parse(bad), loki::SelectorError);
  }
  CHECK_THROWS_WITH(LabelSelector::parse("app in (a"), doctest::Contains("invalid selector"));
}

TEST_CASE("metav1.LabelSelector") {
  Labels pod{{"app", "llm-api"}};
  CHECK(LabelSelector::from_json(json::object()).matches(pod));  // empty selects everything
  CHECK(LabelSelector::from_json(json::object()).empty());
  CHECK_FALSE(LabelSelector::from_json(nullptr).matches(pod));  // null selects nothing
  auto sel = LabelSelector::from_json(json::parse(R"({"matchLabels": {"app": "llm-api"},
      "matchExpressions": [{"key": "role", "operator": "DoesNotExist"},
                           {"key": "app", "operator": "In", "values": ["llm-api", "x"]}]})"));
  CHECK(sel.matches(pod));
  CHECK_FALSE(sel.matches({{"app", "llm-api"}, {"role", "backend"}}));
  CHECK(sel.to_string() == "app=llm-api,!role,app in (llm-api,x)");
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"({"matchExpressions": [{"key": "a", "operator": "In"}]})")),
                    doctest::Contains("must be non-empty"));
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"({"matchExpressions": [{"key": "a", "operator": "Has"}]})")),
                    doctest::Contains("is not one of"));
  CHECK_THROWS_WITH(LabelSelector::from_json(json::parse(R"({"matchLabels": {"a": 1}})")),
                    doctest::Contains("expected a string"));
}

TEST_CASE("label key and value validation") {
  CHECK(loki::validate_label_key("app").empty());
  CHECK(loki::validate_label_key("loki-guard.io/enforce").empty());
  CHECK_FALSE(loki::validate_label_key("-app").empty());
  CHECK_FALSE(loki::validate_label_key(std::string(64, 'a')).empty());
  CHECK_FALSE(loki::validate_label_key("UPPER.io/x").empty());
  CHECK(loki::validate_label_value("").empty());
  CHECK_FALSE(loki::validate_label_value("has space").empty());
}

TEST_CASE("Labels behave as the std::map they replaced") {
  // The oracle is std::map itself: same order, same insertion semantics.
  std::map<std::string, std::string, std::less<>> m;
  loki::Labels l;
  const std::vector<std::pair<std::string, std::string>> input = {
      {"tier", "web"}, {"app", "x"}, {"app.kubernetes.io/name", "y"}, {"app", "dup"}, {"b", ""}, {"a", "1"}};
  for (const auto& [k, v] : input) {
    auto rm = m.emplace(k, v);
    auto rl = l.emplace(k, v);
    CHECK(rm.second == rl.second);
    CHECK(rm.first->second == rl.first->second);
  }
  REQUIRE(l.size() == m.size());
  auto it = l.begin();
  for (const auto& [k, v] : m) {
    CHECK(it->first == k);
    CHECK(it->second == v);
    ++it;
  }
  CHECK(l.at("app") == "x");  // an existing key keeps its value
  CHECK_THROWS_AS((void)l.at("missing"), std::out_of_range);
  CHECK(l.count("b") == 1);
  CHECK(l.find("zz") == l.end());
  l.emplace("zz", "last");
  CHECK(std::prev(l.end())->first == "zz");
  l.insert_or_assign(std::string("app"), "over");
  CHECK(l.at("app") == "over");
  CHECK(l.erase("tier") == 1);
  CHECK(l.erase("tier") == 0);
  CHECK(loki::Labels{{"b", "2"}, {"a", "1"}, {"a", "ignored"}} == loki::Labels{{"a", "1"}, {"b", "2"}});
  CHECK(loki::LabelSelector::parse("a=1,b").matches(loki::Labels{{"b", ""}, {"a", "1"}}));
}

TEST_CASE("Labels in one block: random operations against std::map") {
  // Keys and values drawn from a small alphabet so that operations collide;
  // empty strings, one long key and a duplicate-laden constructor included.
  std::mt19937 rng(5);
  auto word = [&]() -> std::string {
    if (rng() % 9 == 0) return "";
    if (rng() % 23 == 0) return std::string(300, static_cast<char>('a' + rng() % 3));
    std::string w;
    for (unsigned n = rng() % 4 + 1; n; --n) w += static_cast<char>('a' + rng() % 4);
    return w;
  };
  for (int round = 0; round < 200; ++round) {
    std::map<std::string, std::string, std::less<>> m;
    loki::Labels l;
    for (int op = 0; op < 40; ++op) {
      const std::string k = word(), v = word();
      switch (rng() % 4) {
        case 0: {
          auto rm = m.emplace(k, v);
          auto rl = l.emplace(k, v);
          CHECK(rm.second == rl.second);
          CHECK(rl.first->first == k);
          CHECK(rl.first->second == rm.first->second);
          break;
        }
        case 1: {
          auto rm = m.insert_or_assign(k, v);
          auto rl = l.insert_or_assign(k, v);
          CHECK(rm.second == rl.second);
          CHECK(rl.first->second == v);
          break;
        }
        case 2:
          CHECK(m.erase(k) == l.erase(k));
          break;
        default: {
          auto im = m.find(k);
          auto il = l.find(k);
          REQUIRE((im == m.end()) == (il == l.end()));
          if (im != m.end()) CHECK(il->second == im->second);
          CHECK(l.contains(k) == (m.count(k) == 1));
        }
      }
      REQUIRE(l.size() == m.size());
    }
    CHECK(std::equal(l.begin(), l.end(), m.begin(), m.end(),
                     [](const auto& a, const auto& b) { return a.first == b.first && a.second == b.second; }));
    const loki::Labels copy = l;  // copies are deep and equal
    CHECK(copy == l);
    loki::Labels moved = loki::Labels(copy);
    CHECK(moved == l);
    CHECK(loki::Labels(m.begin(), m.end()) == l);
    // Ordering: lexicographic over (key, value) pairs, as std::map's.
    std::map<std::string, std::string, std::less<>> m2 = m;
    m2.insert_or_assign(word(), word());
    const loki::Labels l2(m2.begin(), m2.end());
    CHECK(((l <=> l2) < 0) == (m < m2));
    CHECK((l == l2) == (m == m2));
  }
  loki::Labels empty;
  CHECK(empty.begin() == empty.end());
  CHECK(empty.find("a") == empty.end());
  CHECK(empty == loki::Labels{});
  empty.clear();
  CHECK(empty.size() == 0);
}

TEST_CASE("matches_metadata decides as matches(labels_of(metadata))") {
  // The oracle is the Labels path the rest of the engine uses; the JSON path
  // only skips building the Labels (the webhook asks once per review).
  const std::vector<std::string> selectors = {"",
                                              "app=loki-mode",
                                              "app!=loki-mode",
                                              "app in (loki-mode,agent)",
                                              "app notin (web)",
                                              "role",
                                              "!role",
                                              "app=loki-mode,role,tier notin (web),!debug"};
  const std::vector<json> metadatas = {
      json::parse(R"({})"),
      json::parse(R"(null)"),
      json::parse(R"({"labels": null})"),
      json::parse(R"({"labels": []})"),
      json::parse(R"({"labels": {"app": "loki-mode"}})"),
      json::parse(R"({"labels": {"app": "loki-mode", "role": "agent"}})"),
      json::parse(R"({"labels": {"app": "agent", "role": "", "tier": "web"}})"),
      json::parse(R"({"labels": {"app": 5, "role": true}})"),  // not strings: not labels
      json::parse(R"({"labels": {"app": "loki-mode", "role": null, "debug": "1"}})"),
      json::parse(R"({"labels": {"app": "web"}, "name": "x"})")};
  int checked = 0;
  for (const auto& text : selectors) {
    const LabelSelector s = LabelSelector::parse(text);
    for (const auto& md : metadatas) {
      INFO(text << " on " << md.dump());
      CHECK(s.matches_metadata(md) == s.matches(loki::labels_of(md)));
      ++checked;
    }
  }
  CHECK(checked == 80);
  CHECK_FALSE(LabelSelector::nothing().matches_metadata(json::parse(R"({"labels": {"app": "x"}})")));
  CHECK(LabelSelector::parse("app=loki-mode").matches_metadata(json::parse(R"({"labels": {"app": "loki-mode"}})")));
  CHECK_FALSE(LabelSelector::parse("app=loki-mode").matches_metadata(json::parse(R"({"labels": {"app": 1}})")));
}
