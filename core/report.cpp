#include <loki/finding_store.hpp>
#include <loki/json_text.hpp>
#include <loki/report.hpp>
#include <loki/rules.hpp>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_map>

namespace loki {

using nlohmann::json;

std::optional<Format> parse_format(std::string_view s) {
  if (s == "text") return Format::text;
  if (s == "json") return Format::json;
  if (s == "sarif") return Format::sarif;
  if (s == "junit") return Format::junit;
  return std::nullopt;
}

namespace {

struct Counts {
  std::size_t errors = 0, warnings = 0, infos = 0, suppressed = 0;
};

// Findings per block of the parallel reporters: a JSON block is about 150 KB
// (SARIF 165 KB), and at most 2 x threads blocks are held ahead of the
// writer. 2,048 a block, a fresh string each, took peak RSS at 10k objects
// from 29 to 44 MB; 256, recycled, to 31 MB.
constexpr std::size_t kBlockSize = 128;

unsigned worker_count(unsigned threads, std::size_t blocks) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::min<std::size_t>(threads, blocks));
}

// Items [0, n) in blocks of kBlockSize: render(block, begin, end) fills a
// Block on a worker, emit(block) consumes the blocks in order on the calling
// thread. Workers render at most 2 x threads blocks ahead of emit, so memory
// stays bounded however many findings there are; the calling thread renders
// too when it would wait. One thread (or one block): render and emit in turn,
// no thread started. An exception from a render stops the workers and is
// rethrown here; blocks not yet emitted are dropped.
template <class Block, class Render, class Emit>
void in_blocks(std::size_t n, unsigned threads, const Render& render, const Emit& emit) {
  const std::size_t blocks = (n + kBlockSize - 1) / kBlockSize;
  threads = worker_count(threads, blocks);
  auto bounds = [n](std::size_t k) { return std::pair{k * kBlockSize, std::min(n, (k + 1) * kBlockSize)}; };
  if (threads <= 1) {
    Block b;
    for (std::size_t k = 0; k < blocks; ++k) {
      b.clear();  // keeps its capacity
      auto [begin, end] = bounds(k);
      render(b, begin, end);
      emit(b);
    }
    return;
  }
  const std::size_t window = 2 * std::size_t{threads};
  struct Slot {
    Block block;
    bool ready = false;
  };
  std::vector<Slot> ring(window);
  // Emitted blocks go back to the workers, cleared but with their capacity:
  // no block is regrown and freed on another thread than the one that made
  // it (with a fresh string per block, peak RSS at 10k objects rose 8 MB).
  std::vector<Block> spare;
  std::mutex mu;
  std::condition_variable ready_cv, free_cv;
  std::size_t next = 0, emitted = 0;
  bool stop = false;
  std::exception_ptr error;
  auto work = [&] {
    for (;;) {
      std::size_t k;
      Block b;
      {
        std::unique_lock lk(mu);
        free_cv.wait(lk, [&] { return stop || next >= blocks || next < emitted + window; });
        if (stop || next >= blocks) return;
        k = next++;
        if (!spare.empty()) {
          b = std::move(spare.back());
          spare.pop_back();
        }
      }
      b.clear();
      try {
        auto [begin, end] = bounds(k);
        render(b, begin, end);
      } catch (...) {
        std::lock_guard lk(mu);
        if (!error) error = std::current_exception();
        stop = true;
        ready_cv.notify_all();
        free_cv.notify_all();
        return;
      }
      std::lock_guard lk(mu);
      ring[k % window].block = std::move(b);
      ring[k % window].ready = true;
      ready_cv.notify_all();
    }
  };
  std::vector<std::jthread> pool;
  // Declared after the pool: destroyed first, so the workers are told to stop
  // before they are joined, also when emit throws.
  struct Stop {
    std::mutex& mu;
    bool& stop;
    std::condition_variable& cv;
    ~Stop() {
      {
        std::lock_guard lk(mu);
        stop = true;
      }
      cv.notify_all();
    }
  } stopper{mu, stop, free_cv};
  // threads - 1 workers; the calling thread writes, and while the block it
  // needs is not ready it renders the next unclaimed one itself (waiting only
  // when every block in the window is taken).
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  for (std::size_t k = 0; k < blocks; ++k) {
    Block b;
    {
      std::unique_lock lk(mu);
      Slot& slot = ring[k % window];
      while (!slot.ready && !error) {
        if (next < blocks && next < emitted + window) {
          const std::size_t j = next++;
          Block mine;
          if (!spare.empty()) {
            mine = std::move(spare.back());
            spare.pop_back();
          }
          lk.unlock();
          mine.clear();
          auto [begin, end] = bounds(j);
          render(mine, begin, end);  // throws through `stopper`, which stops the workers
          lk.lock();
          ring[j % window].block = std::move(mine);
          ring[j % window].ready = true;
          continue;
        }
        ready_cv.wait(lk);
      }
      if (!slot.ready) break;
      b = std::move(slot.block);
      slot.block = Block{};
      slot.ready = false;
      emitted = k + 1;
    }
    free_cv.notify_all();
    emit(b);
    std::lock_guard lk(mu);
    spare.push_back(std::move(b));
  }
  {
    std::lock_guard lk(mu);
    stop = true;
  }
  free_cv.notify_all();
  pool.clear();  // joins
  if (error) std::rethrow_exception(error);
}

