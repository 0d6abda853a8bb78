// LineIndex keeps each entry as its parent and its own token; the oracle is
// what it replaced: every entry's whole pointer as text, the last entry for a
// text winning, and the closest ancestor that has a line as the fallback.
#include <doctest/doctest.h>
#include <loki/manifest.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "yaml_json.hpp"

namespace {

struct Oracle {
  std::vector<std::pair<std::string, int>> entries;  // whole pointer, line (-1: none)
  int find(std::string_view pointer) const {
    std::string p(pointer);
    while (true) {
      for (auto it = entries.rbegin(); it != entries.rend(); ++it)
        if (it->second >= 0 && it->first == p) return it->second;
      auto slash = p.rfind('/');
      if (slash == std::string::npos || p.empty()) return 0;
      p.resize(slash);
    }
  }
};

std::string token_text(const std::string& key) {
  std::string p;
  loki::detail::append_pointer_token(p, key);
  return p;
}

}  // namespace

TEST_CASE("line index: every lookup as the whole-pointer index answered it") {
  // Keys drawn from a small alphabet so that duplicates, escapes ('~', '/'),
  // empty keys and numeric keys (which look like sequence indexes) are common.
  const std::vector<std::string> keys = {"a", "b", "spec", "0", "1", "", "a/b", "~", "~1", "x~0y", "<<"};
  std::mt19937 rng(7);
  for (int round = 0; round < 400; ++round) {
    const bool big = round % 10 == 0;  // past 256 entries: the sorted path
    loki::LineIndex index;
    Oracle oracle;
    struct Node {
      loki::LineIndex::Node id;
      std::string pointer;
      bool is_map;
      std::size_t items = 0;
    };
    std::vector<Node> open = {{loki::LineIndex::kRoot, "", true}};
    const int n = big ? 600 : 5 + static_cast<int>(rng() % 80);
    int line = 1;
    for (int i = 0; i < n; ++i, ++line) {
      Node& parent = open[rng() % open.size()];
      Node child{0, "", rng() % 3 == 0};
      if (parent.is_map) {
        const std::string& k = keys[rng() % keys.size()];
        const bool merge = k == "<<";
        child.id = merge ? index.add_unlined(parent.id, k) : index.add(parent.id, k, line);
        child.pointer = parent.pointer + token_text(k);
        oracle.entries.emplace_back(child.pointer, merge ? -1 : line);
      } else {
        const std::size_t item = parent.items++;
        child.id = index.add(parent.id, item, line);
        child.pointer = parent.pointer + "/" + std::to_string(item);
        oracle.entries.emplace_back(child.pointer, line);
      }
      open.push_back(child);  // may become a parent of later entries
    }
    index.seal();
    std::map<std::string, int> probes;
    for (const auto& [p, l] : oracle.entries) {
      probes[p];
      probes[p + "/missing"];
      probes[p + "/0"];
    }
    probes[""];
    probes["/"];
    probes["/nothing/here"];
    for (const auto& probe : probes) {
      const std::string& p = probe.first;
      INFO("round " << round << " pointer " << p);
      CHECK(index.find(p) == oracle.find(p));
    }
  }
}

TEST_CASE("line index: a duplicate key's later subtree wins; the earlier one's fields still have their lines") {
  const std::string text = "a:\n  b: 1\n  c: 2\na:\n  c: 3\n";
  std::vector<loki::detail::ParsedDocument> docs;
  std::vector<loki::detail::YamlError> errors;
  loki::detail::parse_yaml(text, 0, docs, errors);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].lines->find("/a") == 4);
  CHECK(docs[0].lines->find("/a/c") == 5);
  CHECK(docs[0].lines->find("/a/b") == 2);  // as the whole-pointer index had it
  CHECK(docs[0].lines->find("/a/d") == 4);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].field == "/a");
  CHECK(errors[0].line == 4);
}
