// The JSON Patch generator's property: for any object, the patch that mutate
// returns applies cleanly (json::patch) to request.object, and mutating the
// patched object again returns no patch (the webhook converges under
// reinvocationPolicy: IfNeeded).
//
// The input is the object under review (a Pod or a workload, as JSON); the
// harness wraps it in a CREATE AdmissionReview so no input is spent on the envelope.
#include <loki/base64.hpp>
#include "../lib/review_of.hpp"

#include "admission_common.hpp"
#include "fuzz_target.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace fuzz_mutate_patch {

nlohmann::json review_of(const nlohmann::json& object) {
  return loki_test::review_of(object, "fuzz");
}

// The patch a decision carries, decoded; an empty array when it carries none.
nlohmann::json patch_of(const loki::webhook::Decision& d) {
  const nlohmann::json resp = d.review()["response"];
  auto p = resp.find("patch");
  if (p == resp.end()) return nlohmann::json::array();
  if (!p->is_string()) loki::fuzz::fail("response.patch is not a string");
  auto text = loki::base64_decode(p->get<std::string>());
  if (!text) loki::fuzz::fail("response.patch is not base64");
  auto patch = nlohmann::json::parse(*text, nullptr, false);
  if (!patch.is_array()) loki::fuzz::fail("response.patch is not a JSON array: " + *text);
  return patch;
}

}  // namespace fuzz_mutate_patch

LOKI_FUZZ_TARGET(mutate_patch) {
  auto object = loki::fuzz::parse_body(data, size);
  if (!object || !object->is_object()) return 0;
  std::uint32_t h = loki::fuzz::input_hash(data, size);
  const loki::Config& config = loki::fuzz::config_variant(h);
  loki::webhook::ClusterView view = loki::fuzz::cluster_variant(1);  // available, mode from the config

  using fuzz_mutate_patch::patch_of;
  using fuzz_mutate_patch::review_of;
  nlohmann::json review = review_of(*object);
  loki::webhook::Decision first;
  try {
    first = loki::webhook::mutate(review, config, view);
  } catch (const loki::webhook::BadReview&) {
    return 0;
  }
  nlohmann::json patch = patch_of(first);
  if (patch.empty()) return 0;
  if (first.decision != "patch") loki::fuzz::fail("a patch with decision " + first.decision);

  nlohmann::json patched;
  try {
    patched = object->patch(patch);
  } catch (const nlohmann::json::exception& e) {
    loki::fuzz::fail(std::string("the patch does not apply: ") + e.what() + "\npatch: " + patch.dump() +
                     "\nobject: " + object->dump());
  }
  // What the API server stores and sends back on reinvocation: the patched
  // object as JSON text.
  auto reparsed = nlohmann::json::parse(patched.dump(), nullptr, false);
  if (reparsed.is_discarded() || !reparsed.is_object()) loki::fuzz::fail("patched object does not round-trip");

  loki::webhook::Decision second;
  try {
    second = loki::webhook::mutate(review_of(reparsed), config, view);
  } catch (const loki::webhook::BadReview& e) {
    loki::fuzz::fail(std::string("the patched object is a bad review: ") + e.what());
  }
  nlohmann::json again = patch_of(second);
  if (!again.empty())
    loki::fuzz::fail("mutate is not idempotent: second patch " + again.dump() + "\nfirst patch: " + patch.dump() +
                     "\nobject: " + object->dump());
  return 0;
}
