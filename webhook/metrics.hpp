// A small thread-safe Prometheus registry: counters, gauges (set or evaluated at scrape time) and
// fixed-bucket histograms, rendered in the text exposition format 0.0.4.
//
// Hot path: `inc` / `observe` look the series up under a shared (reader) lock and update atomics; a
// caller that wants zero lookups keeps the reference returned by counter()/gauge()/histogram(), which
// stays valid for the registry's lifetime (series are never removed, except callback series).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace loki::webhook::metrics {

// Label pairs, in any order: {{"endpoint", "/validate"}, {"decision", "allow"}}.
using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::initializer_list<Label>;

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Latency buckets in seconds.
const std::vector<double>& latency_buckets();

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // sorted, finite; +Inf is implicit
  void observe(double v) noexcept;
  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative counts per bucket (last = +Inf bucket) and the sum, read without a lock.
  std::vector<std::uint64_t> bucket_counts() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // HELP text of a metric family (optional; may come before or after its first series).
  void describe(std::string_view name, std::string_view help);

  // Find-or-create. Throws std::invalid_argument for a bad metric or label name, std::logic_error when
  // the name is already used with another type (or a histogram with other buckets).
  Counter& counter(std::string_view name, Labels labels = {});
  Gauge& gauge(std::string_view name, Labels labels = {});
  Histogram& histogram(std::string_view name, Labels labels = {},
                       const std::vector<double>& buckets = latency_buckets());

  // Series whose value is computed at scrape time (e.g. open connections). Replaces an earlier callback
  // with the same name and labels. The callback runs without any registry lock held.
  void gauge_callback(std::string_view name, Labels labels, std::function<double()> fn);
  void counter_callback(std::string_view name, Labels labels, std::function<double()> fn);
  // Removes a callback series (e.g. before the object its callback reads goes away).
  void remove_callback(std::string_view name, Labels labels = {});

  void inc(std::string_view name, Labels labels = {}, std::uint64_t n = 1) { counter(name, labels).inc(n); }
  void set(std::string_view name, Labels labels, double v) { gauge(name, labels).set(v); }
  void observe(std::string_view name, Labels labels, double v) { histogram(name, labels).observe(v); }

  // Text format 0.0.4: families sorted by name, series by label set; HELP (when described) and TYPE lines.
  std::string render() const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Series {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
    Type type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;
  };
  struct Family {
    Type type;
    bool typed = false;
    std::string help;
    std::vector<double> buckets;
  };

  Series& find_or_create(std::string_view name, Labels labels, Type type, const std::vector<double>* buckets);
  static void make_key(std::string& key, std::string_view name, Labels labels);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Series>> series_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace loki::webhook::metrics
