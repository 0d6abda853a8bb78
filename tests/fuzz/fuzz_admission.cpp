// loki::webhook::validate and mutate on request bodies parsed exactly as
// loki-webhook parses them. BadReview is the webhook's 400; anything else
// escaping (or a crash) is a bug. The decision must be a well-formed review.
#include "admission_common.hpp"
#include "fuzz_target.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace fuzz_admission {

void check_decision(const loki::webhook::Decision& d, const char* handler) {
  const nlohmann::json r = d.review();
  if (!r.is_object() || !r.contains("response") || !r["response"].is_object() || !r["response"].contains("allowed") ||
      !r["response"]["allowed"].is_boolean())
    loki::fuzz::fail(std::string(handler) + ": malformed AdmissionReview response: " + r.dump());
  (void)r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // What the webhook sends: the direct writer's bytes are dump()'s.
  std::string dumped;
  try {
    dumped = r.dump();
  } catch (const nlohmann::json::type_error&) {
    return;  // invalid UTF-8: body() throws the same
  }
  if (d.body() != dumped) loki::fuzz::fail(std::string(handler) + ": body() differs from dump(): " + d.body());
}

}  // namespace fuzz_admission

LOKI_FUZZ_TARGET(admission) {
  auto body = loki::fuzz::parse_body(data, size);
  if (!body) return 0;
  std::uint32_t h = loki::fuzz::input_hash(data, size);
  const loki::Config& config = loki::fuzz::config_variant(h);
  loki::webhook::ClusterView view = loki::fuzz::cluster_variant(h >> 1);
  try {
    fuzz_admission::check_decision(loki::webhook::mutate(*body, config, view), "mutate");
  } catch (const loki::webhook::BadReview&) {
  }
  try {
    fuzz_admission::check_decision(loki::webhook::validate(std::move(*body), config, view), "validate");
  } catch (const loki::webhook::BadReview&) {
  }
  return 0;
}
