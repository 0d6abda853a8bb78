#include <loki/json_access.hpp>
#include <loki/manifest.hpp>
#include <loki/netpol.hpp>
#include <loki/workload_kinds.hpp>

#include <boost/container/small_vector.hpp>

#include "yaml_json.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <forward_list>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace loki {

namespace fs = std::filesystem;
using nlohmann::json;

LineIndex::Node LineIndex::push(Node parent, std::size_t start, int line) {
  const auto length = static_cast<std::uint32_t>(tokens_.size() - start);
  // The whole pointer's length, unescaped: compared before any token.
  const std::uint32_t total = entries_[parent].total + 1 + length;
  entries_.push_back({parent, static_cast<std::uint32_t>(start), length, total, line});
  return static_cast<Node>(entries_.size() - 1);
}

LineIndex::LineIndex() {
  // Most documents are under a hundred keys: room for them, in two allocations.
  entries_.reserve(96);
  tokens_.reserve(768);
  entries_.push_back({kRoot, 0, 0, 0, -1});
}

// Keys are kept as written and escaped (RFC 6901) only when a pointer is
// made of them: nearly every key is found by no pointer at all.
LineIndex::Node LineIndex::add(Node parent, std::string_view key, int line) {
  const std::size_t start = tokens_.size();
  tokens_ += key;
  return push(parent, start, line);
}

LineIndex::Node LineIndex::add(Node parent, std::size_t index, int line) {
  const std::size_t start = tokens_.size();
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, index);
  (void)ec;  // a size_t always fits
  tokens_.append(digits, end);
  return push(parent, start, line);
}

LineIndex::Node LineIndex::add_unlined(Node parent, std::string_view key) {
  const std::size_t start = tokens_.size();
  tokens_ += key;
  return push(parent, start, -1);
}

namespace {
// Below this many entries a scan is cheaper than sorting (most documents).
constexpr std::size_t kLinearLineIndex = 256;
}  // namespace

std::vector<LineIndex::Sorted> LineIndex::pointers(std::string& text) const {
  // Parents come before their children, so each pointer is its parent's plus a token.
  std::vector<Sorted> whole(entries_.size());
  std::vector<Sorted> out;
  text.clear();
  for (std::size_t i = 1; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const std::size_t start = text.size();
    if (e.parent != kRoot) text.append(text, whole[e.parent].offset, whole[e.parent].length);
    detail::append_pointer_token(text, token(e));
    whole[i] = {static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(text.size() - start), e.line};
    if (e.line >= 0) out.push_back(whole[i]);
  }
  return out;
}

void LineIndex::seal() {
  if (!sorted_.empty() || entries_.size() <= kLinearLineIndex) return;
  sorted_ = pointers(text_);
  std::stable_sort(sorted_.begin(), sorted_.end(),
                   [&](const Sorted& a, const Sorted& b) { return pointer(a) < pointer(b); });
  // Keep the last of equal pointers, as an overwrite would.
  std::size_t out = 0;
  for (std::size_t i = 0; i < sorted_.size(); ++i) {
    if (i + 1 < sorted_.size() && pointer(sorted_[i]) == pointer(sorted_[i + 1])) continue;
    sorted_[out++] = sorted_[i];
  }
  sorted_.resize(out);
  // find() reads only the pointers now.
  entries_ = {Entry{kRoot, 0, 0, 0, -1}};
  entries_.shrink_to_fit();
  std::string{}.swap(tokens_);
}

std::size_t LineIndex::size() const {
  if (!sorted_.empty()) return sorted_.size();
  std::string text;
  std::vector<Sorted> all = pointers(text);
  std::vector<std::string_view> keys;
  keys.reserve(all.size());
  for (const auto& e : all) keys.push_back(std::string_view(text).substr(e.offset, e.length));
  std::sort(keys.begin(), keys.end());
  return static_cast<std::size_t>(std::unique(keys.begin(), keys.end()) - keys.begin());
}