// The reporters take any sequence of findings with size() and operator[]:
// a std::vector<Finding>, or a FindingStore that rebuilds each on access.
// fn(i, finding) for every finding in order, on the calling thread; a
// FindingStore's findings are rebuilt on `threads` workers ahead of it.
// With `order`, the findings order[0], order[1], ... instead (fn gets the
// position in `order`).
template <class Findings, class Fn>
void for_each_finding(const Findings& findings, unsigned threads, const Fn& fn,
                      const std::vector<std::size_t>* order = nullptr) {
  const std::size_t n = order ? order->size() : findings.size();
  auto at = [&](std::size_t p) { return order ? (*order)[p] : p; };
  if constexpr (std::is_same_v<Findings, FindingStore>) {
    std::size_t p = 0;
    in_blocks<std::vector<Finding>>(
        n, threads,
        [&](std::vector<Finding>& b, std::size_t begin, std::size_t end) {
          b.reserve(end - begin);
          for (std::size_t j = begin; j < end; ++j) b.push_back(findings[at(j)]);
        },
        [&](std::vector<Finding>& b) {
          for (const Finding& f : b) fn(p++, f);
        });
  } else {
    (void)threads;
    for (std::size_t p = 0; p < n; ++p) fn(p, findings[at(p)]);
  }
}

Severity severity_at(const FindingStore& s, std::size_t i) {
  return s.severity(i);
}
bool suppressed_at(const FindingStore& s, std::size_t i) {
  return s.suppressed(i);
}
Severity severity_at(const std::vector<Finding>& v, std::size_t i) {
  return v[i].severity;
}
bool suppressed_at(const std::vector<Finding>& v, std::size_t i) {
  return v[i].suppressed;
}

