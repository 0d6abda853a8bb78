#include "response.hpp"

#include <loki/base64.hpp>

namespace loki::webhook {

using nlohmann::json;

Response Response::Allowed(std::string message) {
  Response r;
  if (!message.empty()) {
    r.code_ = 200;
    r.message_ = std::move(message);
  }
  return r;
}

Response Response::Denied(std::string message) {
  Response r;
  r.allowed_ = false;
  r.code_ = 403;
  r.reason_ = "Forbidden";
  r.message_ = std::move(message);
  return r;
}

Response Response::Patched(const json& patch) {
  Response r;
  r.patch_ = base64_encode(patch.dump());
  return r;
}

Response& Response::with_warnings(std::vector<std::string> warnings) {
  warnings_ = std::move(warnings);
  return *this;
}

bool Response::write(std::string& out, const std::string& uid) const {
  // std::map order, as to_json(uid).dump(): allowed, patch, patchType, status, uid, warnings.
  out += allowed_ ? R"({"allowed":true)" : R"({"allowed":false)";
  if (!patch_.empty()) {
    out += R"(,"patch":)";
    if (!append_json_string(out, patch_)) return false;
    out += R"(,"patchType":"JSONPatch")";
  }
  if (code_ != 0) {
    out += R"(,"status":{"code":)";
    out += std::to_string(code_);
    out += R"(,"message":)";
    if (!append_json_string(out, message_)) return false;
    if (!reason_.empty()) {
      out += R"(,"reason":)";
      if (!append_json_string(out, reason_)) return false;
    }
    out += '}';
  }
  out += R"(,"uid":)";
  if (!append_json_string(out, uid)) return false;
  if (!warnings_.empty()) {
    out += R"(,"warnings":[)";
    for (std::size_t i = 0; i < warnings_.size(); ++i) {
      if (i) out += ',';
      if (!append_json_string(out, warnings_[i])) return false;
    }
    out += ']';
  }
  out += '}';
  return true;
}

json Response::to_json(const std::string& uid) const {
  json out = {{"uid", uid}, {"allowed", allowed_}};
  if (code_ != 0) {
    json status = {{"code", code_}, {"message", message_}};
    if (!reason_.empty()) status["reason"] = reason_;
    out["status"] = std::move(status);
  }
  if (!warnings_.empty()) out["warnings"] = warnings_;
  if (!patch_.empty()) {
    out["patchType"] = "JSONPatch";
    out["patch"] = patch_;
  }
  return out;
}

}  // namespace loki::webhook
