// Label selectors with the API's semantics (k8s.io/apimachinery/pkg/labels):
// requirements are ANDed; an empty selector selects everything.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loki {

// Labels sorted by key in one block: the offsets of each key and value,
// then the text. A pod's labels take one allocation of about their text's
// size (the network inventory keeps every pod's: at 100k generated objects a
// vector of std::string pairs took 23 MB, 256 bytes a pod, before the text).
// Finds, iterates (in key order) and compares as the std::map it once was;
// entries are read as string_views, and a change rebuilds the block (labels
// are built once and read many times).
class Labels {
 public:
  using value_type = std::pair<std::string_view, std::string_view>;
  using size_type = std::size_t;

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Labels::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;
    struct Arrow {
      value_type v;
      const value_type* operator->() const { return &v; }
    };

    const_iterator() = default;
    const_iterator(const Labels* l, std::size_t i) : l_(l), i_(i) {}
    value_type operator*() const { return l_->entry(i_); }
    Arrow operator->() const { return {l_->entry(i_)}; }
    value_type operator[](difference_type n) const { return l_->entry(i_ + static_cast<std::size_t>(n)); }
    const_iterator& operator++() { return ++i_, *this; }
    const_iterator operator++(int) { return {l_, i_++}; }
    const_iterator& operator--() { return --i_, *this; }
    const_iterator operator--(int) { return {l_, i_--}; }
    const_iterator& operator+=(difference_type n) { return i_ += static_cast<std::size_t>(n), *this; }
    const_iterator& operator-=(difference_type n) { return i_ -= static_cast<std::size_t>(n), *this; }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.i_ == b.i_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.i_ <=> b.i_; }
    std::size_t index() const { return i_; }

   private:
    const Labels* l_ = nullptr;
    std::size_t i_ = 0;
  };
  using iterator = const_iterator;

  Labels() = default;
  Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> items) { assign(items); }
  template <class It>
  Labels(It first, It last) {
    std::vector<value_type> items;
    for (; first != last; ++first) items.emplace_back(std::string_view(first->first), std::string_view(first->second));
    assign(std::move(items));
  }
  Labels(const Labels& o) { copy_from(o); }
  Labels(Labels&& o) noexcept : data_(std::move(o.data_)) {}
  Labels& operator=(const Labels& o) {
    if (this != &o) copy_from(o);
    return *this;
  }
  Labels& operator=(Labels&& o) noexcept {
    data_ = std::move(o.data_);
    return *this;
  }
  ~Labels() = default;

  // From key/value pairs in any order; a repeated key keeps its first value (as std::map::emplace).
  void assign(std::vector<value_type> items);
  template <class Range>
  void assign(const Range& items) {
    assign(std::vector<value_type>(items.begin(), items.end()));
  }

  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }
  const_iterator cbegin() const { return begin(); }
  const_iterator cend() const { return end(); }
  size_type size() const { return data_ ? word(0) : 0; }
  bool empty() const { return size() == 0; }
  void clear() { data_.reset(); }

  const_iterator lower_bound(std::string_view key) const {
    std::size_t lo = 0, hi = size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (key_of(mid).compare(key) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    return {this, lo};
  }
  const_iterator find(std::string_view key) const {
    auto it = lower_bound(key);
    return it != end() && key_of(it.index()) == key ? it : end();
  }
  size_type count(std::string_view key) const { return find(key) != end() ? 1 : 0; }
  bool contains(std::string_view key) const { return find(key) != end(); }
  std::string_view at(std::string_view key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("Labels::at: no label " + std::string(key));
    return it->second;
  }

  // As std::map: an existing key keeps its value.
  std::pair<const_iterator, bool> emplace(std::string_view key, std::string_view value = {});
  std::pair<const_iterator, bool> try_emplace(std::string_view key) { return emplace(key); }
  std::pair<const_iterator, bool> insert(const value_type& v) { return emplace(v.first, v.second); }
  std::pair<const_iterator, bool> insert_or_assign(std::string_view key, std::string_view value);
  size_type erase(std::string_view key);

  friend bool operator==(const Labels& a, const Labels& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend std::strong_ordering operator<=>(const Labels& a, const Labels& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  // data_: [count, total text bytes, (key offset, value offset) per entry] as
  // uint32, then the text; a value ends where the next key starts.
  std::uint32_t word(std::size_t i) const {
    std::uint32_t w;
    std::memcpy(&w, data_.get() + i * sizeof w, sizeof w);
    return w;
  }
  std::size_t size_of_header() const { return (2 + 2 * std::size_t{word(0)}) * sizeof(std::uint32_t); }
  const char* text() const { return reinterpret_cast<const char*>(data_.get() + size_of_header()); }
  std::string_view key_of(std::size_t i) const {
    const std::uint32_t k = word(2 + 2 * i);
    return {text() + k, word(3 + 2 * i) - k};
  }
  value_type entry(std::size_t i) const {
    const std::uint32_t k = word(2 + 2 * i), v = word(3 + 2 * i);
    const std::uint32_t value_end = i + 1 < word(0) ? word(2 + 2 * (i + 1)) : word(1);
    const char* t = text();
    return {{t + k, v - k}, {t + v, value_end - v}};
  }
  std::size_t block_size() const { return data_ ? size_of_header() + word(1) : 0; }
  void copy_from(const Labels& o);
  // Sorted by key, distinct keys.
  void build(const std::vector<value_type>& sorted);

  std::unique_ptr<std::byte[]> data_;
};

// Labels of a metadata object ({"labels": {...}}); non-string values skipped.
Labels labels_of(const nlohmann::json& metadata);
// A JSON object of the labels.
void to_json(nlohmann::json& j, const Labels& labels);

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
