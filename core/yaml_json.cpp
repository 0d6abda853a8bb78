#include "yaml_json.hpp"

#include <yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <streambuf>
#include <unordered_map>
#include <unordered_set>

namespace loki::detail {
namespace {

using nlohmann::json;

std::optional<json> parse_int(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;  // YAML 1.1 octal, as go-yaml v2 reads "0644"
    s.remove_prefix(1);
  }
  std::string digits;
  digits.reserve(s.size());
  for (char c : s)
    if (c != '_') digits.push_back(c);  // YAML 1.1 allows digit separators
  if (digits.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  if (neg) {
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) return std::nullopt;
    return json(static_cast<std::int64_t>(0 - v));
  }
  if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return json(static_cast<std::int64_t>(v));
  return json(v);
}

bool looks_like_float(std::string_view s) {
  // [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
    ++i;
    ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
      ++i;
      ++digits;
    }
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      ++exp;
    }
    if (exp == 0) return false;
  }
  return i == s.size();
}

}  // namespace

void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer.push_back('/');
  // Runs without '~' or '/' (nearly every key) are appended at once.
  std::size_t run = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if (c != '~' && c != '/') continue;
    pointer.append(token.data() + run, i - run);
    pointer += c == '~' ? "~0" : "~1";
    run = i + 1;
  }
  pointer.append(token.data() + run, token.size() - run);
}

namespace {

// The YAML 1.1 words with a meaning, as Kubernetes' YAML decoder (go-yaml v2)
// reads them: null, booleans, infinities and NaN. At most five letters, so a
// word is one 64-bit number and the table is searched without a string compare.
enum class Word : std::uint8_t { null, yes, no, inf, minus_inf, nan };

constexpr std::uint64_t pack_word(std::string_view w) {
  std::uint64_t k = w.size();
  for (std::size_t i = 0; i < w.size(); ++i) k |= std::uint64_t{static_cast<unsigned char>(w[i])} << (8 * (i + 1));
  return k;
}

struct WordEntry {
  std::uint64_t key;
  Word word;
};

constexpr WordEntry kWords[] = {
    {pack_word("~"), Word::null},
    {pack_word("null"), Word::null},
    {pack_word("Null"), Word::null},
    {pack_word("NULL"), Word::null},
    {pack_word("y"), Word::yes},
    {pack_word("Y"), Word::yes},
    {pack_word("yes"), Word::yes},
    {pack_word("Yes"), Word::yes},
    {pack_word("YES"), Word::yes},
    {pack_word("on"), Word::yes},
    {pack_word("On"), Word::yes},
    {pack_word("ON"), Word::yes},
    {pack_word("true"), Word::yes},
    {pack_word("True"), Word::yes},
    {pack_word("TRUE"), Word::yes},
    {pack_word("n"), Word::no},
    {pack_word("N"), Word::no},
    {pack_word("no"), Word::no},
    {pack_word("No"), Word::no},
    {pack_word("NO"), Word::no},
    {pack_word("off"), Word::no},
    {pack_word("Off"), Word::no},
    {pack_word("OFF"), Word::no},
    {pack_word("false"), Word::no},
    {pack_word("False"), Word::no},
    {pack_word("FALSE"), Word::no},
    {pack_word(".inf"), Word::inf},
    {pack_word(".Inf"), Word::inf},
    {pack_word(".INF"), Word::inf},
    {pack_word("+.inf"), Word::inf},
    {pack_word("+.Inf"), Word::inf},
    {pack_word("+.INF"), Word::inf},
    {pack_word("-.inf"), Word::minus_inf},
    {pack_word("-.Inf"), Word::minus_inf},
    {pack_word("-.INF"), Word::minus_inf},
    {pack_word(".nan"), Word::nan},
    {pack_word(".NaN"), Word::nan},
    {pack_word(".NAN"), Word::nan},
};

std::optional<json> special_word(const std::string& v) {
  // Numbers (most special-looking scalars: ports, replicas) start with a
  // digit, which no word does; the longest word is five letters.
  if (v.empty() || v.size() > 5 || (v[0] >= '0' && v[0] <= '9')) return std::nullopt;
  const std::uint64_t key = pack_word(v);
  for (const WordEntry& e : kWords) {
    if (e.key != key) continue;
    switch (e.word) {
      case Word::null:
        return json(nullptr);
      case Word::yes:
        return json(true);
      case Word::no:
        return json(false);
      case Word::inf:
        return json(std::numeric_limits<double>::infinity());
      case Word::minus_inf:
        return json(-std::numeric_limits<double>::infinity());
      case Word::nan:
        return json(std::numeric_limits<double>::quiet_NaN());
    }
  }
  return std::nullopt;
}

std::optional<json> number(const std::string& v) {
  const char c = v[0];
  if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
    if (auto i = parse_int(v)) return i;
  }
  if (!looks_like_float(v)) return std::nullopt;
  std::string clean;
  for (char ch : v)
    if (ch != '_') clean.push_back(ch);
  try {
    return json(std::stod(clean));
  } catch (...) {
    return std::nullopt;  // out of range: the text stays a string
  }
}

}  // namespace

