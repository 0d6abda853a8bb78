#include "metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace loki::webhook::metrics {

namespace {

constexpr std::size_t kMaxLabels = 16;

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (std::trunc(v) == v && std::fabs(v) < 1e15) {
    // Whole numbers as integers: "1795449600", not "1.7954496e+09".
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, r.ptr);
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    out.append(buf, r.ptr);
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Labels sorted by name; throws on bad or duplicate names.
std::size_t sorted_labels(Labels labels, std::array<Label, kMaxLabels>& out) {
  if (labels.size() > kMaxLabels) throw std::invalid_argument("metrics: too many labels");
  std::size_t n = 0;
  for (const auto& l : labels) out[n++] = l;
  std::sort(out.begin(), out.begin() + n, [](const Label& a, const Label& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < n; ++i)
    if (out[i].first == out[i - 1].first)
      throw std::invalid_argument("metrics: duplicate label '" + std::string(out[i].first) + "'");
  return n;
}

void append_labels(std::string& out, const std::vector<std::pair<std::string, std::string>>& labels,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v, true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

const char* type_name(int t) {
  switch (t) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};
  return b;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
    throw std::invalid_argument("metrics: histogram buckets must be strictly increasing");
  for (double b : bounds_)
    if (!std::isfinite(b)) throw std::invalid_argument("metrics: histogram buckets must be finite");
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  // First bucket whose upper bound is >= v ("le"); NaN lands in +Inf.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

void Registry::make_key(std::string& key, std::string_view name, Labels labels) {
  std::array<Label, kMaxLabels> sorted;
  std::size_t n = sorted_labels(labels, sorted);
  key.clear();
  key.append(name);
  for (std::size_t i = 0; i < n; ++i) {
    key += '\0';
    key.append(sorted[i].first);
    key += '\1';
    key.append(sorted[i].second);
  }
}

void Registry::describe(std::string_view name, std::string_view help) {
  if (!valid_metric_name(name)) throw std::invalid_argument("metrics: invalid metric name '" + std::string(name) + "'");
  std::unique_lock lk(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{}).first;
  it->second.help = std::string(help);
}

Registry::Series& Registry::find_or_create(std::string_view name, Labels labels, Type type,
                                           const std::vector<double>* buckets) {
  thread_local std::string key;
  make_key(key, name, labels);
  {
    std::shared_lock lk(mu_);
    auto it = series_.find(key);
    if (it != series_.end() && it->second->type == type) return *it->second;
  }
  // Slow path: validate and insert.
  if (!valid_metric_name(name)) throw std::invalid_argument("metrics: invalid metric name '" + std::string(name) + "'");
  std::array<Label, kMaxLabels> sorted;
  std::size_t n = sorted_labels(labels, sorted);
  for (std::size_t i = 0; i < n; ++i) {
    if (!valid_label_name(sorted[i].first) || (type == Type::histogram && sorted[i].first == "le"))
      throw std::invalid_argument("metrics: invalid label name '" + std::string(sorted[i].first) + "'");
  }
  std::unique_lock lk(mu_);
  auto fam = families_.find(name);
  if (fam == families_.end()) fam = families_.emplace(std::string(name), Family{}).first;
  if (fam->second.typed && fam->second.type != type)
    throw std::logic_error("metrics: '" + std::string(name) + "' is already a " +
                           type_name(static_cast<int>(fam->second.type)));
  if (type == Type::histogram && fam->second.typed && fam->second.buckets != *buckets)
    throw std::logic_error("metrics: histogram '" + std::string(name) + "' already has other buckets");
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;  // inserted meanwhile (same type: checked above)
  fam->second.typed = true;
  fam->second.type = type;
  if (type == Type::histogram) fam->second.buckets = *buckets;
  auto s = std::make_shared<Series>();
  s->name = std::string(name);
  for (std::size_t i = 0; i < n; ++i) s->labels.emplace_back(sorted[i].first, sorted[i].second);
  s->type = type;
  switch (type) {
    case Type::counter:
      s->counter = std::make_unique<Counter>();
      break;
    case Type::gauge:
      s->gauge = std::make_unique<Gauge>();
      break;
    case Type::histogram:
      s->histogram = std::make_unique<Histogram>(*buckets);
      break;
  }
  Series& ref = *s;
  series_.emplace(key, std::move(s));
  return ref;
}

Counter& Registry::counter(std::string_view name, Labels labels) {
  Series& s = find_or_create(name, labels, Type::counter, nullptr);
  if (!s.counter) throw std::logic_error("metrics: '" + std::string(name) + "' is a callback series");
  return *s.counter;
}

Gauge& Registry::gauge(std::string_view name, Labels labels) {
  Series& s = find_or_create(name, labels, Type::gauge, nullptr);
  if (!s.gauge) throw std::logic_error("metrics: '" + std::string(name) + "' is a callback series");
  return *s.gauge;
}

Histogram& Registry::histogram(std::string_view name, Labels labels, const std::vector<double>& buckets) {
  Series& s = find_or_create(name, labels, Type::histogram, &buckets);
  if (s.histogram->bounds() != buckets)
    throw std::logic_error("metrics: histogram '" + std::string(name) + "' already has other buckets");
  return *s.histogram;
}

void Registry::gauge_callback(std::string_view name, Labels labels, std::function<double()> fn) {
  Series& s = find_or_create(name, labels, Type::gauge, nullptr);
  std::unique_lock lk(mu_);
  s.gauge.reset();
  s.callback = std::move(fn);
}

void Registry::counter_callback(std::string_view name, Labels labels, std::function<double()> fn) {
  Series& s = find_or_create(name, labels, Type::counter, nullptr);
  std::unique_lock lk(mu_);
  s.counter.reset();
  s.callback = std::move(fn);
}

void Registry::remove_callback(std::string_view name, Labels labels) {
  std::string key;
  make_key(key, name, labels);
  std::unique_lock lk(mu_);
  auto it = series_.find(key);
  if (it != series_.end() && it->second->callback) series_.erase(it);
}

std::string Registry::render() const {
  struct Item {
    std::shared_ptr<Series> s;
    std::function<double()> callback;
  };
  std::vector<Item> items;
  std::map<std::string, Family, std::less<>> families;
  {
    std::shared_lock lk(mu_);
    items.reserve(series_.size());
    for (const auto& [k, s] : series_) items.push_back({s, s->callback});
    families = families_;
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.s->name != b.s->name) return a.s->name < b.s->name;
    return a.s->labels < b.s->labels;
  });

  std::string out;
  out.reserve(items.size() * 64 + 256);
  std::string_view current;
  for (const Item& it : items) {
    const Series& s = *it.s;
    double cb_value = 0;
    if (it.callback) {
      try {
        cb_value = it.callback();
      } catch (...) {
        continue;  // a failing callback drops its series from this scrape
      }
    }
    if (s.name != current) {
      current = s.name;
      auto fam = families.find(s.name);
      if (fam != families.end() && !fam->second.help.empty()) {
        out += "# HELP ";
        out += s.name;
        out += ' ';
        append_escaped(out, fam->second.help, false);
        out += '\n';
      }
      out += "# TYPE ";
      out += s.name;
      out += ' ';
      out += type_name(static_cast<int>(s.type));
      out += '\n';
    }
    if (s.type == Type::histogram) {
      const Histogram& h = *s.histogram;
      std::vector<std::uint64_t> counts = h.bucket_counts();
      std::uint64_t cumulative = 0;
      std::string le;
      for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        le.clear();
        if (i < h.bounds().size()) {
          append_double(le, h.bounds()[i]);
        } else {
          le = "+Inf";
        }
        out += s.name;
        out += "_bucket";
        append_labels(out, s.labels, "le", le);
        out += ' ';
        append_uint(out, cumulative);
        out += '\n';
      }
      out += s.name;
      out += "_sum";
      append_labels(out, s.labels);
      out += ' ';
      append_double(out, h.sum());
      out += '\n';
      out += s.name;
      out += "_count";
      append_labels(out, s.labels);
      out += ' ';
      append_uint(out, cumulative);  // == sum of the buckets read above: _count and +Inf always agree
      out += '\n';
      continue;
    }
    out += s.name;
    append_labels(out, s.labels);
    out += ' ';
    if (it.callback) {
      append_double(out, cb_value);
    } else if (s.counter) {
      append_uint(out, s.counter->value());
    } else if (s.gauge) {
      append_double(out, s.gauge->value());
    } else {
      append_double(out, 0);
    }
    out += '\n';
  }
  return out;
}

}  // namespace loki::webhook::metrics
