// A rule's fix: the mutating webhook's repair of the rule's finding on a pod
// spec (see Rule::fix). Fixes are split per rule but run together in three
// steps, so they make the same single pass over the containers, and the same
// JSON Patch and change list, as the one mutate_pod they came from: every
// fix's `pod` step, then each container's `container` steps, then every
// `after` step, each step in ascending `order`.
#pragma once

#include <loki/config.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loki {

struct FixContext {
  nlohmann::json& spec;  // the pod spec being patched
  nlohmann::json& psc;   // spec.securityContext (an object; dropped again when left empty)
  const Config& config;
  std::vector<std::string>& changes;  // what was filled in, for the log and the annotation
  bool tmp_volume_needed = false;     // a container got the memory-backed /tmp mount

  // Each change once, in the order first made.
  void note(const std::string& what) {
    if (std::find(changes.begin(), changes.end(), what) == changes.end()) changes.push_back(what);
  }
};

struct Fix {
  int order = 0;
  void (*pod)(FixContext&) = nullptr;
  // `sc` is the container's securityContext (an object; dropped again when left empty).
  void (*container)(FixContext&, nlohmann::json& container, nlohmann::json& sc) = nullptr;
  void (*after)(FixContext&) = nullptr;
};

namespace fix {

// parent[key], replaced by an empty object unless it is one.
inline nlohmann::json& object_field(nlohmann::json& parent, const char* key) {
  nlohmann::json& v = parent[key];
  if (!v.is_object()) v = nlohmann::json::object();
  return v;
}

// Present and not null: the user chose a value, which a fix leaves alone.
inline bool is_set(const nlohmann::json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && !obj[key].is_null();
}

inline bool flag(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

// Every init and regular container object of a pod spec (ephemeral containers
// cannot be set at creation, so fixes never see them).
template <class Fn>
void for_each_container(nlohmann::json& spec, Fn&& fn) {
  for (const char* list : {"initContainers", "containers"}) {
    auto it = spec.find(list);
    if (it == spec.end() || !it->is_array()) continue;
    for (auto& c : *it)
      if (c.is_object()) fn(c);
  }
}

}  // namespace fix
}  // namespace loki
