// One fuzz target per file: LOKI_FUZZ_TARGET(name) opens its entry function.
//
// Built for libFuzzer (tests/fuzz/fuzz.cmake, LOKI_FUZZ=ON) it is
// LLVMFuzzerTestOneInput; with LOKI_FUZZ_REPLAY defined (the regression replay
// in the unit tests, tests/unit/test_fuzz_regressions.cpp) it is a plain
// function loki_fuzz_<name>(data, size), so the same code replays
// tests/fuzz/regressions/<name>/ in the normal build without libFuzzer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#ifdef LOKI_FUZZ_REPLAY
#define LOKI_FUZZ_TARGET(name) int loki_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define LOKI_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace loki::fuzz {

// A broken property: print it and abort, which libFuzzer (and the replay) reports as a crash.
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "loki-fuzz: property violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// A deterministic choice from the input (FNV-1a), for picking configs without
// spending input bytes on them.
inline std::uint32_t input_hash(const std::uint8_t* data, std::size_t size) {
  std::uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 16777619u;
  return h;
}

}  // namespace loki::fuzz