template <class Findings>
Counts count(const Findings& findings) {
  Counts c;
  for (std::size_t i = 0; i < findings.size(); ++i) {
    if (suppressed_at(findings, i)) {
      ++c.suppressed;
      continue;
    }
    switch (severity_at(findings, i)) {
      case Severity::error:
        ++c.errors;
        break;
      case Severity::warning:
        ++c.warnings;
        break;
      case Severity::info:
        ++c.infos;
        break;
    }
  }
  return c;
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// The reference URLs of a rule, for the text report's "docs:" line.
std::string docs_line(std::string_view rule) {
  const Rule* r = find_rule(rule);
  if (!r || r->references.empty()) return {};
  std::string out;
  for (const auto& ref : r->references) out += (out.empty() ? "" : "  ") + std::string(ref.url);
  return out;
}

// The same for a JUnit failure's body (CI test viewers show only that):
// "\ndocs: URL  URL", or nothing for a rule without references.
std::string docs_suffix(std::string_view rule) {
  std::string docs = docs_line(rule);
  return docs.empty() ? docs : "\ndocs: " + docs;
}

template <class Findings>
void write_text(std::ostream& out, const Findings& findings, const ReportSummary& summary, const ReportOptions& opts) {
  auto paint = [&](const char* code, const std::string& s) {
    return opts.color ? std::string("\x1b[") + code + "m" + s + "\x1b[0m" : s;
  };
  // Group by object in the order findings arrive (they are sorted by file, line).
  // A multi-line fix (a NetworkPolicy to apply, a securityContext block) is
  // printed once per namespace with a label, later findings refer back to it:
  // one missing egress policy in a namespace of many pods is one fix to apply.
  // One-line fixes stay in place (a reference would be no shorter). The docs
  // line of a rule is printed once per namespace too.
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::string, std::size_t> repeats;  // namespace, rule, fix -> findings with it
  {
    std::map<std::string, std::size_t> index;
    for_each_finding(findings, opts.threads, [&](std::size_t i, const Finding& f) {
      if (f.suppressed) return;
      auto [it, fresh] = index.emplace(f.object.display() + "\x1f" + f.file, groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(i);
      // Counted here, not group by group: a count does not depend on the order.
      if (f.remediation.find('\n') != std::string::npos)
        ++repeats[f.object.ns + "\x1f" + f.rule + "\x1f" + f.remediation];
    });
  }
  // The groups one after another: findings are rebuilt in that order, ahead
  // of the writer on the workers.
  std::vector<std::size_t> order;
  std::vector<std::size_t> group_end;  // position in `order` after each group
  {
    std::size_t total = 0;
    for (const auto& list : groups) total += list.size();
    order.reserve(total);
    group_end.reserve(groups.size());
    for (auto& list : groups) {
      order.insert(order.end(), list.begin(), list.end());
      group_end.push_back(order.size());
      std::vector<std::size_t>().swap(list);
    }
    std::vector<std::vector<std::size_t>>().swap(groups);
  }
  std::map<std::string, std::size_t> fix_labels;  // namespace, rule, fix -> label (fixes given more than once)
  std::set<std::string> docs_shown;               // namespace, rule
  std::size_t group = 0;
  bool live = false;
  auto write_one = [&](const Finding* f) {
    const char* colour = f->severity == Severity::error ? "31" : f->severity == Severity::warning ? "33" : "36";
    std::string sev(to_string(f->severity));
    out << "  " << (live ? std::string("live") : f->file + ":" + std::to_string(f->line)) << ": " << paint(colour, sev)
        << " [" << f->rule << "]";
    out << " " << f->message << "\n";
    const std::string scope = f->object.ns + "\x1f" + f->rule;
    std::string label;
    if (auto r = repeats.find(scope + "\x1f" + f->remediation); r != repeats.end() && r->second > 1) {
      auto [it, fresh] = fix_labels.emplace(r->first, fix_labels.size() + 1);
      label = "[" + std::to_string(it->second) + "]";
      if (!fresh) {
        out << "      " << paint("2", "fix: see " + label + " above") << "\n";
        return;
      }
    }
    // Indent the remediation so multi-line YAML stays readable.
    std::string indented;
    for (char ch : f->remediation) {
      indented += ch;
      if (ch == '\n') indented += "           ";
    }
    out << "      " << paint("2", (label.empty() ? "fix: " : "fix " + label + ": ") + indented) << "\n";
    if (docs_shown.insert(scope).second)
      if (std::string docs = docs_line(f->rule); !docs.empty()) out << "      " << paint("2", "docs: " + docs) << "\n";
  };
  for_each_finding(
      findings, opts.threads,
      [&](std::size_t p, const Finding& f) {
        if (p == (group ? group_end[group - 1] : 0)) {
          live = is_live_location(f);
          std::string title = live ? kubectl_name(f.object) : f.object.display();
          if (!f.object.apiVersion.empty() || live)
            title += " (" + f.object.apiVersion +
                     (live ? std::string(f.object.apiVersion.empty() ? "" : ", ") + "live" : "") + ")";
          out << paint("1", title) << "\n";
        }
        write_one(&f);
        if (p + 1 == group_end[group]) {
          out << "\n";
          ++group;
        }
      },
      &order);
  if (opts.passed && !opts.passed->empty()) {
    out << paint("1", "Passed checks") << "\n";
    for (const auto& p : *opts.passed) {
      out << "  " << p.object.display() << ": ";
      if (p.rules.empty()) out << "none";
      for (std::size_t i = 0; i < p.rules.size(); ++i) out << (i ? ", " : "") << p.rules[i];
      out << "\n";
    }
    out << "\n";
  }
  Counts c = count(findings);
  if (summary.files) out << plural(summary.files, "file") << ", ";
  out << plural(summary.objects, "object");
  if (summary.documents_skipped)
    out << " (" << plural(summary.documents_skipped, "document") << " skipped: "
        << (summary.documents_skipped == 1 ? "not a Kubernetes API object" : "not Kubernetes API objects") << ")";
  out << ", " << summary.pods_checked << " loki-mode pod template" << (summary.pods_checked == 1 ? "" : "s")
      << " checked: " << plural(c.errors, "error") << ", " << plural(c.warnings, "warning");
  if (c.infos) out << ", " << c.infos << " info";
  if (c.suppressed) out << " (" << c.suppressed << " suppressed by ignore annotations)";
  out << "\n";
}

template <class Findings>
json summary_json(const Findings& findings, const ReportSummary& summary) {
  Counts c = count(findings);
  return {{"files", summary.files},
          {"objects", summary.objects},
          {"skippedDocuments", summary.documents_skipped},
          {"podsChecked", summary.pods_checked},
          {"podTemplates", summary.pod_templates},
          {"errors", c.errors},
          {"warnings", c.warnings},
          {"info", c.infos},
          {"suppressed", c.suppressed},
          {"total", findings.size()}};
}

// Writes text, indenting every line after the first.
void write_indented(std::ostream& out, const std::string& text, const std::string& indent) {
  std::size_t pos = 0;
  while (true) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      out.write(text.data() + pos, static_cast<std::streamsize>(text.size() - pos));
      return;
    }
    out.write(text.data() + pos, static_cast<std::streamsize>(nl + 1 - pos));
    out << indent;
    pos = nl + 1;
  }
}

