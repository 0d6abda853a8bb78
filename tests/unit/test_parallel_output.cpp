// The network pass and the reports on several threads (issue 19): the same
// findings and the same bytes as on one thread, in every format.
#include <doctest/doctest.h>

#include <loki/finding_store.hpp>
#include <loki/lint.hpp>
#include <loki/network_checks.hpp>
#include <loki/report.hpp>
#include <loki/rules.hpp>
#include "source_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

namespace {

// The bundled examples (every network rule they show) and two fixtures: a
// fix repeated in a namespace (the text report's labels) and a small team.
std::vector<std::pair<std::string, std::string>> inputs() {
  std::vector<std::string> rels;
  for (const auto& e : std::filesystem::recursive_directory_iterator(loki_test::source_path("manifests/examples")))
    if (e.path().extension() == ".yaml")
      rels.push_back(std::filesystem::relative(e.path(), loki_test::source_path("")).string());
  std::sort(rels.begin(), rels.end());
  rels.push_back("tests/fixtures/lint/repeated-fix.yaml");
  rels.push_back("tests/fixtures/netmap/team.yaml");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& rel : rels) {
    std::ifstream in(loki_test::source_path(rel));
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    out.emplace_back(rel, ss.str());
  }
  return out;
}

// `copies` copies of the inputs, each under its own file name: the same
// objects in the same namespaces, so the policies of every copy select the
// pods of all of them (many network findings, many ties of file and line
// across rules).
void fill(loki::LintSession& s, int copies) {
  const auto texts = inputs();
  for (int k = 0; k < copies; ++k)
    for (const auto& [rel, text] : texts) s.add_text(text, "copy" + std::to_string(k) + "/" + rel);
}

// A lint session (loader on `threads`) over `copies` copies of the inputs.
std::unique_ptr<loki::LintSession> session_of(int copies, unsigned threads = 1) {
  loki::LoadOptions lo;
  lo.threads = threads;
  auto s = std::make_unique<loki::LintSession>(loki::EngineOptions{}, lo);
  fill(*s, copies);
  return s;
}

std::string key(const loki::Finding& f) {
  return f.rule + "|" + f.file + ":" + std::to_string(f.line) + "|" + f.object.apiVersion + "|" + f.object.display() +
         "|" + f.container.value_or("<none>") + "|" + f.field + "|" + std::string(loki::to_string(f.severity)) + "|" +
         (f.suppressed ? "suppressed " + f.suppression_reason : "") + "|" + f.message + "|" + f.remediation;
}

std::vector<std::string> keys(const std::vector<loki::Finding>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(key(f));
  return out;
}

std::map<std::string, std::vector<std::string>> by_rule(const std::vector<loki::Finding>& fs) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& f : fs) out[f.rule].push_back(key(f));
  return out;
}

std::vector<std::string> sorted_keys(std::vector<loki::Finding> fs) {
  loki::FindingStore store;
  for (auto& f : fs) store.add(std::move(f), 7);  // one `order`, as Pipeline::finish gives the network findings
  store.sort();
  return keys(store.to_vector());
}

}  // namespace

TEST_CASE("network pass: on several threads, each rule's findings in the order one thread makes them") {
  auto s = session_of(12);
  const loki::netpol::Inventory& inv = s->inventory();
  const loki::Config config;
  auto run = [&](unsigned threads) {
    std::vector<loki::Finding> out;
    loki::check_network(
        inv, config, [&](loki::Finding&& f) { out.push_back(std::move(f)); }, threads);
    return out;
  };
  const std::vector<loki::Finding> serial = run(1);
  const auto serial_by_rule = by_rule(serial);
  INFO("findings: " << serial.size());
  REQUIRE(serial.size() > 150);
  REQUIRE(serial_by_rule.size() >= 6);  // rules side by side
  for (unsigned threads : {2u, 3u, 16u, 0u}) {
    CAPTURE(threads);
    const std::vector<loki::Finding> parallel = run(threads);
    CHECK(parallel.size() == serial.size());
    CHECK(by_rule(parallel) == serial_by_rule);
    CHECK(sorted_keys(parallel) == sorted_keys(serial));
  }
}

