// The floor under `loki-audit lint`: libyaml's bare event parse of a file,
// split at "---" lines and parsed on N threads exactly as the loader does,
// building nothing. bench/lint_bench.py runs it next to loki-audit so the gap
// to the parser is measured in the same run.
//   loki-yaml-floor FILE [THREADS]    prints documents and seconds
#include <yaml.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

namespace {

bool marker(std::string_view t, std::size_t pos) {
  if (t.size() < pos + 3 || t.compare(pos, 3, "---") != 0) return false;
  if (pos + 3 == t.size()) return true;
  char n = t[pos + 3];
  return n == ' ' || n == '\t' || n == '\n' || n == '\r';
}

// Events of one document; returns whether it held a node.
bool parse(std::string_view text) {
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  bool any = false;
  for (;;) {
    yaml_event_t e;
    if (!yaml_parser_parse(&p, &e)) break;
    const bool end = e.type == YAML_STREAM_END_EVENT;
    any |= e.type == YAML_MAPPING_START_EVENT;
    yaml_event_delete(&e);
    if (end) break;
  }
  yaml_parser_delete(&p);
  return any;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: loki-yaml-floor FILE [THREADS]\n");
    return 2;
  }
  unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : std::thread::hardware_concurrency();
  int fd = ::open(argv[1], O_RDONLY);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return 1;
  auto* m = static_cast<const char*>(::mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0));
  std::string_view text(m, st.st_size);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string_view> docs;
  std::size_t start = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (pos != start && marker(text, pos)) {
      docs.push_back(text.substr(start, pos - start));
      start = pos;
    }
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (start < text.size()) docs.push_back(text.substr(start));
  std::atomic<std::size_t> next{0}, objects{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < docs.size();)
      if (parse(docs[i])) objects.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu %.4f\n", objects.load(), s);
  return 0;
}
