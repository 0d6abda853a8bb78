#include <loki/finding_store.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace loki {

namespace {
constexpr std::size_t kArenaChunk = 1 << 20;
}

std::uint32_t FindingStore::Pool::intern(std::string_view s) {
  if (table_.empty() || (strings_.size() + 1) * 2 > table_.size()) grow_table();
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = std::hash<std::string_view>{}(s)&mask;; i = (i + 1) & mask) {
    std::uint32_t slot = table_[i];
    if (slot == 0) {
      strings_.push_back(keep(s));
      auto id = static_cast<std::uint32_t>(strings_.size() - 1);
      table_[i] = id + 1;
      return id;
    }
    if (strings_[slot - 1] == s) return slot - 1;
  }
}

void FindingStore::Pool::grow_table() {
  std::vector<std::uint32_t> table(std::max<std::size_t>(1024, table_.size() * 2), 0);
  const std::size_t mask = table.size() - 1;
  for (std::uint32_t id = 0; id < strings_.size(); ++id) {
    std::size_t i = std::hash<std::string_view>{}(strings_[id]) & mask;
    while (table[i] != 0) i = (i + 1) & mask;
    table[i] = id + 1;
  }
  table_ = std::move(table);
}

namespace {
// Every id reaches the low bits the table uses: the same name in 32
// namespaces once landed in one slot (the namespace id only reached bit 24
// and up), and probing the chains took 5 % of a lint.
std::size_t object_hash(std::uint32_t api_version, std::uint32_t kind, std::uint32_t ns, std::uint32_t name) {
  constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = (((std::uint64_t{api_version} * k + kind) * k + ns) * k + name) * k;
  return static_cast<std::size_t>(h ^ (h >> 32));
}
}  // namespace

std::uint32_t FindingStore::intern_object(const ObjectRef& o) {
  const ObjectIds ids{intern(o.apiVersion), intern(o.kind), intern(o.ns), intern(o.name)};
  if (object_table_.empty() || (objects_.size() + 1) * 2 > object_table_.size()) {
    std::vector<std::uint32_t> table(std::max<std::size_t>(1024, object_table_.size() * 2), 0);
    const std::size_t mask = table.size() - 1;
    for (std::uint32_t id = 0; id < objects_.size(); ++id) {
      const ObjectIds& x = objects_[id];
      std::size_t i = object_hash(x.api_version, x.kind, x.ns, x.name) & mask;
      while (table[i] != 0) i = (i + 1) & mask;
      table[i] = id + 1;
    }
    object_table_ = std::move(table);
  }
  const std::size_t mask = object_table_.size() - 1;
  for (std::size_t i = object_hash(ids.api_version, ids.kind, ids.ns, ids.name) & mask;; i = (i + 1) & mask) {
    const std::uint32_t slot = object_table_[i];
    if (slot == 0) {
      objects_.push_back(ids);
      const auto id = static_cast<std::uint32_t>(objects_.size() - 1);
      object_table_[i] = id + 1;
      return id;
    }
    const ObjectIds& x = objects_[slot - 1];
    if (x.api_version == ids.api_version && x.kind == ids.kind && x.ns == ids.ns && x.name == ids.name) return slot - 1;
  }
}

std::string_view FindingStore::Pool::keep(std::string_view s) {
  bytes_ += s.size();
  if (s.empty()) return {};
  if (s.size() > arena_left_) {
    // Chunks never move, so the views handed out stay valid; a string
    // larger than a chunk gets a chunk of its own.
    std::size_t n = std::max(kArenaChunk, s.size());
    arena_.push_back(std::make_unique<char[]>(n));
    arena_next_ = arena_.back().get();
    arena_left_ = n;
  }
  char* p = arena_next_;
  std::memcpy(p, s.data(), s.size());
  arena_next_ += s.size();
  arena_left_ -= s.size();
  return {p, s.size()};
}

namespace {
// Where a long text is cut: after a line break, a comma (and its space), or
// ". ", "; ", ": ". A network finding names the pod's labels and policies
// in its message and again in its remediation, so the whole texts seldom
// repeat while these clauses and labels do (100k generated objects,
// --all-pods: 28.5 MB of distinct text whole, 17.3 MB as pieces).
bool cut_char(char c) {
  return c == '\n' || c == ',' || c == '.' || c == ';' || c == ':';
}

// The first of '\n' , . ; : at or after `i`, or s.size(); 16 bytes at a
// time where SSE2 is there (a byte loop here cost 2 % of a lint).
std::size_t next_cut_char(std::string_view s, std::size_t i) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n'), comma = _mm_set1_epi8(','), dot = _mm_set1_epi8('.'),
                semi = _mm_set1_epi8(';'), colon = _mm_set1_epi8(':');
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, comma)),
                                                  _mm_or_si128(_mm_cmpeq_epi8(v, dot), _mm_cmpeq_epi8(v, semi))),
                                     _mm_cmpeq_epi8(v, colon));
    if (const auto bits = static_cast<unsigned>(_mm_movemask_epi8(hit)))
      return i + static_cast<std::size_t>(__builtin_ctz(bits));
  }
#endif
  while (i < s.size() && !cut_char(s[i])) ++i;
  return i;
}

