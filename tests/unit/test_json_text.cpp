// append_json_string against its oracle, nlohmann::json::dump(): the same
// bytes for every string dump() accepts, and false for every one it refuses.
// The 16-byte scan must find a special byte at any offset of any block.
#include <doctest/doctest.h>
#include <loki/json_access.hpp>
#include <loki/json_text.hpp>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

using nlohmann::json;

namespace {
// dump()'s answer, or nullopt-like "" marker when it throws on invalid UTF-8.
bool dump_of(const std::string& s, std::string& out) {
  try {
    out = json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}
}  // namespace

TEST_CASE("append_json_string writes what dump() writes, at every offset") {
  // Each special byte at each position of strings spanning one to three blocks.
  const std::string specials[] = {
      "\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3"};
  int compared = 0;
  for (std::size_t len : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 47u}) {
    for (std::size_t pos = 0; pos <= len; ++pos)
      for (const auto& sp : specials) {
        std::string s(len, 'a');
        s.insert(pos, sp);
        std::string want, got;
        const bool ok = dump_of(s, want);
        INFO("len " << len << " pos " << pos);
        CHECK(loki::append_json_string(got, s) == ok);
        if (ok) CHECK(got == want);
        ++compared;
      }
  }
  CHECK(compared > 2000);
}

TEST_CASE("append_json_string: random byte strings agree with dump()") {
  std::mt19937 rng(20261203);
  // Mostly printable ASCII with some of everything else, as findings are.
  std::uniform_int_distribution<int> pick(0, 99), any(0, 255), printable(0x20, 0x7e);
  int valid = 0, invalid = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string s(static_cast<std::size_t>(pick(rng)), ' ');
    for (auto& c : s) c = static_cast<char>(pick(rng) < 90 ? printable(rng) : any(rng));
    std::string want, got = "prefix";
    const bool ok = dump_of(s, want);
    REQUIRE(loki::append_json_string(got, s) == ok);
    if (ok) {
      CHECK(got == "prefix" + want);
      ++valid;
    } else {
      ++invalid;
    }
  }
  CHECK(valid > 1000);
  CHECK(invalid > 1000);
}

TEST_CASE("append_pointer_token escapes as RFC 6901 (nlohmann::json_pointer as the oracle)") {
  // "transforming any occurrence of the sequence '~' to '~0' and '/' to '~1'" (RFC 6901, section 3/4).
  std::mt19937 rng(6901);
  std::uniform_int_distribution<int> len(0, 24), pick(0, 9);
  const char alphabet[] = {'a', 'b', '~', '/', '0', '1', '.', '-', 'z', '~'};
  for (int n = 0; n < 5000; ++n) {
    std::string token(static_cast<std::size_t>(len(rng)), 'a');
    for (auto& c : token) c = alphabet[pick(rng)];
    std::string got = "/spec";
    loki::detail::append_pointer_token(got, token);
    const json::json_pointer want = json::json_pointer("/spec") / token;
    REQUIRE(got == want.to_string());
  }
}
