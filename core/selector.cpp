#include <loki/selector.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <optional>

namespace loki {

using nlohmann::json;

void Labels::build(const std::vector<value_type>& sorted) {
  if (sorted.empty()) {
    data_.reset();
    return;
  }
  std::size_t text = 0;
  for (const auto& [k, v] : sorted) text += k.size() + v.size();
  const std::size_t head = (2 + 2 * sorted.size()) * sizeof(std::uint32_t);
  if (text > std::numeric_limits<std::uint32_t>::max() - head) throw std::length_error("Labels: too long");
  auto data = std::make_unique_for_overwrite<std::byte[]>(head + text);
  auto put = [&](std::size_t i, std::size_t w) {
    const auto v = static_cast<std::uint32_t>(w);
    std::memcpy(data.get() + i * sizeof v, &v, sizeof v);
  };
  put(0, sorted.size());
  put(1, text);
  std::byte* out = data.get() + head;
  std::size_t at = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& [k, v] = sorted[i];
    put(2 + 2 * i, at);
    if (!k.empty()) std::memcpy(out + at, k.data(), k.size());
    at += k.size();
    put(3 + 2 * i, at);
    if (!v.empty()) std::memcpy(out + at, v.data(), v.size());
    at += v.size();
  }
  data_ = std::move(data);  // after reading `sorted`: it may point into the old block
}

void Labels::assign(std::vector<value_type> items) {
  // Stable: of a repeated key the first value stays (std::map::emplace).
  std::stable_sort(items.begin(), items.end(),
                   [](const value_type& a, const value_type& b) { return a.first < b.first; });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const value_type& a, const value_type& b) { return a.first == b.first; }),
              items.end());
  build(items);
}

void Labels::copy_from(const Labels& o) {
  if (!o.data_) {
    data_.reset();
    return;
  }
  const std::size_t n = o.block_size();
  auto data = std::make_unique_for_overwrite<std::byte[]>(n);
  std::memcpy(data.get(), o.data_.get(), n);
  data_ = std::move(data);
}

std::pair<Labels::const_iterator, bool> Labels::emplace(std::string_view key, std::string_view value) {
  auto it = lower_bound(key);
  if (it != end() && it->first == key) return {it, false};
  std::vector<value_type> items(begin(), end());
  const std::size_t at = it.index();
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), value_type{key, value});
  build(items);
  return {{this, at}, true};
}

std::pair<Labels::const_iterator, bool> Labels::insert_or_assign(std::string_view key, std::string_view value) {
  auto it = lower_bound(key);
  const std::size_t at = it.index();
  std::vector<value_type> items(begin(), end());
  const bool fresh = it == end() || it->first != key;
  if (fresh)
    items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), value_type{key, value});
  else
    items[at].second = value;
  build(items);
  return {{this, at}, fresh};
}

Labels::size_type Labels::erase(std::string_view key) {
  auto it = find(key);
  if (it == end()) return 0;
  std::vector<value_type> items(begin(), end());
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(it.index()));
  build(items);
  return 1;
}

Labels labels_of(const json& metadata) {
  Labels out;
  if (!metadata.is_object()) return out;
  auto it = metadata.find("labels");
  if (it == metadata.end() || !it->is_object()) return out;
  std::vector<Labels::value_type> items;
  items.reserve(it->size());
  for (auto l = it->begin(); l != it->end(); ++l)
    if (l->is_string()) items.emplace_back(l.key(), l->get_ref<const std::string&>());
  out.assign(std::move(items));  // the members come in key order: assign keeps it
  return out;
}

void to_json(json& j, const Labels& labels) {
  j = json::object();
  for (const auto& [k, v] : labels) j[std::string(k)] = v;
}

namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 characters.
std::string check_name_part(std::string_view s, std::string_view what) {
  if (s.empty()) return std::string(what) + " must not be empty";
  if (s.size() > 63) return std::string(what) + " must be no more than 63 characters";
  if (!is_alnum(s.front()) || !is_alnum(s.back()))
    return std::string(what) + " must begin and end with an alphanumeric character";
  for (char c : s)
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
      return std::string(what) + " may contain only alphanumerics, '-', '_' and '.'";
  return {};
}

std::string check_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return "prefix must be a DNS subdomain of 1 to 253 characters";
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '.'))
      return "prefix must be a lowercase DNS subdomain";
  return {};
}

}  // namespace

std::string validate_label_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (auto e = check_dns_subdomain(key.substr(0, slash)); !e.empty())
      return "label key \"" + std::string(key) + "\": " + e;
    key = key.substr(slash + 1);
  }
  if (auto e = check_name_part(key, "name part"); !e.empty()) return "label key \"" + std::string(key) + "\": " + e;
  return {};
}

std::string validate_label_value(std::string_view value) {
  if (value.empty()) return {};
  if (auto e = check_name_part(value, "value"); !e.empty()) return "label value \"" + std::string(value) + "\": " + e;
  return {};
}