int LineIndex::find(std::string_view pointer) const {
  if (!sorted_.empty()) {
    std::string_view p = pointer;
    while (true) {
      auto it = std::lower_bound(sorted_.begin(), sorted_.end(), p,
                                 [&](const Sorted& e, std::string_view q) { return this->pointer(e) < q; });
      if (it != sorted_.end() && this->pointer(*it) == p) return it->line;
      auto slash = p.rfind('/');
      if (slash == std::string_view::npos || p.empty()) return 0;
      p = p.substr(0, slash);
    }
  }
  // The pointer's tokens, unescaped (RFC 6901, section 4: "~1" is '/', "~0" is '~').
  // (On the stack for any real pointer: a lookup is a few hundred instructions.)
  boost::container::small_vector<std::string_view, 24> segments;
  std::forward_list<std::string> unescaped;  // owners of the segments that had escapes
  if (pointer.empty() || pointer[0] != '/') return 0;
  for (std::size_t at = 1;;) {
    const std::size_t slash = pointer.find('/', at);
    std::string_view seg = pointer.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    if (seg.find('~') != std::string_view::npos) {
      std::string u;
      for (std::size_t i = 0; i < seg.size(); ++i) {
        if (seg[i] == '~' && i + 1 < seg.size() && (seg[i + 1] == '0' || seg[i + 1] == '1'))
          u += seg[++i] == '1' ? '/' : '~';
        else
          u += seg[i];
      }
      unescaped.push_front(std::move(u));
      seg = unescaped.front();
    }
    segments.push_back(seg);
    if (slash == std::string_view::npos) break;
    at = slash + 1;
  }
  // The pointer, else its closest ancestor that has a line; the last entry
  // for a pointer wins (a duplicate key). Most lookups hit the pointer itself.
  // Unescaped length of the first `count` segments as a pointer.
  boost::container::small_vector<std::uint32_t, 25> totals(segments.size() + 1, 0);
  for (std::size_t k = 0; k < segments.size(); ++k)
    totals[k + 1] = totals[k] + 1 + static_cast<std::uint32_t>(segments[k].size());
  auto matches = [&](const Entry& e, std::size_t count) {
    if (e.total != totals[count]) return false;
    const Entry* at = &e;
    for (std::size_t k = count; k-- > 0;) {
      if (token(*at) != segments[k]) return false;
      if (at->parent == kRoot) return k == 0;
      at = &entries_[at->parent];
    }
    return false;
  };
  for (std::size_t count = segments.size(); count > 0; --count)
    for (std::size_t i = entries_.size(); i-- > 1;) {
      const Entry& e = entries_[i];
      if (e.line >= 0 && matches(e, count)) return e.line;
    }
  return 0;
}

int Object::line_of(std::string_view pointer) const {
  if (!lines) return line;
  int l = pointer_prefix.empty() ? lines->find(pointer) : lines->find(pointer_prefix + std::string(pointer));
  return l > 0 ? l - line_base : line;
}

ObjectRef Object::ref(const std::string& default_namespace) const {
  ObjectRef r;
  if (!json.is_object()) return r;
  r.apiVersion = string_field(json, "apiVersion");
  r.kind = string_field(json, "kind");
  auto md = json.find("metadata");
  if (md != json.end() && md->is_object()) {
    r.name = string_field(*md, "name");
    if (r.name.empty()) {
      std::string gen = string_field(*md, "generateName");
      if (!gen.empty()) r.name = gen + "*";
    }
    r.ns = string_field(*md, "namespace");
  }
  if (r.ns.empty()) r.ns = default_namespace;
  return r;
}

