// The typed admission responses (webhook/response.hpp): the JSON each
// constructor writes is what the API server reads.
#include <doctest/doctest.h>

#include "response.hpp"

#include <string>
#include <vector>

using loki::webhook::Response;
using nlohmann::json;

TEST_CASE("Response::Allowed: uid and allowed, no status without a message") {
  CHECK(Response::Allowed().to_json("u1") == json{{"uid", "u1"}, {"allowed", true}});
  CHECK(Response::Allowed("fine").to_json("u1") ==
        json{{"uid", "u1"}, {"allowed", true}, {"status", {{"code", 200}, {"message", "fine"}}}});
}

TEST_CASE("Response::Denied: 403 Forbidden with the message, warnings kept") {
  json j = Response::Denied("no").with_warnings({"w1", "w2"}).to_json("u2");
  CHECK(j == json{{"uid", "u2"},
                  {"allowed", false},
                  {"status", {{"code", 403}, {"reason", "Forbidden"}, {"message", "no"}}},
                  {"warnings", {"w1", "w2"}}});
}

TEST_CASE("Response::Patched: a base64 JSONPatch; empty warnings leave the field out") {
  json patch = json::array({{{"op", "add"}, {"path", "/a"}, {"value", 1}}});
  json j = Response::Patched(patch).with_warnings({}).to_json("u3");
  CHECK(j.at("allowed") == true);
  CHECK(j.at("patchType") == "JSONPatch");
  CHECK(j.at("patch") == "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d");
  CHECK_FALSE(j.contains("warnings"));
  CHECK_FALSE(j.contains("status"));
}

TEST_CASE("Response::write: the bytes of to_json(uid).dump(), escaping included") {
  const std::string odd =
      "quote \" backslash \\ nl \n tab \t cr \r bs \b ff \f ctl \x01\x1f del \x7f "
      "utf8 h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 slash /";
  std::vector<Response> all = {
      Response::Allowed(),
      Response::Allowed("fine"),
      Response::Allowed(odd),
      Response::Denied(odd).with_warnings({"w1", odd, ""}),
      Response::Denied("no"),
      Response::Patched(json::array({{{"op", "add"}, {"path", "/a"}, {"value", 1}}})).with_warnings({"patched"}),
      Response::Allowed().with_warnings({odd})};
  for (const auto& r : all)
    for (const std::string uid : {"u1", "", "u\"i\\d"}) {
      std::string out;
      REQUIRE(r.write(out, uid));
      CHECK(out == r.to_json(uid).dump());
    }
}

TEST_CASE("Response::write: refuses a string that is not UTF-8 (dump() throws on it)") {
  for (const std::string bad : {"\xff", "x\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    Response r = Response::Denied("cut: " + bad);
    std::string out;
    CHECK_FALSE(r.write(out, "u"));
    CHECK_THROWS_AS(r.to_json("u").dump(), json::type_error);
    std::string s;
    CHECK_FALSE(loki::webhook::append_json_string(s, bad));
  }
  std::string s;
  CHECK(loki::webhook::append_json_string(s, "\xf4\x8f\xbf\xbf"));  // U+10FFFF
  CHECK(s == json("\xf4\x8f\xbf\xbf").dump());
}
