// The typed admission responses (webhook/response.hpp): the JSON each
// constructor writes is what the API server reads.
#include <doctest/doctest.h>

#include "response.hpp"

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