namespace {
// One requirement against a label lookup: find(key) gives the value, or
// nullopt when the label is absent.
template <class Find>
bool requirement_matches(const Requirement& r, Find&& find) {
  const std::optional<std::string_view> value = find(r.key);
  auto in_values = [&] {
    return value && std::binary_search(r.values.begin(), r.values.end(), *value,
                                       [](std::string_view a, std::string_view b) { return a.compare(b) < 0; });
  };
  switch (r.op) {
    case Requirement::Op::Equals:
    case Requirement::Op::In:
      return in_values();
    case Requirement::Op::NotEquals:
    case Requirement::Op::NotIn:
      return !in_values();  // absent keys match, as in the API
    case Requirement::Op::Exists:
      return value.has_value();
    case Requirement::Op::DoesNotExist:
      return !value.has_value();
  }
  return false;
}
}  // namespace

bool Requirement::matches(const Labels& labels) const {
  return requirement_matches(*this, [&](const std::string& k) -> std::optional<std::string_view> {
    auto it = labels.find(k);
    if (it == labels.end()) return std::nullopt;
    return it->second;
  });
}

std::string Requirement::to_string() const {
  auto joined = [&] {
    std::string s;
    for (std::size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + values[i];
    return s;
  };
  switch (op) {
    case Op::Equals:
      return key + "=" + joined();
    case Op::NotEquals:
      return key + "!=" + joined();
    case Op::In:
      return key + " in (" + joined() + ")";
    case Op::NotIn:
      return key + " notin (" + joined() + ")";
    case Op::Exists:
      return key;
    case Op::DoesNotExist:
      return "!" + key;
  }
  return key;
}

bool LabelSelector::matches(const Labels& labels) const {
  if (nothing_) return false;
  for (const auto& r : requirements_)
    if (!r.matches(labels)) return false;
  return true;
}

bool LabelSelector::matches_metadata(const json& metadata) const {
  if (nothing_) return false;
  if (requirements_.empty()) return true;
  const json* labels = nullptr;
  if (metadata.is_object())
    if (auto it = metadata.find("labels"); it != metadata.end() && it->is_object()) labels = &*it;
  // The labels labels_of(metadata) keeps: string values only.
  auto find = [&](const std::string& k) -> std::optional<std::string_view> {
    if (!labels) return std::nullopt;
    auto it = labels->find(k);
    if (it == labels->end() || !it->is_string()) return std::nullopt;
    return it->get_ref<const std::string&>();
  };
  for (const auto& r : requirements_)
    if (!requirement_matches(r, find)) return false;
  return true;
}

std::string LabelSelector::to_string() const {
  if (nothing_) return "<none>";
  if (requirements_.empty()) return "<all>";
  std::string s;
  for (std::size_t i = 0; i < requirements_.size(); ++i) s.append(i ? "," : "").append(requirements_[i].to_string());
  return s;
}

LabelSelector LabelSelector::nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

namespace {

// kubectl's selector syntax, one requirement at a time; errors name the
// 1-based position.
class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  std::vector<Requirement> parse() {
    std::vector<Requirement> out;
    skip_ws();
    if (at_end()) return out;
    while (true) {
      out.push_back(requirement());
      skip_ws();
      if (at_end()) break;
      if (text_[pos_] != ',') throw fail("expected ','");
      ++pos_;
    }
    return out;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;

  bool at_end() const { return pos_ >= text_.size(); }
  bool at(char c) const { return !at_end() && text_[pos_] == c; }
  bool at(std::string_view s) const { return text_.compare(pos_, s.size(), s) == 0; }

  SelectorError fail(const std::string& why) const {
    return SelectorError("invalid selector \"" + std::string(text_) + "\": " + why + " at position " +
                         std::to_string(pos_ + 1));
  }
  void skip_ws() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  static bool is_word_char(char c) {
    return !std::isspace(static_cast<unsigned char>(c)) && c != ',' && c != '=' && c != '!' && c != '(' && c != ')';
  }
  std::string word() {
    std::size_t b = pos_;
    while (!at_end() && is_word_char(text_[pos_])) ++pos_;
    return std::string(text_.substr(b, pos_ - b));
  }
  std::string value() {
    std::string v = word();
    if (auto e = validate_label_value(v); !e.empty()) throw fail(e);
    return v;
  }

  Requirement requirement() {
    skip_ws();
    Requirement r;
    bool negated = false;
    if (at('!')) {
      negated = true;
      ++pos_;
      skip_ws();
    }
    r.key = word();
    if (r.key.empty()) throw fail("expected a label key");
    if (auto e = validate_label_key(r.key); !e.empty()) throw fail(e);
    skip_ws();
    if (negated)
      r.op = Requirement::Op::DoesNotExist;
    else if (at_end() || at(','))
      r.op = Requirement::Op::Exists;
    else if (at("==") || at("!=") || at('='))
      equality(r);
    else
      set(r);
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    // After de-duplication, so "in (,,)" is refused like "in ()" (found by
    // fuzzing: it was accepted and printed as "in ()", which does not parse).
    if (r.op == Requirement::Op::In && r.values.size() == 1 && r.values[0].empty())
      throw fail("'in' needs at least one value");
    return r;
  }

  // key=value, key==value, key!=value
  void equality(Requirement& r) {
    if (at('!')) {
      r.op = Requirement::Op::NotEquals;
      pos_ += 2;
    } else {
      r.op = Requirement::Op::Equals;
      pos_ += at("==") ? 2 : 1;
    }
    skip_ws();
    r.values.push_back(value());
  }

  // key in (a,b), key notin (a,b)
  void set(Requirement& r) {
    std::string op = word();
    if (op == "in")
      r.op = Requirement::Op::In;
    else if (op == "notin")
      r.op = Requirement::Op::NotIn;
    else
      throw fail("expected one of =, ==, !=, in, notin after \"" + r.key + "\"");
    skip_ws();
    if (!at('(')) throw fail("expected '(' after " + op);
    ++pos_;
    while (true) {
      skip_ws();
      r.values.push_back(value());
      skip_ws();
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (at(')')) {
        ++pos_;
        break;
      }
      throw fail("expected ',' or ')' in value set");
    }
  }
};

}  // namespace

LabelSelector LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  sel.requirements_ = SelectorParser(text).parse();
  return sel;
}

