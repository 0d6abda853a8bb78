// A minimal AdmissionReview (admission.k8s.io/v1, CREATE in namespace loki) around an object, for the
// tools that replay corpora through the admission handler: the mutate_patch fuzz target and the
// refactoring snapshot (tests/refactor/admission_snapshot.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace loki_test {

inline nlohmann::json review_of(const nlohmann::json& object, const std::string& who) {
  std::string kind = "Pod";
  if (auto k = object.find("kind"); k != object.end() && k->is_string() && !k->get<std::string>().empty())
    kind = k->get<std::string>();
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", who},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", kind}}},
            {"namespace", "loki"},
            {"operation", "CREATE"},
            {"userInfo", {{"username", who}}},
            {"object", object}}}};
}

}  // namespace loki_test
