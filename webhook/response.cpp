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