// The same, appended to a string.
void indented_to(std::string& out, const std::string& text, const std::string& indent) {
  std::size_t pos = 0;
  while (true) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      out.append(text, pos);
      return;
    }
    out.append(text, pos, nl + 1 - pos);
    out += indent;
    pos = nl + 1;
  }
}

// Writes `items` as a JSON array member without building one big document:
// peak memory stays at a few blocks of items' JSON, not the whole report's.
// `write(text, item, indent)` appends one element whose later lines start
// with `indent`; blocks of elements are rendered on `threads` workers
// (in_blocks) and written in order.
template <class Findings, class Write>
void stream_array(std::ostream& out, const Findings& items, const std::string& indent, unsigned threads,
                  const Write& write) {
  if (items.empty()) {
    out << "[]";
    return;
  }
  out << "[\n";
  const std::string inner = indent + "  ";
  const std::size_t n = items.size();
  in_blocks<std::string>(
      n, threads,
      [&](std::string& text, std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
          text += inner;
          write(text, items[i], inner);
          text += i + 1 < n ? ",\n" : "\n";
        }
      },
      [&](const std::string& text) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
  out << indent << "]";
}

const char* sarif_level(Severity s) {
  switch (s) {
    case Severity::error:
      return "error";
    case Severity::warning:
      return "warning";
    case Severity::info:
      return "note";
  }
  return "error";
}

// GitHub code scanning ranks alerts by `security-severity` (a CVSS-like score
// as a string: 9.0 and over critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9
// low), read only for rules tagged "security".
const char* security_severity(Severity s) {
  switch (s) {
    case Severity::error:
      return "8.0";
    case Severity::warning:
      return "5.0";
    case Severity::info:
      return "2.0";
  }
  return "8.0";
}

json sarif_tags(const Rule& r) {
  json tags = json::array({"security", "kubernetes"});
  if (r.scope == RuleScope::pod) tags.push_back("pod-security");
  if (r.scope == RuleScope::network) tags.push_back("network-policy");
  if (r.scope == RuleScope::manifest) tags.push_back("manifest");
  for (const auto& ref : r.references)
    if (ref.title.starts_with("CVE-")) tags.push_back(ref.title);
  return tags;
}