namespace {

struct Chunk {
  std::string_view text;
  int line_offset;  // 0-based line of the chunk's first line in its file
};

bool is_marker_line(std::string_view text, std::size_t pos, char ch) {
  if (text.size() < pos + 3) return false;
  if (text[pos] != ch || text[pos + 1] != ch || text[pos + 2] != ch) return false;
  if (pos + 3 == text.size()) return true;
  char n = text[pos + 3];
  return n == ' ' || n == '\t' || n == '\n' || n == '\r';
}

// Splits a YAML stream at "---" lines. A "---" at column 0 always starts a
// document in YAML (block scalars are indented), so this is exact and lets
// documents parse independently: in parallel, and one broken document does
// not hide the rest.
// Granule of InputText releases: a few hundred madvise calls per 100 MB.
constexpr std::size_t kReleaseBytes = std::size_t{256} * 1024;

// `done`, when set, is given the text scanned so far in kReleaseBytes steps:
// a mapped file's pages need not all be resident at once just to be split.
// Calls at(offset, newlines_before) for every newline in [from, to) that a
// '-' follows, and returns the newlines in [from, to). Sixteen bytes at a
// time where SSE2 is there: a memchr per line took 0.06 s of 100 MB, on one
// thread before any document could be parsed.
// Set bits of a 16-bit mask. __builtin_popcount is a call into libgcc on
// the x86-64 baseline (no POPCNT instruction): 0.3 % of a CRD-heavy lint.
constexpr unsigned popcount16(unsigned x) {
  x = x - ((x >> 1) & 0x5555u);
  x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
  x = (x + (x >> 4)) & 0x0F0Fu;
  return (x + (x >> 8)) & 0x1Fu;
}
static_assert(popcount16(0) == 0 && popcount16(0xFFFFu) == 16 && popcount16(0x8001u) == 2 &&
              popcount16(0x7FFEu) == 14 && popcount16(0x0F0Fu) == 8);

template <class OnCandidate>
std::size_t scan_lines(std::string_view text, std::size_t from, std::size_t to, const OnCandidate& at) {
  std::size_t lines = 0;
  std::size_t i = from;
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i dash = _mm_set1_epi8('-');
  for (; i + 17 <= to && i + 17 <= text.size(); i += 16) {
    const auto* p = reinterpret_cast<const __m128i*>(text.data() + i);
    auto nl = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p), newline)));
    if (!nl) continue;
    const auto next = reinterpret_cast<const __m128i*>(text.data() + i + 1);
    unsigned cand = nl & static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(next), dash)));
    while (cand) {
      const int bit = __builtin_ctz(cand);
      at(i + static_cast<std::size_t>(bit), lines + static_cast<std::size_t>(popcount16(nl & ((2u << bit) - 1))));
      cand &= cand - 1;
    }
    lines += static_cast<std::size_t>(popcount16(nl));
  }
#endif
  for (; i < to; ++i)
    if (text[i] == '\n') {
      ++lines;
      if (i + 1 < text.size() && text[i + 1] == '-') at(i, lines);
    }
  return lines;
}

std::vector<Chunk> split_documents(std::string_view text, const std::function<void(std::string_view)>& done = nullptr) {
  std::vector<Chunk> chunks;
  std::size_t start = 0;
  int start_line = 0;
  std::size_t line = 0;  // newlines before the window
  for (std::size_t window = 0; window < text.size(); window += kReleaseBytes) {
    const std::size_t window_end = std::min(text.size(), window + kReleaseBytes);
    line += scan_lines(text, window, window_end, [&](std::size_t newline, std::size_t lines_through) {
      const std::size_t pos = newline + 1;
      if (pos == start || !is_marker_line(text, pos, '-')) return;
      chunks.push_back({text.substr(start, pos - start), start_line});
      start = pos;
      start_line = static_cast<int>(line + lines_through);
    });
    if (done) done(text.substr(window, window_end - window));
  }
  if (start < text.size()) chunks.push_back({text.substr(start), start_line});
  return chunks;
}

// Helm writes "# Source: chart/templates/x.yaml" before each rendered document.
std::pair<std::string, int> helm_source(std::string_view chunk) {
  std::size_t pos = 0;
  int line = 0;
  while (pos < chunk.size()) {
    auto nl = chunk.find('\n', pos);
    std::string_view l = chunk.substr(pos, nl == std::string_view::npos ? chunk.size() - pos : nl - pos);
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
    if (l.rfind("# Source: ", 0) == 0) return {std::string(l.substr(10)), line};
    bool skippable = l.empty() || l[0] == '#' || is_marker_line(l, 0, '-');
    if (!skippable) break;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    ++line;
  }
  return {"", -1};
}

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::null:
      return "empty";
    default:
      return "a mapping";
  }
}

// The type metadata that makes a mapping a Kubernetes document (as kube-linter and kubectl decide).
bool has_type_meta(const json& v) {
  return v.is_object() && (v.contains("apiVersion") || v.contains("kind"));
}

// For a document that is not a mapping or does not parse, the text is the only
// clue: one that never names apiVersion or kind is some other YAML or JSON
// (a JSON-with-comments tsconfig.json, say), not a broken manifest.
bool mentions_type_meta(std::string_view text) {
  return text.find("apiVersion") != std::string_view::npos || text.find("kind") != std::string_view::npos;
}

