// FindingStore: many findings held compactly. A lint of 100k objects yields
// ~230k findings; as std::strings each costs ~900 bytes (rule, file,
// remediation and object names repeat on almost every one), so the findings
// alone outweighed the input. Here every string is interned once in a
// chunked arena -- messages and field pointers too: a message names the
// object's policies or container, so most repeat (2,004 distinct of 23k on
// the 10k corpus) -- and a finding is a 48-byte record of ids, rebuilt into a
// Finding only when a reporter asks for it. A long text is kept as the ids of
// its pieces (lines, clauses, the items of a list): a remediation carrying a
// manifest to apply, or a network finding naming the pod's labels and
// policies, seldom repeats whole, while its pieces mostly do (at 100k
// generated objects, 20k distinct remediations of 13.6 MB have 1.1 MB of
// distinct lines).
#pragma once

#include <loki/finding.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loki {

class FindingStore {
 public:
  explicit FindingStore() = default;  // explicit: `{}` stays a std::vector<Finding> in overloads
  FindingStore(FindingStore&&) noexcept = default;
  FindingStore& operator=(FindingStore&&) noexcept = default;
  FindingStore(const FindingStore&) = delete;
  FindingStore& operator=(const FindingStore&) = delete;

  // `order` breaks ties of the sort key (file, line, object, rule, container)
  // the way the findings were produced, so parallel checking stays
  // deterministic: pass (input, document) positions.
  void add(Finding&& f, std::uint64_t order);
  void add(std::vector<Finding>&& fs, std::uint64_t order);

  void reserve(std::size_t n) { recs_.reserve(n); }
  std::size_t size() const { return recs_.size(); }
  bool empty() const { return recs_.empty(); }
  // Const and cache-free: many threads may rebuild findings at once.
  Finding operator[](std::size_t i) const;
  // Without rebuilding the finding (the reports' counts).
  Severity severity(std::size_t i) const { return recs_[i].severity; }
  bool suppressed(std::size_t i) const { return recs_[i].suppressed; }

  // Sorted as sort_findings sorts (then by `order`); threads > 1 sorts the
  // halves side by side (the same order: the sort is stable).
  void sort(unsigned threads = 1);
  // Drops the findings whose rule fails `keep`.
  template <class Pred>
  void keep_if(Pred keep) {
    // Decided once per rule (a rule id is one interned string), not per finding.
    // Findings come in runs of one rule: the last answer is asked first.
    std::unordered_map<std::uint32_t, bool> kept;
    std::uint32_t last = none;
    bool last_kept = true;
    std::erase_if(recs_, [&](const Rec& r) {
      if (r.rule != last) {
        auto [it, added] = kept.try_emplace(r.rule, false);
        if (added) it->second = keep(std::string_view(strings_[r.rule]));
        last = r.rule;
        last_kept = it->second;
      }
      return !last_kept;
    });
  }
  // Drops the findings of `rule` for which `drop(finding)` holds (the
  // Finding is rebuilt for those only).
  template <class Pred>
  void erase_if_rule(std::string_view rule, Pred drop) {
    std::erase_if(recs_, [&](const Rec& r) {
      if (std::string_view(strings_[r.rule]) != rule) return false;
      return drop(build(r));
    });
  }

  std::vector<Finding> to_vector() const;
  // Bytes of distinct text held (each distinct string once), for the memory
  // accounting of tests and benchmarks.
  std::size_t text_bytes() const { return strings_.bytes() + lines_.bytes(); }

  class iterator {
   public:
    using value_type = Finding;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const FindingStore* s, std::size_t i) : s_(s), i_(i) {}
    Finding operator*() const { return (*s_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      iterator t = *this;
      ++i_;
      return t;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const FindingStore* s_ = nullptr;
    std::size_t i_ = 0;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, recs_.size()}; }

 private:
  static constexpr std::uint32_t none = 0xffffffffu;
  struct Rec {
    std::uint64_t order;
    std::uint32_t rule, file, object, container, remediation, reason, message, field;
    std::int32_t line;
    Severity severity;
    bool suppressed;
  };
  Finding build(const Rec& r) const;
  // Distinct byte strings in a chunked arena, each kept once.
  class Pool {
   public:
    std::uint32_t intern(std::string_view s);
    std::string_view operator[](std::uint32_t id) const { return strings_[id]; }
    std::size_t bytes() const { return bytes_; }

   private:
    std::string_view keep(std::string_view s);
    void grow_table();
    std::vector<std::string_view> strings_;  // interned, into arena_
    // Open addressing over strings_: id + 1 per slot, 0 = free; at most half full.
    std::vector<std::uint32_t> table_;
    std::vector<std::unique_ptr<char[]>> arena_;
    std::size_t arena_left_ = 0;
    char* arena_next_ = nullptr;
    std::size_t bytes_ = 0;
  };
  // Texts of kSplitAt bytes or more are kept as the sequence of their
  // pieces' ids (an id of lines_, flagged kLines); piece_end says where a
  // piece ends.
  static constexpr std::size_t kSplitAt = 192;
  static constexpr std::uint32_t kLines = 0x80000000u;
  std::uint32_t intern(std::string_view s) { return strings_.intern(s); }
  std::uint32_t intern_text(std::string_view s);
  std::string text(std::uint32_t id) const;
  std::uint32_t intern_object(const ObjectRef& o);

  std::vector<Rec> recs_;
  Pool strings_;
  Pool lines_;  // each entry: the piece ids of one text, as bytes
  struct ObjectIds {
    std::uint32_t api_version, kind, ns, name;
  };
  std::vector<ObjectIds> objects_;
  // Open addressing over objects_ as Pool's table over its strings (a map
  // of candidate vectors took ~70 bytes per distinct object).
  std::vector<std::uint32_t> object_table_;
};

}  // namespace loki