TEST_CASE("network findings sort the same however the rules interleave, not however one rule's are reordered") {
  // Why the parallel pass may interleave rules: FindingStore::sort's key is
  // (file, line, kind, namespace, name, rule, container, order) and the
  // network findings share one order, so only findings of one rule can tie.
  auto s = session_of(3);
  const loki::netpol::Inventory& inv = s->inventory();
  std::vector<loki::Finding> serial;
  loki::check_network(inv, loki::Config{}, [&](loki::Finding&& f) { serial.push_back(std::move(f)); });
  const auto expected = sorted_keys(serial);

  // The rules' runs in reverse, and round robin: another interleaving each.
  const auto groups = by_rule(serial);
  std::map<std::string, std::vector<loki::Finding>> runs;
  for (const auto& f : serial) runs[f.rule].push_back(f);
  std::vector<loki::Finding> reversed;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it)
    reversed.insert(reversed.end(), it->second.begin(), it->second.end());
  std::vector<loki::Finding> round_robin;
  for (std::size_t i = 0; round_robin.size() < serial.size(); ++i)
    for (const auto& [rule, fs] : runs)
      if (i < fs.size()) round_robin.push_back(fs[i]);
  REQUIRE(keys(reversed) != keys(serial));
  CHECK(sorted_keys(reversed) == expected);
  CHECK(sorted_keys(round_robin) == expected);

  // Within one rule, the production order is what breaks ties: two findings
  // of one rule on one object, line and container come out as made. This is
  // why a rule runs whole on one thread.
  auto tie = [](const std::string& message) {
    loki::Finding f;
    f.rule = "egress-policy-mismatch";
    f.file = "a.yaml";
    f.line = 3;
    f.object = loki::ObjectRef{"apps/v1", "Deployment", "ns", "agent"};
    f.message = message;
    return f;
  };
  const auto ab = sorted_keys({tie("a"), tie("b")});
  CHECK(sorted_keys({tie("b"), tie("a")}) != ab);
  CHECK(ab == keys({tie("a"), tie("b")}));
}

TEST_CASE("lint and every report format: --threads 1, 2 and 3 write the same bytes") {
  auto lint = [](unsigned threads) { return session_of(60, threads)->finish(); };
  auto render = [](const loki::LintResult& r, loki::Format format, unsigned threads) {
    loki::ReportOptions opts;
    opts.threads = threads;
    std::ostringstream out;
    loki::write_report(out, format, r.findings, r.summary, opts);
    return out.str();
  };
  const loki::LintResult one = lint(1);
  INFO("findings: " << one.findings.size());
  REQUIRE(one.findings.size() > 16 * 128);  // several blocks of the parallel reporters (core/report.cpp)
  for (unsigned threads : {2u, 3u}) {
    CAPTURE(threads);
    const loki::LintResult many = lint(threads);
    CHECK(keys(many.findings.to_vector()) == keys(one.findings.to_vector()));
    for (auto format : {loki::Format::text, loki::Format::json, loki::Format::sarif, loki::Format::junit}) {
      CAPTURE(static_cast<int>(format));
      const std::string expected = render(one, format, 1);
      CHECK(render(many, format, 1) == expected);
      CHECK(render(one, format, threads) == expected);
      CHECK(render(many, format, threads) == expected);
    }
  }
  // The same through the std::vector<Finding> overload.
  const std::vector<loki::Finding> v = one.findings.to_vector();
  for (auto format : {loki::Format::text, loki::Format::json, loki::Format::sarif, loki::Format::junit}) {
    CAPTURE(static_cast<int>(format));
    std::ostringstream a, b;
    loki::ReportOptions opts;
    loki::write_report(a, format, v, one.summary, opts);
    opts.threads = 3;
    loki::write_report(b, format, v, one.summary, opts);
    CHECK(a.str() == b.str());
    CHECK(a.str() == render(one, format, 1));
  }
}

TEST_CASE("FindingStore::sort on two threads: the order of one, ties kept in production order") {
  // 40,000 findings over few files, lines and rules: many equal keys, which
  // only `order` and then the order of adding tell apart.
  auto make = [] {
    loki::FindingStore store;
    for (int i = 0; i < 40000; ++i) {
      loki::Finding f;
      f.rule = i % 3 ? "egress-policy-mismatch" : "egress-to-any";
      f.file = "f" + std::to_string((i * 7) % 5) + ".yaml";
      f.line = (i * 13) % 17;
      f.object = loki::ObjectRef{"apps/v1", "Deployment", "ns", "d" + std::to_string(i % 4)};
      f.message = "finding " + std::to_string(i);  // tells the ties apart after sorting
      store.add(std::move(f), static_cast<std::uint64_t>(i % 2));
    }
    return store;
  };
  loki::FindingStore one = make(), two = make();
  one.sort(1);
  two.sort(2);
  REQUIRE(one.size() == 40000);
  CHECK(keys(one.to_vector()) == keys(two.to_vector()));
}