namespace {
// First characters of the plain scalars that may resolve to something other
// than a string: most scalars start with none of these.
constexpr std::string_view maybe_special_start = "0123456789-+.~nNtTfFyYoO";

// Whether a plain scalar reads as the string it is (resolve_plain_scalar
// returns it unchanged), decided without copying it: a key that does is
// handed over as text. A scalar starting with a letter is special only as a
// word of the table ("true", "No", ...); numbers start with a digit, sign or
// dot. Keys such as `type`, `name` and `format` (every few lines of a CRD)
// took the copy-and-resolve path for their first letter alone.
bool plain_stays_string(std::string_view v) {
  if (v.empty()) return false;
  const char c = v[0];
  if (maybe_special_start.find(c) == std::string_view::npos) return true;
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (!letter) return false;
  if (v.size() > 5) return true;
  const std::uint64_t key = pack_word(v);
  return std::none_of(std::begin(kWords), std::end(kWords), [&](const WordEntry& e) { return e.key == key; });
}
}  // namespace

json resolve_plain_scalar(std::string v) {
  if (v.empty()) return json(nullptr);
  // Fast path: most scalars are plain words that start with none of these.
  // (The word sets above and the numbers are disjoint, so the order of the
  // two lookups below does not matter.)
  if (maybe_special_start.find(v[0]) == std::string_view::npos) return json(std::move(v));
  if (auto w = special_word(v)) return *w;
  if (auto n = number(v)) return *n;
  return json(std::move(v));
}

namespace {

std::string key_text(const json& k) {
  if (k.is_string()) return k.get<std::string>();
  if (k.is_null()) return "null";
  return k.dump();
}

}  // namespace

// go-yaml (v2.2.8 and later, v3; kubectl's YAML decoder) refuses a document
// whose aliases make up too much of it, which stops "billion laughs": a 1 KB
// file whose nine levels of aliases expand to 10^9 strings. decode.go:
// "allow 99% to come from alias expansion for small-to-medium documents",
// "allow 10% to come from alias expansion for very large documents", and
// "scale smoothly from 99% down to 10% over the range" of 400,000 to
// 4,000,000 decoded nodes; checked once more than 100 of more than 1,000
// nodes came from aliases.
double allowed_alias_ratio(std::uint64_t decoded) {
  constexpr double low = 400000, high = 4000000;
  const auto n = static_cast<double>(decoded);
  if (n <= low) return 0.99;
  if (n >= high) return 0.10;
  return 0.99 - 0.89 * ((n - low) / (high - low));
}

namespace {

// Builds nlohmann::json from YAML events, recording the line of every
// mapping key and sequence item under its JSON pointer.
// The keys of a mapping that is parsed but not built, to find a duplicate as
// the built mapping would: a short list scanned, then a hash set. (Scanning
// alone made a wide ConfigMap or Secret quadratic: 40,000 keys took 3 s.)
class KeySet {
 public:
  // False when the key was already there.
  bool insert(const std::string& key) {
    if (set_) return set_->insert(key).second;
    if (std::find(list_.begin(), list_.end(), key) != list_.end()) return false;
    list_.push_back(key);
    if (list_.size() > kScanned) {
      set_ = std::make_unique<std::unordered_set<std::string>>(std::make_move_iterator(list_.begin()),
                                                               std::make_move_iterator(list_.end()));
      list_.clear();
    }
    return true;
  }