// A relative path as a SARIF URI (RFC 3986: percent-encode what is not
// unreserved or a path separator).
std::string to_uri(const std::string& path) {
  if (path == "<stdin>" || path == "-") return "stdin";
  std::string out;
  std::string p = path.rfind("./", 0) == 0 ? path.substr(2) : path;
  for (unsigned char c : p) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// A JSON string as nlohmann's dump() writes it; text that is not UTF-8 goes
// through dump() itself, which refuses it exactly as before.
void json_string_to(std::string& out, std::string_view s) {
  const std::size_t start = out.size();
  if (append_json_string(out, s)) return;
  out.resize(start);
  out += json(std::string(s)).dump();
}

// `indent"key": "value"` and what follows it: one member of a finding whose
// value is a JSON string (`key` is written with its quotes and colon).
void string_member(std::string& b, const std::string& indent, std::string_view key, std::string_view value,
                   std::string_view after = ",\n") {
  b += indent;
  b += key;
  json_string_to(b, value);
  b += after;
}

// A rule's "references" value as write_finding_json writes it at this indent
// (the same for every finding of the rule: rendered once per thread).
const std::string& references_json(const Rule* rule, const std::string& indent) {
  using namespace std::string_view_literals;
  thread_local std::string cached_indent;
  thread_local std::unordered_map<const Rule*, std::string> cache;
  if (cached_indent != indent) {
    cache.clear();
    cached_indent = indent;
  }
  auto [it, fresh] = cache.try_emplace(rule);
  if (!fresh) return it->second;
  std::string& b = it->second;
  if (!rule || rule->references.empty()) {
    b += "[]"sv;
    return b;
  }
  const std::string i2 = indent + "    ", i3 = indent + "      ";
  b += "[\n"sv;
  for (std::size_t k = 0; k < rule->references.size(); ++k) {
    const auto& ref = rule->references[k];
    b += i2;
    b += "{\n"sv;
    string_member(b, i3, "\"title\": "sv, ref.title);
    string_member(b, i3, "\"url\": "sv, ref.url, "\n"sv);
    b += i2;
    b += k + 1 < rule->references.size() ? "},\n"sv : "}\n"sv;
  }
  b += indent;
  b += "  ]"sv;
  return b;
}

// One finding exactly as to_json(f).dump(2) followed by write_indented would
// write it (keys in nlohmann's sorted order), without building the json: the
// report of 230k findings spent a fifth of the run there. Built in a string
// and written with its block (a stream insertion per field cost more than the
// rest of the report); literals are appended with their length known.
void write_finding_json(std::string& b, const Finding& f, const std::string& indent) {
  using namespace std::string_view_literals;
  const std::string i1 = indent + "  ", i2 = indent + "    ";
  b += "{\n"sv;
  b += i1;
  b += "\"container\": "sv;
  if (f.container)
    json_string_to(b, *f.container);
  else
    b += "null"sv;
  b += ",\n"sv;
  string_member(b, i1, "\"field\": "sv, f.field);
  string_member(b, i1, "\"file\": "sv, f.file);
  b += i1;
  b += "\"line\": "sv;
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, f.line);
  (void)ec;  // an int always fits
  b.append(digits, end);
  b += ",\n"sv;
  string_member(b, i1, "\"message\": "sv, f.message);
  b += i1;
  b += "\"object\": {\n"sv;
  string_member(b, i2, "\"apiVersion\": "sv, f.object.apiVersion);
  string_member(b, i2, "\"kind\": "sv, f.object.kind);
  string_member(b, i2, "\"name\": "sv, f.object.name);
  string_member(b, i2, "\"namespace\": "sv, f.object.ns, "\n"sv);
  b += i1;
  b += "},\n"sv;
  b += i1;
  b += "\"references\": "sv;
  b += references_json(find_rule(f.rule), indent);
  b += ",\n"sv;
  string_member(b, i1, "\"remediation\": "sv, f.remediation);
  string_member(b, i1, "\"rule\": "sv, f.rule);
  b += i1;
  b += "\"severity\": \""sv;
  b += to_string(f.severity);
  b += "\",\n"sv;
  b += i1;
  b += "\"suppressed\": "sv;
  b += f.suppressed ? "true"sv : "false"sv;
  b += "\n"sv;
  b += indent;
  b += "}"sv;
}

