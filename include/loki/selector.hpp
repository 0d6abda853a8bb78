// Label selectors with the API's semantics (k8s.io/apimachinery/pkg/labels):
// requirements are ANDed; an empty selector selects everything.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
#pragma once

#include <algorithm>
#include <compare>
#include <initializer_list>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loki {

// Labels as a vector of pairs sorted by key: a pod's dozen labels take one
// allocation instead of a tree node (and often a key string) each; the
// network inventory holds every pod's labels (at 100k generated objects, 1M
// map nodes: 35 MB). Finds, iterates (in key order) and compares as the
// std::map it replaces; a key is never changed in place.
class Labels {
 public:
  using key_type = std::string;
  using mapped_type = std::string;
  using value_type = std::pair<std::string, std::string>;
  using size_type = std::size_t;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  // std::string against std::string_view by compare(), not `<`: clang 14
  // (the sanitizer build) rejects libstdc++'s rewritten operator<=> for it here.
  static bool key_less(std::string_view a, std::string_view b) { return a.compare(b) < 0; }

  Labels() = default;
  Labels(std::initializer_list<value_type> items) {
    for (const auto& v : items) emplace(v.first, v.second);
  }
  template <class It>
  Labels(It first, It last) {
    for (; first != last; ++first) emplace(first->first, first->second);
  }

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const_iterator cbegin() const { return items_.begin(); }
  const_iterator cend() const { return items_.end(); }
  size_type size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  void reserve(size_type n) { items_.reserve(n); }
  void shrink_to_fit() { items_.shrink_to_fit(); }

  const_iterator lower_bound(std::string_view key) const {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& v, std::string_view k) { return key_less(v.first, k); });
  }
  iterator lower_bound(std::string_view key) {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& v, std::string_view k) { return key_less(v.first, k); });
  }
  const_iterator find(std::string_view key) const {
    auto it = lower_bound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  iterator find(std::string_view key) {
    auto it = lower_bound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  size_type count(std::string_view key) const { return find(key) != items_.end() ? 1 : 0; }
  bool contains(std::string_view key) const { return find(key) != items_.end(); }
  const std::string& at(std::string_view key) const {
    auto it = find(key);
    if (it == items_.end()) throw std::out_of_range("Labels::at: no label " + std::string(key));
    return it->second;
  }
  std::string& operator[](std::string_view key) { return try_emplace(key).first->second; }

  // As std::map: an existing key keeps its value.
  template <class K, class V = std::string>
  std::pair<iterator, bool> emplace(K&& key, V&& value = V()) {
    std::string_view k(key);
    // Labels usually arrive in key order (a JSON object's members): append.
    if (items_.empty() || key_less(items_.back().first, k)) {
      items_.emplace_back(std::string(std::forward<K>(key)), std::string(std::forward<V>(value)));
      return {items_.end() - 1, true};
    }
    auto it = lower_bound(k);
    if (it != items_.end() && it->first == k) return {it, false};
    it = items_.emplace(it, std::string(std::forward<K>(key)), std::string(std::forward<V>(value)));
    return {it, true};
  }
  template <class K>
  std::pair<iterator, bool> try_emplace(K&& key) {
    return emplace(std::forward<K>(key), std::string());
  }
  std::pair<iterator, bool> insert(const value_type& v) { return emplace(v.first, v.second); }
  std::pair<iterator, bool> insert(value_type&& v) { return emplace(std::move(v.first), std::move(v.second)); }
  template <class K, class V>
  std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
    auto r = emplace(std::forward<K>(key), std::string());
    r.first->second = std::string(std::forward<V>(value));
    return r;
  }
  size_type erase(std::string_view key) {
    auto it = find(key);
    if (it == items_.end()) return 0;
    items_.erase(it);
    return 1;
  }
  iterator erase(const_iterator it) { return items_.erase(it); }

  friend bool operator==(const Labels& a, const Labels& b) = default;
  friend auto operator<=>(const Labels& a, const Labels& b) { return a.items_ <=> b.items_; }

 private:
  std::vector<value_type> items_;
};

// Labels of a metadata object ({"labels": {...}}); non-string values skipped.
Labels labels_of(const nlohmann::json& metadata);

struct SelectorError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Requirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;  // sorted, for In/NotIn/Equals/NotEquals

  bool matches(const Labels& labels) const;
  std::string to_string() const;  // kubectl syntax
};

class LabelSelector {
 public:
  LabelSelector() = default;  // empty: selects everything

  // kubectl syntax: "app=loki-mode,tier!=web,env in (a,b),x notin (c),k,!k".
  static LabelSelector parse(std::string_view text);
  // A metav1.LabelSelector ({matchLabels, matchExpressions}); `where` names the
  // field in errors. Throws SelectorError.
  static LabelSelector from_json(const nlohmann::json& selector, std::string_view where = "selector");
  // A selector that selects nothing (a null metav1.LabelSelector).
  static LabelSelector nothing();

  bool matches(const Labels& labels) const;
  // matches(labels_of(metadata)) without building the Labels.
  bool matches_metadata(const nlohmann::json& metadata) const;
  bool empty() const { return requirements_.empty() && !nothing_; }
  bool selects_nothing() const { return nothing_; }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  std::string to_string() const;  // kubectl syntax; "<all>" / "<none>"

 private:
  std::vector<Requirement> requirements_;
  bool nothing_ = false;
};

// Validates a label key/value as the API server does (qualified name; value
// of at most 63 characters). Returns an error text or empty.
std::string validate_label_key(std::string_view key);
std::string validate_label_value(std::string_view value);

}  // namespace loki