 private:
  static constexpr std::size_t kScanned = 16;
  std::vector<std::string> list_;
  std::unique_ptr<std::unordered_set<std::string>> set_;  // every frame has one: made only when needed
};

class Builder {
 public:
  Builder(int line_offset, std::vector<ParsedDocument>& docs, std::vector<YamlError>& errors, UnreadKind unread)
      : offset_(line_offset), docs_(docs), errors_(errors), unread_(unread) {}

  void document_start(int line) {
    stack_.clear();
    kind_ = KindState::unknown;
    anchors_.clear();
    decoded_ = 1;  // the document node
    aliased_ = 0;
    refused_ = false;
    lines_ = std::make_shared<LineIndex>();
    first_line_ = line;
    root_ = json();
    have_root_ = false;
  }
  void document_end() {
    if (!have_root_) return;
    lines_->seal();
    docs_.push_back({std::move(root_), std::move(lines_), first_line_});
    lines_.reset();
  }
  void alias(int line, const std::string& anchor) {
    // An alias may name an anchor inside a subtree that was not built.
    if (kind_ == KindState::unread) restart_ = true;
    auto it = anchors_.find(anchor);
    count(1 + (it == anchors_.end() ? 0 : it->second.nodes), it == anchors_.end() ? 0 : it->second.nodes);
    if (refused_) return;  // not copied: the copies are what exhausts memory
    complete(it == anchors_.end() ? json(nullptr) : it->second.value, {}, line);
  }
  // True once the aliases expanded the document past what kubectl's YAML
  // decoder allows (allowed_alias_ratio): the caller stops there.
  bool refused() const { return refused_; }
  // The nodes the document holds so far with its aliases expanded, and of
  // those the ones that came from an alias.
  std::uint64_t decoded() const { return decoded_; }
  std::uint64_t aliased() const { return aliased_; }
  // The JSON pointer of the value being read (for an error).
  std::string where() const { return stack_path(); }
  void scalar(int line, json v, std::string anchor) {
    const std::uint64_t before = decoded_;
    count(1);
    complete(std::move(v), std::move(anchor), line, before);
  }
  bool expecting_key() const { return !stack_.empty() && stack_.back().is_map && !stack_.back().has_key; }
  // A mapping key that is a string as written (what complete() does with a
  // string scalar in key position, without a json value in between).
  void string_key(int ln, std::string_view k) {
    count(1);
    Frame& top = stack_.back();
    top.key.assign(k);
    top.key_is_merge = top.key == "<<";
    top.key_line = ln;
    top.has_key = true;
    if (top.skip) return;
    note_key(top, ln);
  }
  // True when the next scalar is a value inside a subtree that is not built:
  // the caller passes it to skipped_scalar() without resolving it.
  bool skipping_value() const {
    return !stack_.empty() && stack_.back().skip && !(stack_.back().is_map && !stack_.back().has_key);
  }
  void skipped_scalar(bool has_anchor) {
    count(1);
    if (has_anchor) restart_ = true;
    complete_skipped();
  }
  // The document used an anchor, alias, complex key or second kind where
  // fields were skipped: the caller parses it again with nothing skipped.
  bool restart() const { return restart_; }
  // Returns false when nesting is deeper than any real manifest (a parser
  // bomb); the caller reports it.
  bool start(int line, bool is_map, std::string anchor) {
    if (stack_.size() >= kMaxDepth) return false;
    push(is_map, std::move(anchor), line);
    count(1);
    return true;
  }
  void end() { pop(); }
  int line(std::size_t zero_based) const { return offset_ + static_cast<int>(zero_based) + 1; }

  static constexpr std::size_t kMaxDepth = 1000;

 private:
  enum class KindState { unknown, unread, read };

