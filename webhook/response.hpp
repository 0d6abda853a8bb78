// The response half of an AdmissionReview, as controller-runtime's
// admission.Response: made by Allowed/Denied/Patched, warnings added with
// with_warnings, and written once (to_json) instead of edited as raw JSON
// wherever a decision is taken.
#pragma once

#include <loki/json_text.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace loki::webhook {

using loki::append_json_string;  // include/loki/json_text.hpp

class Response {
 public:
  // Admitted; a non-empty message goes to status.message (code 200).
  static Response Allowed(std::string message = {});
  // Refused with 403 Forbidden and the message (kubectl prints it).
  static Response Denied(std::string message);
  // Admitted with a JSONPatch (base64 in the review, as the API expects).
  static Response Patched(const nlohmann::json& patch);

  // Warnings kubectl shows one per line; none leaves the field out.
  Response& with_warnings(std::vector<std::string> warnings);

  bool allowed() const { return allowed_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The review's "response" object for request `uid`.
  nlohmann::json to_json(const std::string& uid) const;
  // The same object written to `out` as to_json(uid).dump() writes it
  // (keys in order, nlohmann's escaping), without building it: false when
  // a string is not valid UTF-8 (dump() throws on it; callers fall back).
  bool write(std::string& out, const std::string& uid) const;

 private:
  bool allowed_ = true;
  int code_ = 0;  // 0: no status
  std::string reason_, message_;
  std::string patch_;  // base64 JSONPatch; empty: none
  std::vector<std::string> warnings_;
};

}  // namespace loki::webhook
