// Immutable strings from a small, bounded set (file names, the JSON pointers
// of a pod template's labels), interned once per process: a record holds a
// pointer instead of its own copy. The network inventory keeps one record
// per pod template (100k objects: 90k copies of each); the pool keeps every
// distinct text until exit, so only texts from a bounded set belong here.
#pragma once

#include <compare>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace loki {

class InternedText {
 public:
  InternedText() : s_(&intern({})) {}
  InternedText(std::string_view s) : s_(&intern(s)) {}    // NOLINT(google-explicit-constructor): a string as before
  InternedText(const std::string& s) : s_(&intern(s)) {}  // NOLINT(google-explicit-constructor)
  InternedText(const char* s) : s_(&intern(s)) {}         // NOLINT(google-explicit-constructor)

  const std::string& str() const { return *s_; }
  operator const std::string&() const { return *s_; }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return *s_; }    // NOLINT(google-explicit-constructor)
  bool empty() const { return s_->empty(); }
  std::size_t size() const { return s_->size(); }
  const char* c_str() const { return s_->c_str(); }
  std::string substr(std::size_t pos, std::size_t n = std::string::npos) const { return s_->substr(pos, n); }
  std::size_t rfind(char c, std::size_t pos = std::string::npos) const { return s_->rfind(c, pos); }
  std::size_t find(char c, std::size_t pos = 0) const { return s_->find(c, pos); }

  friend bool operator==(const InternedText& a, const InternedText& b) { return a.s_ == b.s_; }
  friend bool operator==(const InternedText& a, std::string_view b) { return *a.s_ == b; }
  friend bool operator==(const InternedText& a, const std::string& b) { return *a.s_ == b; }
  friend bool operator==(const InternedText& a, const char* b) { return *a.s_ == b; }
  friend std::strong_ordering operator<=>(const InternedText& a, const InternedText& b) {
    return a.s_ == b.s_ ? std::strong_ordering::equal : *a.s_ <=> *b.s_;
  }
  friend std::ostream& operator<<(std::ostream& out, const InternedText& t) { return out << *t.s_; }
  friend std::string operator+(const InternedText& a, std::string_view b) { return concat(*a.s_, b); }
  friend std::string operator+(std::string_view a, const InternedText& b) { return concat(a, *b.s_); }

 private:
  static const std::string& intern(std::string_view s) {
    // Each thread remembers the texts it has interned: they repeat record
    // after record (a file's name, a template's field pointers, namespaces),
    // so the pool's lock is taken about once per distinct text and thread,
    // not once per record by every loader thread at once.
    thread_local std::unordered_map<std::string_view, const std::string*> seen;
    if (auto it = seen.find(s); it != seen.end()) return *it->second;
    const std::string* pooled;
    {
      static std::mutex mu;
      static std::set<std::string, std::less<>> pool;
      std::lock_guard lk(mu);
      auto it = pool.find(s);
      if (it == pool.end()) it = pool.emplace(s).first;
      pooled = &*it;  // set nodes never move
    }
    if (seen.size() >= kSeenMax) seen.clear();
    seen.emplace(*pooled, pooled);  // the key views the pooled text
    return *pooled;
  }
  static constexpr std::size_t kSeenMax = 4096;
  static std::string concat(std::string_view a, std::string_view b) {
    std::string s;
    s.reserve(a.size() + b.size());
    s.append(a);
    s.append(b);
    return s;
  }

  const std::string* s_;
};

}  // namespace loki