  struct Frame {
    json value;
    bool is_map = false;
    bool skip = false;                 // a subtree no check reads: parsed, not built
    std::size_t count = 0;             // items of a skipped sequence (for error paths)
    std::uint64_t decoded_before = 0;  // the document's node count before this frame
    KeySet keys;                       // keys of a skipped mapping (duplicate detection)
    bool has_key = false;
    bool as_key = false;  // a complex (non-scalar) mapping key being built
    bool key_is_merge = false;
    std::string key;
    int key_line = 0;
    LineIndex::Node node = LineIndex::kRoot;  // this mapping's or sequence's line index entry
    LineIndex::Node key_node = 0;             // the entry of the current key (a mapping)
    std::string anchor;
    int line = 0;
    std::vector<json> merges;  // "<<" merge values, applied at the end
  };

  // The line index entry of a new key of the top frame (a merge key "<<" has
  // no line: the keys it brings have theirs).
  void note_key(Frame& top, int ln) {
    if (top.as_key) return;
    top.key_node = top.key_is_merge ? lines_->add_unlined(top.node, top.key) : lines_->add(top.node, top.key, ln);
  }

  // The line index entry of a mapping or sequence that starts inside `parent`.
  LineIndex::Node child_node(Frame& parent, int item_line) {
    if (parent.is_map) return parent.key_node;
    return lines_->add(parent.node, parent.value.size(), item_line);
  }

  // Whether the value under the top frame's current key is one no check reads
  // in an object of an unread kind: any top-level field but apiVersion, kind,
  // metadata and spec, and any field of spec but template (where a pod
  // template of an unknown kind is inferred from).
  bool skippable_child() const {
    if (kind_ != KindState::unread) return false;
    const Frame& parent = stack_.back();
    if (!parent.is_map || !parent.has_key || parent.as_key) return false;
    const std::string& k = parent.key;
    if (stack_.size() == 1) return k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec";
    return stack_.size() == 2 && stack_[0].is_map && stack_[0].key == "spec" && k != "template";
  }

  void push(bool is_map, std::string anchor, int ln) {
    Frame f;
    f.is_map = is_map;
    f.line = ln;
    f.decoded_before = decoded_;
    if (stack_.empty()) first_line_ = ln;
    if (!stack_.empty()) {
      Frame& parent = stack_.back();
      if (parent.skip) {
        // A mapping or sequence as a key inside a skipped subtree: its text is
        // the key, so build it after all.
        if (parent.is_map && !parent.has_key) restart_ = true;
        f.skip = true;
      } else if (parent.as_key || (parent.is_map && !parent.has_key)) {
        f.as_key = true;
      } else if (skippable_child()) {
        f.skip = true;
      } else {
        f.node = child_node(parent, ln);
      }
    }
    if (f.skip) {
      if (!anchor.empty()) restart_ = true;
    } else {
      f.value = is_map ? json::object() : json::array();
      f.anchor = std::move(anchor);
    }
    stack_.push_back(std::move(f));
  }

  // The JSON pointer of the top frame's current key, from the stack (only
  // for errors: skipped frames keep no path).
  std::string stack_path() const {
    std::string p;
    for (const Frame& f : stack_) {
      if (f.is_map)
        append_pointer_token(p, f.key);
      else
        p += "/" + std::to_string(f.skip ? f.count : f.value.size());
    }
    return p;
  }

  void duplicate_key(const Frame& top, std::string p) {
    errors_.push_back({top.key_line, 0, "mapping key \"" + top.key + "\" already defined", std::move(p)});
  }

  // A value (scalar or subtree) completed inside a skipped subtree: only its
  // key is kept, to report duplicates as the built mapping would.
  void complete_skipped() {
    Frame& top = stack_.back();
    if (!top.is_map) {
      ++top.count;
      return;
    }
    top.has_key = false;
    if (top.key_is_merge) return;
    if (!top.keys.insert(top.key)) duplicate_key(top, stack_path());
  }

