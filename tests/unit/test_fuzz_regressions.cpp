// Replays tests/fuzz/regressions/<target>/ (inputs that once crashed a fuzz
// target) and the seed corpora through the fuzz targets' own entry functions,
// compiled here without libFuzzer: a fixed crash that comes back fails the
// normal build's tests. See tests/fuzz/README.md.
#define LOKI_FUZZ_REPLAY
#include "../fuzz/fuzz_admission.cpp"
#include "../fuzz/fuzz_kubeconfig.cpp"
#include "../fuzz/fuzz_manifest.cpp"
#include "../fuzz/fuzz_mutate_patch.cpp"
#include "../fuzz/fuzz_selector.cpp"

#include <doctest/doctest.h>

#include "source_dir.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Entry = int (*)(const std::uint8_t*, std::size_t);

// Every file of tests/fuzz/<kind>/<target>/ through `entry`; returns how many.
std::size_t replay(const std::string& kind, const std::string& target, Entry entry) {
  std::filesystem::path dir = loki_test::source_path("tests/fuzz") / kind / target;
  if (!std::filesystem::is_directory(dir)) return 0;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("input: ", f.string());
    CHECK(entry(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()) == 0);
  }
  return files.size();
}

void replay_target(const std::string& target, Entry entry) {
  replay("regressions", target, entry);
  CHECK(replay("corpus", target, entry) > 0);
}

}  // namespace

TEST_CASE("fuzz replay: manifest") {
  replay_target("manifest", loki_fuzz_manifest);
}
TEST_CASE("fuzz replay: admission") {
  replay_target("admission", loki_fuzz_admission);
}
TEST_CASE("fuzz replay: selector") {
  replay_target("selector", loki_fuzz_selector);
}
TEST_CASE("fuzz replay: kubeconfig") {
  replay_target("kubeconfig", loki_fuzz_kubeconfig);
}
TEST_CASE("fuzz replay: mutate_patch") {
  replay_target("mutate_patch", loki_fuzz_mutate_patch);
}