template <class Findings>
void write_sarif(std::ostream& out, const Findings& findings, const ReportOptions& opts) {
  json rules = json::array();
  std::map<std::string_view, std::size_t> rule_index;
  for (const auto& r : all_rules()) {
    rule_index[r.id] = rules.size();
    json rule = {{"id", r.id},
                 {"name", r.id},
                 {"shortDescription", {{"text", r.description}}},
                 {"fullDescription", {{"text", r.description}}},
                 {"help", {{"text", r.remediation}}},
                 {"defaultConfiguration", {{"level", sarif_level(r.severity)}}},
                 {"properties", {{"tags", sarif_tags(r)}, {"security-severity", security_severity(r.severity)}}}};
    if (!r.references.empty()) rule["helpUri"] = r.references.front().url;
    rules.push_back(std::move(rule));
  }
  auto result_of = [&](const Finding& f) {
    std::string text = f.object.display() + ": " + f.message;
    if (f.container) text = f.object.display() + " (container " + *f.container + "): " + f.message;
    json r = {{"ruleId", f.rule},
              {"level", sarif_level(f.severity)},
              {"message", {{"text", text + "\nFix: " + f.remediation}}},
              {"locations", json::array({{{"physicalLocation",
                                           {{"artifactLocation", {{"uri", to_uri(f.file)}}},
                                            {"region", {{"startLine", f.line > 0 ? f.line : 1}}}}},
                                          {"logicalLocations", json::array({{{"name", f.object.name},
                                                                             {"fullyQualifiedName", f.object.display()},
                                                                             {"kind", "object"}}})}}})},
              {"partialFingerprints",
               {{"lokiFinding/v1", f.rule + "|" + f.object.kind + "|" + f.object.ns + "|" + f.object.name + "|" +
                                       f.container.value_or("") + "|" + f.field}}}};
    if (auto it = rule_index.find(f.rule); it != rule_index.end()) r["ruleIndex"] = it->second;
    if (f.suppressed)
      r["suppressions"] = json::array({{{"kind", "inSource"}, {"justification", f.suppression_reason}}});
    return r;
  };
  json doc = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
              {"version", "2.1.0"},
              {"runs", json::array({{{"tool",
                                      {{"driver",
                                        {{"name", opts.tool_name},
                                         {"informationUri", "https://github.com/loki-guard/loki-guard"},
                                         {"semanticVersion", LOKI_VERSION},
                                         {"version", LOKI_VERSION},
                                         {"rules", rules}}}}},
                                     {"columnKind", "utf16CodeUnits"},
                                     {"results", json::array()}}})}};
  // Everything but the results is small: dump it, then splice the streamed
  // results in place of the empty array.
  std::string head = doc.dump(2);
  const std::string marker = "\"results\": []";
  auto pos = head.rfind(marker);
  out << head.substr(0, pos) << "\"results\": ";
  stream_array(out, findings, "      ", opts.threads,
               [&](std::string& text, const Finding& f, const std::string& indent) {
                 indented_to(text, result_of(f).dump(2), indent);
               });
  out << head.substr(pos + marker.size()) << "\n";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
          out += ' ';
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

// A block of JUnit test cases: their text, and per finding where its name
// (not yet made unique, not escaped) lies.
struct JunitCases {
  std::string text;
  struct Case {
    std::size_t name_begin, name_end, end;
  };
  std::vector<Case> cases;
  void clear() {
    text.clear();
    cases.clear();
  }
};