  void pop() {
    if (stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.skip) {
      // What the parent holds for a skipped subtree: a null placeholder, so a
      // duplicate of its key is still found.
      if (!stack_.empty() && stack_.back().skip)
        complete_skipped();
      else
        complete(json(), {}, f.line, f.decoded_before);
      return;
    }
    if (f.is_map && !f.merges.empty()) {
      // Explicit keys win over merged ones, whatever their order (YAML merge key).
      auto merge_one = [&](const json& src) {
        if (!src.is_object()) return;
        for (auto it = src.begin(); it != src.end(); ++it)
          if (!f.value.contains(it.key())) f.value[it.key()] = it.value();
      };
      for (auto& m : f.merges) {
        if (m.is_array())
          for (auto& e : m) merge_one(e);
        else
          merge_one(m);
      }
    }
    complete(std::move(f.value), std::move(f.anchor), f.line, f.decoded_before);
  }

  // `decoded_before`: the document's node count before v's first node (for
  // an anchor: what an alias of it adds is everything counted since).
  void complete(json v, std::string anchor, int ln, std::uint64_t decoded_before = 0) {
    if (!anchor.empty()) {
      if (kind_ == KindState::unread) restart_ = true;
      anchors_[std::move(anchor)] = {v, decoded_ - decoded_before};
    }
    if (stack_.empty()) {
      root_ = std::move(v);
      have_root_ = true;
      if (!root_.is_object() && !root_.is_array()) first_line_ = ln;
      return;
    }
    Frame& top = stack_.back();
    if (top.skip && !(top.is_map && !top.has_key)) {
      complete_skipped();
      return;
    }
    if (top.is_map) {
      if (!top.has_key) {
        top.key = key_text(v);
        top.key_is_merge = v.is_string() && top.key == "<<";
        top.key_line = ln;
        top.has_key = true;
        if (top.skip) return;
        note_key(top, ln);
        return;
      }
      top.has_key = false;
      if (top.key_is_merge) {
        top.merges.push_back(std::move(v));
        return;
      }
      if (stack_.size() == 1 && !top.as_key && top.key == "kind") note_kind(v);
      auto [it, inserted] = top.value.get_ref<json::object_t&>().insert_or_assign(top.key, std::move(v));
      (void)it;
      if (!inserted && !top.as_key) duplicate_key(top, stack_path());
    } else {
      if (!top.as_key && !(v.is_object() || v.is_array())) lines_->add(top.node, top.value.size(), ln);
      top.value.push_back(std::move(v));
    }
  }

  // The document's kind decides what is built of the fields after it.
  void note_kind(const json& v) {
    if (kind_ == KindState::unread) restart_ = true;  // a second kind: fields were skipped on the first
    kind_ = unread_ && v.is_string() && unread_(v.get_ref<const std::string&>()) ? KindState::unread : KindState::read;
  }

  int offset_;
  std::vector<ParsedDocument>& docs_;
  std::vector<YamlError>& errors_;
  UnreadKind unread_;
  KindState kind_ = KindState::unknown;
  bool restart_ = false;
  std::vector<Frame> stack_;
  struct Anchored {
    json value;
    std::uint64_t nodes = 0;  // what an alias of it adds to the document
  };
  // go-yaml's decoder counts every node it visits (the document, each key,
  // value, mapping, sequence and alias, and again each node an alias expands
  // to) and checks the share that came from aliases at every one.
  void count(std::uint64_t nodes, std::uint64_t from_aliases = 0) {
    decoded_ += nodes;
    aliased_ += from_aliases;
    if (aliased_ > 100 && decoded_ > 1000 &&
        static_cast<double>(aliased_) / static_cast<double>(decoded_) > allowed_alias_ratio(decoded_))
      refused_ = true;
  }
  std::unordered_map<std::string, Anchored> anchors_;
  std::uint64_t decoded_ = 0;  // nodes of the document, aliases expanded
  std::uint64_t aliased_ = 0;  // of those, nodes that came from an alias
  bool refused_ = false;
  std::shared_ptr<LineIndex> lines_;
  json root_;
  bool have_root_ = false;
  int first_line_ = 0;
};

std::string str_or_empty(const yaml_char_t* s) {
  return s ? std::string(reinterpret_cast<const char*>(s)) : std::string();
}

// A scalar's value as Kubernetes reads it: plain scalars are resolved
// (bool/int/float/null), quoted ones and !!str stay strings.
json scalar_value(const yaml_event_t& e) {
  const auto& sc = e.data.scalar;
  std::string value(reinterpret_cast<const char*>(sc.value), sc.length);
  const char* tag = reinterpret_cast<const char*>(sc.tag);
  if (tag) {
    std::string_view t(tag);
    if (t == "tag:yaml.org,2002:int" || t == "tag:yaml.org,2002:float" || t == "tag:yaml.org,2002:bool" ||
        t == "tag:yaml.org,2002:null")
      return resolve_plain_scalar(std::move(value));
    return json(std::move(value));  // !!str, "!" or a custom tag: a string
  }
  if (sc.style == YAML_PLAIN_SCALAR_STYLE) return resolve_plain_scalar(std::move(value));
  return json(std::move(value));
}

}  // namespace