// Configuration files of Kubernetes tools written in the object style but read
// by the tool, never sent to the API server (so they have no metadata.name):
// kubeconfig, kustomization.yaml, component configs (*.config.k8s.io:
// KubeletConfiguration, EncryptionConfiguration, ...), kubeadm, kind, skaffold
// and audit policies. Returns what the file is, or "" for an API object.
std::string tool_config(const json& v) {
  auto av = v.find("apiVersion");
  auto kind = v.find("kind");
  if (av == v.end() || kind == v.end() || !av->is_string() || !kind->is_string()) return "";
  const auto& a = av->get_ref<const std::string&>();
  const auto& k = kind->get_ref<const std::string&>();
  if (a == "v1" && k == "Config") return "a kubeconfig";
  auto slash = a.find('/');
  if (slash == std::string::npos) return "";
  std::string_view group = std::string_view(a).substr(0, slash);
  if (group == "kustomize.config.k8s.io") return "a kustomize file";
  if (group.ends_with(".config.k8s.io") || group == "kubeadm.k8s.io" || group == "audit.k8s.io")
    return "a Kubernetes component configuration file";
  if (group == "kind.x-k8s.io") return "a kind cluster configuration";
  if (group == "skaffold") return "a Skaffold configuration";
  return "";
}

DocumentResult to_objects(detail::ParsedDocument&& doc, const std::string& file, const std::string& origin,
                          int origin_line_base, bool text_mentions_type_meta) {
  DocumentResult r;
  if (doc.value.is_null()) return r;  // an empty document (only comments): kubectl skips it too
  auto skip = [&](std::string reason) {
    r.skipped.push_back({file, doc.first_line - origin_line_base, std::move(reason)});
    return r;
  };
  std::shared_ptr<const LineIndex> lines = std::move(doc.lines);
  auto make = [&](json&& v, std::string prefix, int first_line) {
    Object o;
    o.json = std::move(v);
    o.file = file;
    o.origin = origin;
    o.line_base = origin_line_base;
    o.line = first_line - origin_line_base;  // relative to a Helm "# Source:" when present
    o.pointer_prefix = std::move(prefix);
    o.lines = lines;
    return o;
  };
  if (!doc.value.is_object()) {
    // A list of objects is a mistake worth reporting (kind: List, or ---, was
    // meant); a list of anything else (an Ansible playbook, a JSON array) and a
    // scalar that names neither key are other files.
    bool meant_as_objects = doc.value.is_array() ? std::any_of(doc.value.begin(), doc.value.end(),
                                                               [](const json& i) { return has_type_meta(i); })
                                                 : text_mentions_type_meta;
    if (!meant_as_objects) return skip("not a Kubernetes object (" + type_name(doc.value) + ")");
    LoadError e;
    e.file = file;
    e.line = doc.first_line - origin_line_base;
    e.message =
        "document is " + type_name(doc.value) + ", not a Kubernetes object (a mapping with apiVersion and kind)";
    r.errors.push_back(std::move(e));
    return r;
  }
  if (!has_type_meta(doc.value)) return skip("not a Kubernetes object (no apiVersion or kind)");
  if (std::string what = tool_config(doc.value); !what.empty())
    return skip(what + " (" + doc.value["kind"].get<std::string>() + ", " + doc.value["apiVersion"].get<std::string>() +
                "), not an API object");
  auto kind = doc.value.find("kind");
  auto items = doc.value.find("items");
  bool is_list = kind != doc.value.end() && kind->is_string() && items != doc.value.end() &&
                 kind->get_ref<const std::string&>().size() >= 4 &&
                 kind->get_ref<const std::string&>().ends_with("List");
  if (!is_list) {
    r.objects.push_back(make(std::move(doc.value), "", doc.first_line));
    return r;
  }
  if (!items->is_array()) {
    LoadError e;
    e.file = file;
    e.line = lines->find("/items") - origin_line_base;
    e.object.kind = kind->get<std::string>();
    e.field = "/items";
    e.message = "field items: expected a list of objects, got " + type_name(*items);
    r.errors.push_back(std::move(e));
    return r;
  }
  json list_items = std::move(*items);
  for (std::size_t i = 0; i < list_items.size(); ++i) {
    std::string prefix = "/items/" + std::to_string(i);
    int ln = lines->find(prefix);
    if (!list_items[i].is_object()) {
      LoadError e;
      e.file = file;
      e.line = ln - origin_line_base;
      e.field = prefix;
      e.message = "field items[" + std::to_string(i) + "]: expected an object, got " + type_name(list_items[i]);
      r.errors.push_back(std::move(e));
      continue;
    }
    r.objects.push_back(make(std::move(list_items[i]), prefix, ln));
  }
  return r;
}

