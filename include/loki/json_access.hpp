// Tolerant reads of Kubernetes objects held as JSON: absent fields and
// wrong types read as empty, so checks never throw on malformed input.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace loki
