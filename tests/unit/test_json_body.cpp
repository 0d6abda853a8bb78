// webhook/json_body.hpp: the review body read by Boost.JSON into the value
// nlohmann::json::parse gives, number types included, and nlohmann's verdict
// on what it refuses.
#include <doctest/doctest.h>

#include "json_body.hpp"

#include <string>
#include <vector>

using nlohmann::json;

namespace {

// Same verdict, value, type tree and bytes as json::parse.
void same_as_nlohmann(const std::string& text) {
  CAPTURE(text);
  json ours = loki::webhook::parse_body(text);
  json ref = json::parse(text, nullptr, false);
  REQUIRE(ours.is_discarded() == ref.is_discarded());
  if (ref.is_discarded()) return;
  CHECK(ours == ref);
  CHECK(ours.dump() == ref.dump());
  // json == json calls 1 and 1u equal: compare the types too.
  std::vector<json::value_t> a, b;
  auto types = [](const json& j, std::vector<json::value_t>& out, auto& self) -> void {
    out.push_back(j.type());
    if (j.is_structured())
      for (const auto& e : j) self(e, out, self);
  };
  types(ours, a, types);
  types(ref, b, types);
  CHECK(a == b);
}

}  // namespace

TEST_CASE("parse_body: numbers are read as nlohmann reads them, to the type") {
  for (const char* t : {"[0, -0, 1, -1, 9223372036854775807, 9223372036854775808, -9223372036854775808]",
                        "[18446744073709551615, 18446744073709551616, -9223372036854775809, 1e400, -1e400]",
                        "[0.1, 1.0, -0.0, 1e5, 1E-5, 2.5e-308, 1e-400, 4.9e-324, 3e-324, 0.30000000000000004]",
                        "[123456789012345678901234567890, 1.7976931348623157e308, 1.7976931348623159e308]",
                        R"({"runAsUser": 1000, "port": 443, "neg": -5, "f": 0.5})"}) {
    same_as_nlohmann(t);
    // Each number alone, as a document of its own.
    json ref = json::parse(t, nullptr, false);
    if (!ref.is_discarded() && ref.is_array())
      for (const auto& e : ref) same_as_nlohmann(e.dump());
  }
  CHECK(loki::webhook::parse_body("[1]")[0].is_number_unsigned());
  CHECK(loki::webhook::parse_body("[-1]")[0].is_number_integer());
  CHECK_FALSE(loki::webhook::parse_body("[-1]")[0].is_number_unsigned());
  CHECK(loki::webhook::parse_body("-0").is_number_integer());
}

TEST_CASE("parse_body: strings, keys, duplicates and nesting as nlohmann") {
  for (const char* t :
       {R"({"a": "x", "a": "y"})", R"({"k\"ey": "v\\al\nue\t\u0001\u00e9\ud83d\ude00"})",
        R"({"": "", "e": {}, "l": [], "n": null, "t": true, "f": false})",
        "{\"utf8\": \"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"}", R"([[[[[{"deep": [1, [2, [3]]]}]]]]])",
        "  {\"ws\" :\t[ 1 ,\n2 ] }\r\n ", R"("just a string")", "true", "null", "42"}) {
    same_as_nlohmann(t);
  }
  std::string long_string = "{\"s\": \"" + std::string(100000, 'x') + "\\n" + std::string(5000, 'y') + "\"}";
  same_as_nlohmann(long_string);
}

TEST_CASE("parse_body: what either parser refuses is refused (nlohmann's verdict)") {
  for (const char* t : {"",
                        " ",
                        "{",
                        "}",
                        "[1,]",
                        R"({"a":1,})",
                        R"({"a" 1})",
                        "{} {}",
                        "{}x",
                        "[1] 2",
                        "01",
                        "1.",
                        ".5",
                        "+1",
                        "-",
                        "1e",
                        "NaN",
                        "Infinity",
                        "[1e400]",
                        "\"\\ud800\"",
                        "\"\\udc00 x\"",
                        "\"\\x\"",
                        "\"tab\there\"",
                        "/* c */ {}",
                        "{} // c",
                        "[\"\xff\"]",
                        "[\"\xc0\xaf\"]",
                        "[\"\xed\xa0\x80\"]",
                        "[\"\xf4\x90\x80\x80\"]",
                        "[tru]",
                        "[nul]",
                        "'x'"}) {
    same_as_nlohmann(t);
  }
  CHECK(loki::webhook::parse_body("{\"a\":").is_discarded());
  CHECK(loki::webhook::parse_body("{} {}").is_discarded());
}

TEST_CASE("parse_body_fast: the fast path handles a review itself") {
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},)"
      R"("operation":"CREATE","object":{"spec":{"containers":[{"name":"c","securityContext":{"runAsUser":0}}]}}}})";
  json out;
  REQUIRE(loki::webhook::parse_body_fast(review, out));
  CHECK(out == json::parse(review));
  CHECK(out["request"]["object"]["spec"]["containers"][0]["securityContext"]["runAsUser"].is_number_unsigned());
  json bad;
  CHECK_FALSE(loki::webhook::parse_body_fast("{} {}", bad));
}