namespace {

void match_labels(const json& ml, const std::string& w, std::vector<Requirement>& out) {
  if (!ml.is_object()) throw SelectorError(w + ".matchLabels: expected a mapping of strings");
  for (auto it = ml.begin(); it != ml.end(); ++it) {
    if (!it->is_string())
      throw SelectorError(w + ".matchLabels." + it.key() + ": expected a string, got " + it->dump());
    if (auto e = validate_label_key(it.key()); !e.empty()) throw SelectorError(w + ".matchLabels: " + e);
    out.push_back(Requirement{it.key(), Requirement::Op::Equals, {it->get<std::string>()}});
  }
}

Requirement::Op expression_operator(const std::string& o, const std::string& at) {
  if (o == "In") return Requirement::Op::In;
  if (o == "NotIn") return Requirement::Op::NotIn;
  if (o == "Exists") return Requirement::Op::Exists;
  if (o == "DoesNotExist") return Requirement::Op::DoesNotExist;
  throw SelectorError(at + ".operator: \"" + o + "\" is not one of In, NotIn, Exists, DoesNotExist");
}

// One metav1.LabelSelectorRequirement; `at` names it in errors.
Requirement match_expression(const json& e, const std::string& at) {
  if (!e.is_object()) throw SelectorError(at + ": expected a mapping");
  auto key = e.find("key");
  auto op = e.find("operator");
  if (key == e.end() || !key->is_string()) throw SelectorError(at + ".key: required string");
  if (op == e.end() || !op->is_string()) throw SelectorError(at + ".operator: required string");
  Requirement r;
  r.key = key->get<std::string>();
  const std::string& o = op->get_ref<const std::string&>();
  r.op = expression_operator(o, at);
  if (auto v = e.find("values"); v != e.end() && !v->is_null()) {
    if (!v->is_array()) throw SelectorError(at + ".values: expected a list of strings");
    for (auto& s : *v) {
      if (!s.is_string()) throw SelectorError(at + ".values: expected strings, got " + s.dump());
      r.values.push_back(s.get<std::string>());
    }
  }
  bool set_op = r.op == Requirement::Op::In || r.op == Requirement::Op::NotIn;
  if (set_op && r.values.empty()) throw SelectorError(at + ".values: must be non-empty for " + o);
  if (!set_op && !r.values.empty()) throw SelectorError(at + ".values: must be empty for " + o);
  std::sort(r.values.begin(), r.values.end());
  r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  return r;
}

}  // namespace

LabelSelector LabelSelector::from_json(const json& j, std::string_view where) {
  LabelSelector sel;
  const std::string w(where);
  if (j.is_null()) return nothing();
  if (!j.is_object()) throw SelectorError(w + ": expected a mapping (matchLabels/matchExpressions)");
  if (auto ml = j.find("matchLabels"); ml != j.end() && !ml->is_null()) match_labels(*ml, w, sel.requirements_);
  if (auto me = j.find("matchExpressions"); me != j.end() && !me->is_null()) {
    if (!me->is_array()) throw SelectorError(w + ".matchExpressions: expected a list");
    for (std::size_t i = 0; i < me->size(); ++i)
      sel.requirements_.push_back(match_expression((*me)[i], w + ".matchExpressions[" + std::to_string(i) + "]"));
  }
  return sel;
}

}  // namespace loki