namespace {

// One pass over the events; false when the builder asks for a pass with
// nothing skipped (see Builder::restart).
bool parse_events(std::string_view text, int line_offset, std::vector<ParsedDocument>& docs,
                  std::vector<YamlError>& errors, UnreadKind unread) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    errors.push_back({line_offset + 1, 0, "out of memory initialising the YAML parser", {}});
    return true;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  Builder b(line_offset, docs, errors, unread);
  bool done = false;
  while (!done && !b.restart()) {
    yaml_event_t e;
    if (!yaml_parser_parse(&parser, &e)) {
      std::string msg = parser.problem ? parser.problem : "invalid YAML";
      if (parser.context) msg = std::string(parser.context) + ": " + msg;
      errors.push_back({b.line(parser.problem_mark.line), static_cast<int>(parser.problem_mark.column) + 1, msg, {}});
      break;
    }
    const int ln = b.line(e.start_mark.line);
    switch (e.type) {
      case YAML_STREAM_END_EVENT:
        done = true;
        break;
      case YAML_DOCUMENT_START_EVENT:
        b.document_start(ln);
        break;
      case YAML_DOCUMENT_END_EVENT:
        b.document_end();
        break;
      case YAML_ALIAS_EVENT:
        b.alias(ln, str_or_empty(e.data.alias.anchor));
        break;
      case YAML_SCALAR_EVENT:
        if (b.expecting_key() && !e.data.scalar.anchor && !e.data.scalar.tag &&
            (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
             plain_stays_string({reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length})))
          b.string_key(ln, {reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length});
        else if (b.skipping_value())
          b.skipped_scalar(e.data.scalar.anchor != nullptr);
        else
          b.scalar(ln, scalar_value(e), str_or_empty(e.data.scalar.anchor));
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        bool is_map = e.type == YAML_MAPPING_START_EVENT;
        const yaml_char_t* anchor = is_map ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
        if (!b.start(ln, is_map, str_or_empty(anchor))) {
          errors.push_back({ln,
                            static_cast<int>(e.start_mark.column) + 1,
                            "nesting deeper than " + std::to_string(Builder::kMaxDepth) + " levels",
                            {}});
          done = true;
          docs.clear();
        }
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        b.end();
        break;
      default:
        break;
    }
    if (b.refused()) {
      // Like a syntax error: the document is not built; the ones before it stay.
      errors.push_back({ln, static_cast<int>(e.start_mark.column) + 1,
                        "YAML aliases expand the document too far: " + std::to_string(b.aliased()) + " of its " +
                            std::to_string(b.decoded()) +
                            " nodes would be copies made by aliases; kubectl refuses it too (\"document contains "
                            "excessive aliasing\")",
                        b.where()});
      done = true;
    }
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&parser);
  return !b.restart();
}

}  // namespace

// libyaml's event parser: the same YAML 1.1 parser go-yaml v2 (and so
// kubectl) is ported from, and 7x faster than yaml-cpp's scanner here.
void parse_yaml(std::string_view text, int line_offset, std::vector<ParsedDocument>& docs,
                std::vector<YamlError>& errors, UnreadKind unread) {
  const std::size_t docs_before = docs.size();
  const std::size_t errors_before = errors.size();
  if (parse_events(text, line_offset, docs, errors, unread)) return;
  docs.resize(docs_before);
  errors.resize(errors_before);
  parse_events(text, line_offset, docs, errors, nullptr);
}

}  // namespace loki::detail