// Best effort for a document that does not parse: top-level `kind:` and
// `apiVersion:`, and `name:` / `namespace:` of `metadata:`, read line by line
// (block style at the first key's indentation, or flow style on the
// `metadata:` line itself, closed or not: `metadata: {name: a, namespace: b`).
ObjectRef guess_identity(std::string_view text) {
  ObjectRef r;
  bool in_metadata = false;
  std::size_t indent = 0;  // of metadata's keys; 0 until its first key
  std::size_t pos = 0;
  auto value = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '"' || v.front() == '\'')) v.remove_prefix(1);
    while (!v.empty() &&
           (v.back() == ' ' || v.back() == '"' || v.back() == '\'' || v.back() == '\r' || v.back() == '}'))
      v.remove_suffix(1);
    return std::string(v);
  };
  // One `key: value` of metadata (leading spaces already removed).
  auto metadata_field = [&](std::string_view kv) {
    std::string* field = kv.starts_with("name:") ? &r.name : kv.starts_with("namespace:") ? &r.ns : nullptr;
    if (field && field->empty()) *field = value(kv.substr(kv.find(':') + 1));
  };
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (l.starts_with("kind:")) {
      r.kind = value(l.substr(5));
    } else if (l.starts_with("apiVersion:")) {
      r.apiVersion = value(l.substr(11));
    } else if (l.starts_with("metadata:")) {
      in_metadata = true;
      indent = 0;
      std::string_view rest = l.substr(9);
      rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
      if (rest.starts_with("{")) {
        in_metadata = false;
        rest.remove_prefix(1);
        rest = rest.substr(0, rest.find('}'));
        for (std::size_t at = 0; at <= rest.size();) {
          std::size_t comma = std::min(rest.find(',', at), rest.size());
          std::string_view kv = rest.substr(at, comma - at);
          kv.remove_prefix(std::min(kv.find_first_not_of(' '), kv.size()));
          metadata_field(kv);
          at = comma + 1;
        }
      }
    } else if (!l.empty() && l[0] != ' ' && l[0] != '#') {
      in_metadata = false;
    } else if (in_metadata) {
      const std::size_t lead = std::min(l.find_first_not_of(' '), l.size());
      if (lead < l.size() && l[lead] != '#') {
        if (indent == 0) indent = lead;
        if (lead == indent) metadata_field(l.substr(lead));
      }
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return r;
}

// Kinds no check reads past apiVersion, kind, metadata and an inferred
// spec.template: not a workload (pod rules, the network inventory), not a
// policy or a Namespace (the network pass), not a List (its items may be
// anything). Validation reads only those fields of any other kind.
bool unread_kind(std::string_view kind) {
  if (find_workload_kind(kind) || netpol::is_policy_kind(kind) || kind == "Namespace") return false;
  return !kind.ends_with("List");
}

// The first line (1-based, in `text`) that holds a Go template action, `{{`
// then `}}`, outside a comment; 0 when none. A Helm chart's template is not
// YAML until rendered, and its syntax errors say nothing useful.
int template_marker_line(std::string_view text) {
  if (text.find("{{") == std::string_view::npos) return 0;
  int line = 1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    std::size_t first = l.find_first_not_of(" \t");
    if (first != std::string_view::npos && l[first] != '#') {
      std::size_t open = l.find("{{");
      if (open != std::string_view::npos && l.find("}}", open + 2) != std::string_view::npos) return line;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    ++line;
  }
  return 0;
}

}  // namespace

std::string helm_template_note(int line) {
  return "looks like an unrendered Helm template (`{{ ... }}` at line " + std::to_string(line) +
         "), which is not YAML until rendered: ";
}
const std::string_view helm_template_remediation =
    "render the chart and lint its output: `helm template RELEASE CHART | loki-audit lint -` (the \"# Source:\" "
    "comments name each template in the findings)";

