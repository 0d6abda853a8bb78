// Prints the webhook's answers (mutate, then validate) to every review file
// given, under each config and cluster variant of the admission fuzz targets,
// so a refactoring can show the AdmissionReview responses are byte-identical
// (tests/refactor/snapshot.sh). A file that is not an AdmissionReview is taken
// as the object under review and wrapped in a CREATE review, as
// fuzz_mutate_patch does.
#include "../fuzz/admission_common.hpp"
#include "../lib/review_of.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace {

nlohmann::json review_of(const nlohmann::json& object) {
  return loki_test::review_of(object, "snapshot");
}

// The bytes loki-webhook sends (Decision::body); where a string is not UTF-8
// (body() throws there, as dump() always did), the review with the bad bytes
// replaced.
std::string body_of(const loki::webhook::Decision& d) {
  try {
    return d.body();
  } catch (const nlohmann::json::type_error&) {
    return d.review().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void print(const char* handler, const loki::webhook::Decision& d) {
  std::string rules;
  for (const auto& r : d.rules) rules += (rules.empty() ? "" : ",") + r;
  std::cout << handler << " decision=" << loki::webhook::to_string(d.decision) << " rules=" << rules
            << " patch=" << d.patch_summary << " findings=" << d.findings.size() << "\n"
            << body_of(d) << "\n";
}

template <class Fn>
void run(const char* handler, Fn&& fn) {
  try {
    print(handler, fn());
  } catch (const loki::webhook::BadReview& e) {
    std::cout << handler << " 400 " << e.what() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto body = loki::fuzz::parse_body(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    std::cout << "=== " << argv[i] << "\n";
    if (!body) {
      std::cout << "400 unparsable\n";
      continue;
    }
    if (body->is_object() && !body->contains("request")) *body = review_of(*body);
    for (std::uint32_t config = 0; config < 2; ++config)
      for (std::uint32_t cluster = 0; cluster < 3; ++cluster) {
        std::cout << "--- config " << config << " cluster " << cluster << "\n";
        const loki::Config& cfg = loki::fuzz::config_variant(config);
        auto view = loki::fuzz::cluster_variant(cluster);
        run("mutate", [&] { return loki::webhook::mutate(*body, cfg, view); });
        run("validate", [&] { return loki::webhook::validate(*body, cfg, view); });
      }
  }
}
