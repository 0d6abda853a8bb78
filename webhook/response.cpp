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

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7, what
// nlohmann's decoder accepts), 0 when there is none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    // Runs that need no escaping (the whole of a base64 patch) are copied at once.
    std::size_t run = i;
    while (run < s.size()) {
      const auto r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) return false;
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return true;
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