namespace {

DocumentResult parse_chunk(const Chunk& chunk, const std::string& name, bool skip_unread) {
  DocumentResult result;
  auto [source, source_line] = helm_source(chunk.text);
  std::string file = source.empty() ? name : source;
  std::string origin = source.empty() ? std::string() : name;
  // Lines of a Helm template are counted from its "# Source:" comment, so they
  // match the template where it is not heavily templated.
  int base = source.empty() ? 0 : chunk.line_offset + source_line + 1;

  if (int bad = detail::first_binary_line(chunk.text)) {
    LoadError e;
    e.file = file;
    e.line = chunk.line_offset + bad - base;
    e.message = "not a text manifest: NUL byte or invalid UTF-8 at line " + std::to_string(e.line);
    result.errors.push_back(std::move(e));
    return result;
  }
  std::vector<detail::ParsedDocument> docs;
  std::vector<detail::YamlError> errors;
  detail::parse_yaml(chunk.text, chunk.line_offset, docs, errors, skip_unread ? unread_kind : nullptr);
  const bool mentions = mentions_type_meta(chunk.text);
  for (auto& d : docs) {
    DocumentResult r = to_objects(std::move(d), file, origin, base, mentions);
    for (auto& o : r.objects) result.objects.push_back(std::move(o));
    for (auto& e : r.errors) result.errors.push_back(std::move(e));
    for (auto& s : r.skipped) result.skipped.push_back(std::move(s));
  }
  // Errors about a document that is not a Kubernetes object are not ours to
  // report: a duplicate key in a skipped document, or a syntax error in a text
  // that names neither apiVersion nor kind (kubectl would not take it as a
  // manifest either; a YAML linter is the tool for those).
  const bool kubernetes = !result.objects.empty() || !result.errors.empty() || (result.skipped.empty() && mentions);
  if (!kubernetes) {
    if (!errors.empty() && result.skipped.empty())
      result.skipped.push_back({file, errors.front().line - base,
                                "not a Kubernetes object (not valid YAML, and names no apiVersion or kind)"});
    return result;
  }
  const int marker = template_marker_line(chunk.text);
  // A template can parse (`{{ .Values.x }}` as a value is a flow mapping):
  // its validation errors carry the same note.
  if (marker)
    for (auto& o : result.objects) o.template_line = chunk.line_offset + marker - base;
  for (auto& ye : errors) {
    LoadError e;
    e.file = file;
    e.line = ye.line - base;
    e.field = ye.field;
    e.message = ye.field.empty() ? "YAML syntax error: " + ye.message : ye.message;
    if (ye.column > 0) e.message += " (column " + std::to_string(ye.column) + ")";
    if (marker && ye.field.empty()) {
      // The {{ ... }} of a chart template, not a typo: say so, and how to lint it.
      e.message = helm_template_note(chunk.line_offset + marker - base) + e.message;
      e.remediation = std::string(helm_template_remediation);
    }
    // A syntax error discards the whole document: name the object if we can.
    e.object = result.objects.empty() ? guess_identity(chunk.text) : result.objects.front().ref();
    result.errors.push_back(std::move(e));
  }
  // A duplicate key is an error for kubectl; the object is still checked.
  return result;
}

}  // namespace