template <class Findings>
void write_junit(std::ostream& out, const Findings& findings, const ReportSummary& summary, const ReportOptions& opts) {
  Counts c = count(findings);
  std::size_t failures = c.errors + c.warnings + c.infos;
  std::size_t tests = findings.empty() ? 1 : findings.size();
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"" << xml_escape(opts.tool_name) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"0\" skipped=\"" << c.suppressed << "\">\n";
  out << "  <testsuite name=\"" << xml_escape(opts.tool_name) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"0\" skipped=\"" << c.suppressed << "\">\n";
  out << "    <properties><property name=\"objects\" value=\"" << summary.objects << "\"/></properties>\n";
  if (findings.empty())
    out << "    <testcase classname=\"" << xml_escape(opts.tool_name) << "\" name=\"" << summary.objects
        << " objects: no findings\"/>\n";
  // A test case's name must be unique: "#2", "#3" are added in order, by the
  // writer; the rest of each test case is rendered on the workers. A block is
  // its text with, per finding, where its name (not yet escaped) lies.
  std::set<std::string> used;
  in_blocks<JunitCases>(
      findings.size(), opts.threads,
      [&](JunitCases& b, std::size_t begin, std::size_t end) {
        b.cases.reserve(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
          const Finding& f = findings[i];  // a reference, or a FindingStore copy kept alive
          std::string& t = b.text;
          t += "    <testcase classname=\"";
          t += xml_escape(f.object.display());
          t += "\" name=\"";
          JunitCases::Case c{t.size(), 0, 0};
          t += f.rule;
          if (f.container) t += " [" + *f.container + "]";
          t += " " + f.file + ":" + std::to_string(f.line);
          c.name_end = t.size();
          t += "\" file=\"" + xml_escape(f.file) + "\" line=\"" + std::to_string(f.line) + "\">\n";
          if (f.suppressed) {
            t += "      <skipped message=\"" + xml_escape("suppressed: " + f.suppression_reason) + "\"/>\n";
          } else {
            t += "      <failure type=\"" + xml_escape(f.rule) + "\" message=\"" + xml_escape(f.message) + "\">" +
                 xml_escape(std::string(to_string(f.severity)) + ": " + f.message + "\nfile: " + f.file + ":" +
                            std::to_string(f.line) + "\nfix: " + f.remediation + docs_suffix(f.rule)) +
                 "</failure>\n";
          }
          t += "    </testcase>\n";
          c.end = t.size();
          b.cases.push_back(c);
        }
      },
      [&](const JunitCases& b) {
        std::size_t at = 0;
        for (const auto& c : b.cases) {
          out.write(b.text.data() + at, static_cast<std::streamsize>(c.name_begin - at));
          const std::string name = b.text.substr(c.name_begin, c.name_end - c.name_begin);
          std::string unique = name;
          for (int n = 2; !used.insert(unique).second; ++n) unique = name + " #" + std::to_string(n);
          out << xml_escape(unique);
          out.write(b.text.data() + c.name_end, static_cast<std::streamsize>(c.end - c.name_end));
          at = c.end;
        }
      });
  out << "  </testsuite>\n</testsuites>\n";
}

template <class Findings>
void write_passed_json(std::ostream& out, const std::vector<PassedChecks>& passed) {
  json arr = json::array();
  for (const auto& p : passed) arr.push_back({{"object", to_json(p.object)}, {"rules", p.rules}});
  write_indented(out, arr.dump(2), "  ");
}

}  // namespace

bool is_live_location(const Finding& f) {
  return f.line == 0 && (f.file.starts_with("/api/") || f.file.starts_with("/apis/"));
}

std::string kubectl_name(const ObjectRef& r) {
  std::string kind = r.kind.empty() ? std::string("object") : r.kind;
  for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string s = kind + "/" + (r.name.empty() ? std::string("<unnamed>") : r.name);
  if (!r.ns.empty()) s += " -n " + r.ns;
  return s;
}

namespace {
template <class Findings>
void write_any(std::ostream& out, Format format, const Findings& findings, const ReportSummary& summary,
               const ReportOptions& opts) {
  switch (format) {
    case Format::text:
      write_text(out, findings, summary, opts);
      break;
    case Format::json: {
      out << "{\n  \"findings\": ";
      stream_array(out, findings, "  ", opts.threads, write_finding_json);
      if (opts.passed) {
        out << ",\n  \"passed\": ";
        write_passed_json<Findings>(out, *opts.passed);
      }
      std::string sum = summary_json(findings, summary).dump(2);
      out << ",\n  \"summary\": ";
      write_indented(out, sum, "  ");
      out << "\n}\n";
      break;
    }
    case Format::sarif:
      write_sarif(out, findings, opts);
      break;
    case Format::junit:
      write_junit(out, findings, summary, opts);
      break;
  }
}

}  // namespace

void write_report(std::ostream& out, Format format, const std::vector<Finding>& findings, const ReportSummary& summary,
                  const ReportOptions& opts) {
  write_any(out, format, findings, summary, opts);
}

void write_report(std::ostream& out, Format format, const FindingStore& findings, const ReportSummary& summary,
                  const ReportOptions& opts) {
  write_any(out, format, findings, summary, opts);
}

}  // namespace loki