std::size_t piece_end(std::string_view s, std::size_t at) {
  for (std::size_t i = next_cut_char(s, at); i < s.size(); i = next_cut_char(s, i + 1)) {
    const bool spaced = i + 1 < s.size() && s[i + 1] == ' ';
    if (s[i] == '\n') return i + 1;
    if (s[i] == ',') return spaced ? i + 2 : i + 1;
    if (spaced) return i + 2;  // ". ", "; ", ": "
  }
  return s.size();
}
}  // namespace

std::uint32_t FindingStore::intern_text(std::string_view s) {
  if (s.size() < kSplitAt) {
    const std::uint32_t id = intern(s);
    if (id & kLines) throw std::length_error("FindingStore: too many distinct texts");
    return id;
  }
  // Reused: a text of a dozen pieces per finding would otherwise allocate
  // every time.
  thread_local std::vector<std::uint32_t> ids;
  ids.clear();
  for (std::size_t at = 0; at < s.size();) {
    const std::size_t end = piece_end(s, at);
    ids.push_back(intern(s.substr(at, end - at)));
    at = end;
  }
  if (ids.size() == 1 && !(ids[0] & kLines)) return ids[0];  // nowhere to cut: kept whole
  const std::uint32_t id =
      lines_.intern({reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(std::uint32_t)});
  // kLines | 0x7fffffff would read as `none`.
  if (id >= kLines - 1) throw std::length_error("FindingStore: too many distinct texts");
  return id | kLines;
}

std::string FindingStore::text(std::uint32_t id) const {
  if (!(id & kLines)) return std::string(strings_[id]);
  const std::string_view bytes = lines_[id & ~kLines];
  std::string out;
  std::uint32_t line;
  std::size_t size = 0;
  for (std::size_t at = 0; at < bytes.size(); at += sizeof line) {
    std::memcpy(&line, bytes.data() + at, sizeof line);
    size += strings_[line].size();
  }
  out.reserve(size);
  for (std::size_t at = 0; at < bytes.size(); at += sizeof line) {
    std::memcpy(&line, bytes.data() + at, sizeof line);
    out += strings_[line];
  }
  return out;
}

void FindingStore::add(Finding&& f, std::uint64_t order) {
  Rec r{};
  r.order = order;
  r.message = intern_text(f.message);
  r.field = intern(f.field);
  r.rule = intern(f.rule);
  r.file = intern(f.file);
  r.object = intern_object(f.object);
  r.container = f.container ? intern(*f.container) : none;
  r.remediation = intern_text(f.remediation);
  r.reason = f.suppression_reason.empty() ? none : intern_text(f.suppression_reason);
  r.line = f.line;
  r.severity = f.severity;
  r.suppressed = f.suppressed;
  recs_.push_back(r);
}

void FindingStore::add(std::vector<Finding>&& fs, std::uint64_t order) {
  for (auto& f : fs) add(std::move(f), order);
  std::vector<Finding>().swap(fs);
}

Finding FindingStore::operator[](std::size_t i) const {
  return build(recs_[i]);
}

Finding FindingStore::build(const Rec& r) const {
  const ObjectIds& o = objects_[r.object];
  Finding f;
  f.rule = strings_[r.rule];
  f.severity = r.severity;
  f.object = ObjectRef{std::string(strings_[o.api_version]), std::string(strings_[o.kind]), std::string(strings_[o.ns]),
                       std::string(strings_[o.name])};
  if (r.container != none) f.container = std::string(strings_[r.container]);
  f.file = strings_[r.file];
  f.line = r.line;
  f.message = text(r.message);
  f.remediation = text(r.remediation);
  f.suppressed = r.suppressed;
  if (r.reason != none) f.suppression_reason = text(r.reason);
  f.field = strings_[r.field];
  return f;
}

void FindingStore::sort(unsigned threads) {
  // The key of sort_findings (file, line, kind, ns, name, rule, container),
  // compared through the interned strings; `order` last.
  auto less = [this](const Rec& a, const Rec& b) {
    if (a.file != b.file) return strings_[a.file] < strings_[b.file];
    if (a.line != b.line) return a.line < b.line;
    const ObjectIds& x = objects_[a.object];
    const ObjectIds& y = objects_[b.object];
    if (x.kind != y.kind) return strings_[x.kind] < strings_[y.kind];
    if (x.ns != y.ns) return strings_[x.ns] < strings_[y.ns];
    if (x.name != y.name) return strings_[x.name] < strings_[y.name];
    if (a.rule != b.rule) return strings_[a.rule] < strings_[b.rule];
    if (a.container != b.container) {
      if (a.container == none || b.container == none) return a.container == none;  // nullopt first
      return strings_[a.container] < strings_[b.container];
    }
    return a.order < b.order;
  };
  // A stable sort's result is unique (equal records keep their order), so the
  // halves sorted on two threads and merged stably give the same order.
  if (threads <= 1 || recs_.size() < 16384) {
    std::stable_sort(recs_.begin(), recs_.end(), less);
    return;
  }
  const auto mid = recs_.begin() + static_cast<std::ptrdiff_t>(recs_.size() / 2);
  {
    std::jthread first([&] { std::stable_sort(recs_.begin(), mid, less); });
    std::stable_sort(mid, recs_.end(), less);
  }
  std::inplace_merge(recs_.begin(), mid, recs_.end(), less);
}

std::vector<Finding> FindingStore::to_vector() const {
  std::vector<Finding> out;
  out.reserve(recs_.size());
  for (std::size_t i = 0; i < recs_.size(); ++i) out.push_back((*this)[i]);
  return out;
}

}  // namespace loki