void for_each_document(std::string_view text, const std::string& name,
                       const std::function<void(std::size_t, DocumentResult&&)>& fn, const LoadOptions& opts) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    text.remove_prefix(3);  // UTF-8 byte order mark
  std::vector<Chunk> chunks = split_documents(text, opts.done);
  // Splitting touched every page of the text; let them go until each
  // document is parsed (a mapped file's pages come back from the page cache).
  if (opts.done) opts.done(text);
  unsigned threads = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, chunks.size()));
  // Documents finish nearly in order; the text before the first unfinished
  // one is handed to `done` as it grows. A document is usually smaller than
  // a page, so handing over each one alone released nothing: the whole input
  // stayed resident until the end.
  std::mutex done_mu;
  std::vector<bool> finished(opts.done ? chunks.size() : 0);
  std::size_t first_open = 0;
  std::size_t released = 0;  // text before this offset was handed over
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<std::uintptr_t>(text.data());
  auto finish = [&](std::size_t i) {
    std::lock_guard lk(done_mu);
    finished[i] = true;
    while (first_open < chunks.size() && finished[first_open]) ++first_open;
    std::size_t upto = first_open < chunks.size()
                           ? static_cast<std::size_t>(chunks[first_open].text.data() - text.data())
                           : text.size();
    // Whole pages only, so the page under `upto` is handed over next time.
    if (upto < text.size()) {
      const std::uintptr_t aligned = (base + upto) / page * page;
      upto = aligned > base ? aligned - base : 0;
    }
    if (upto > released && (upto - released >= kReleaseBytes || upto == text.size())) {
      opts.done(text.substr(released, upto - released));
      released = upto;
    }
  };
  auto visit = [&](std::size_t i) {
    fn(i, parse_chunk(chunks[i], name, opts.skip_unread));
    if (opts.done) finish(i);
  };
  if (threads <= 1) {
    for (std::size_t i = 0; i < chunks.size(); ++i) visit(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < chunks.size();) {
      try {
        visit(i);
      } catch (...) {
        std::lock_guard lk(failure_mu);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

std::vector<DocumentResult> parse_manifest_text(std::string_view text, const std::string& name,
                                                const LoadOptions& opts) {
  std::vector<DocumentResult> out;
  std::mutex mu;
  for_each_document(
      text, name,
      [&](std::size_t i, DocumentResult&& r) {
        std::lock_guard lk(mu);
        if (out.size() <= i) out.resize(i + 1);
        out[i] = std::move(r);
      },
      opts);
  return out;
}

namespace {

// The Helm chart a file belongs to: the nearest directory above it with a
// Chart.yaml (Chart.yaml, values.yaml, templates/, crds/, charts/...). Empty
// when there is none.
std::optional<fs::path> helm_chart_of(const std::string& file) {
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec).lexically_normal();
  if (ec) return std::nullopt;
  for (fs::path dir = abs.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_regular_file(dir / "Chart.yaml", ec)) return dir;
    if (dir == dir.root_path()) break;
  }
  return std::nullopt;
}

// How to name a directory in a note: relative to the working directory when it is below it.
std::string display_dir(const fs::path& abs) {
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) return abs.string();
  fs::path rel = abs.lexically_relative(cwd);
  if (rel.empty() || *rel.begin() == "..") return abs.string();
  return rel.string();
}

}  // namespace

InputFiles expand_inputs(const std::vector<std::string>& paths) {
  InputFiles in;
  std::vector<std::pair<fs::path, std::size_t>> chart_files;  // chart dir, files of it named (in order)
  auto is_manifest = [](const fs::path& p) {
    auto ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
  };
  for (const auto& p : paths) {
    if (p == "-") {
      in.files.push_back(p);
      continue;
    }
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) throw std::runtime_error(p + ": no such file or directory");
    if (!fs::is_directory(st)) {
      if (auto chart = helm_chart_of(p)) {
        auto it =
            std::find_if(chart_files.begin(), chart_files.end(), [&](const auto& c) { return c.first == *chart; });
        if (it == chart_files.end())
          chart_files.emplace_back(*chart, 1);
        else
          ++it->second;
        continue;
      }
      in.files.push_back(p);  // named explicitly: read whatever its extension
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) throw std::runtime_error(p + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw std::runtime_error(p + ": " + ec.message());
      const fs::path& entry = it->path();
      std::string base = entry.filename().string();
      if (it->is_directory()) {
        if (!base.empty() && base[0] == '.') {
          it.disable_recursion_pending();
        } else if (fs::exists(entry / "Chart.yaml")) {
          in.skipped.push_back(entry.string() + ": Helm chart skipped; lint its output with `helm template " +
                               entry.string() + " | loki-audit lint -`");
          it.disable_recursion_pending();
        }
        continue;
      }
      if (it->is_regular_file() && is_manifest(entry) && base[0] != '.') found.push_back(entry.string());
    }
    if (fs::exists(fs::path(p) / "Chart.yaml"))
      in.skipped.push_back(p + ": Helm chart skipped; lint its output with `helm template " + p +
                           " | loki-audit lint -`"),
          found.clear();
    std::sort(found.begin(), found.end());
    in.files.insert(in.files.end(), found.begin(), found.end());
  }
  for (const auto& [chart, count] : chart_files) {
    std::string dir = display_dir(chart);
    in.skipped.push_back(dir + ": Helm chart skipped (" + std::to_string(count) + (count == 1 ? " file" : " files") +
                         " of it named); lint its output with `helm template " + dir + " | loki-audit lint -`");
  }
  return in;
}

