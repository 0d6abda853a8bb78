// Tolerant reads of Kubernetes objects held as JSON: absent fields and
// wrong types read as empty, so checks never throw on malformed input.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace loki {

// obj[key] when obj is a mapping and the value a string; else "".
inline std::string string_field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// obj[key] when obj is a mapping and the value a mapping; else an empty mapping.
inline const nlohmann::json& mapping_field(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (!obj.is_object()) return empty;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : empty;
}

// obj[key] when obj is a mapping and the value is present and not null; else nullptr.
inline const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// obj[key] when a boolean; else nullopt.
inline std::optional<bool> bool_field(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = member(obj, key);
  return v && v->is_boolean() ? std::optional<bool>(v->get<bool>()) : std::nullopt;
}

// obj[key] is the boolean true.
inline bool is_true(const nlohmann::json& obj, const char* key) {
  return bool_field(obj, key).value_or(false);
}

// Empty or only whitespace (an ignore reason that says nothing).
inline bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

namespace detail {
// Appends "/" and one JSON Pointer reference token: "~" -> "~0", "/" -> "~1"
// (RFC 6901 section 4). Defined in core/yaml_json.cpp.
void append_pointer_token(std::string& pointer, std::string_view token);
}  // namespace detail

}  // namespace loki