std::string read_input(const std::string& path) {
  if (path == "-") {
    std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw std::runtime_error("<stdin>: read error");
    return s;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": " + std::strerror(errno));
  std::string s;
  f.seekg(0, std::ios::end);
  auto size = f.tellg();
  if (size > 0) {
    s.resize(static_cast<std::size_t>(size));
    f.seekg(0);
    f.read(s.data(), size);
  }
  if (f.bad()) throw std::runtime_error(path + ": read error");
  return s;
}

InputText InputText::open(const std::string& path) {
  InputText in;
  if (path != "-") {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) {
        ::close(fd);
        ::madvise(m, static_cast<std::size_t>(st.st_size), MADV_SEQUENTIAL);
        in.map_ = m;
        in.map_size_ = static_cast<std::size_t>(st.st_size);
        in.view_ = std::string_view(static_cast<const char*>(m), in.map_size_);
        return in;
      }
    }
    ::close(fd);
  }
  in.owned_ = read_input(path);
  in.view_ = in.owned_;
  return in;
}

InputText::InputText(InputText&& o) noexcept
    : owned_(std::move(o.owned_)), map_(o.map_), map_size_(o.map_size_), view_(o.view_) {
  if (!map_) view_ = owned_;
  o.map_ = nullptr;
  o.map_size_ = 0;
  o.view_ = {};
}

InputText& InputText::operator=(InputText&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_size_);
    owned_ = std::move(o.owned_);
    map_ = o.map_;
    map_size_ = o.map_size_;
    view_ = map_ ? o.view_ : std::string_view(owned_);
    o.map_ = nullptr;
    o.map_size_ = 0;
    o.view_ = {};
  }
  return *this;
}

InputText::~InputText() {
  if (map_) ::munmap(map_, map_size_);
}

void InputText::release(std::string_view part) const {
  if (!map_ || part.empty()) return;
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<std::uintptr_t>(part.data());
  auto end = begin + part.size();
  begin = (begin + page - 1) / page * page;  // whole pages inside the part only: neighbours may still be parsing
  end = end / page * page;
  // NOLINTNEXTLINE(performance-no-int-to-ptr): madvise wants page-aligned addresses, computed as integers above.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

namespace detail {

namespace {
// The end of the run from `i` of bytes 0x01-0x7f (ASCII but NUL): nearly all
// of a manifest, so tested 16 bytes at a time where SSE2 is there.
std::size_t ascii_run_end(std::string_view s, std::size_t i) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= s.size()) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // Signed: 0x01-0x7f are the bytes above zero.
    const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpgt_epi8(v, zero)));
    if (ok != 0xFFFF) return i + static_cast<std::size_t>(__builtin_ctz(~ok));
    i += 16;
  }
#endif
  while (i < s.size() && static_cast<signed char>(s[i]) > 0) ++i;
  return i;
}
}  // namespace

int first_binary_line(std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  // Lines are counted only for the answer: the scan itself looks for NUL and
  // bytes >= 0x80 (whose UTF-8 sequences are then checked one by one).
  auto line_at = [&](std::size_t i) { return 1 + static_cast<int>(std::count(s.begin(), s.begin() + i, '\n')); };
  std::size_t i = 0;
  while ((i = ascii_run_end(s, i)) < s.size()) {
    const unsigned char c = u[i];
    if (c == 0) return line_at(i);
    const int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || c == 0xC0 || c == 0xC1 || c > 0xF4) return line_at(i);
    if (s.size() - i <= static_cast<std::size_t>(n)) return line_at(i);
    for (int k = 1; k <= n; ++k)
      if ((u[i + k] & 0xC0) != 0x80) return line_at(i);
    i += static_cast<std::size_t>(n) + 1;
  }
  return 0;
}

}  // namespace detail

}  // namespace loki
