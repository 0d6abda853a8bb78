// Helpers for the Pod Security Standards rules (core/checks/pss_*.cpp and the
// agent escape-route rules): the places a securityContext can be set, the
// pod's volumes and annotations, JSON-pointer escaping.
// The controls themselves follow k8s.io/pod-security-admission policy/check_*.go.
#pragma once

#include "check_util.hpp"

#include <loki/json_access.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loki::checks::pss {

// The member `key` of `obj` if it is a JSON object.
inline const nlohmann::json* object_at(const nlohmann::json* obj, const char* key) {
  if (!obj || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() || !it->is_object() ? nullptr : &*it;
}

inline std::optional<std::string> string_at(const nlohmann::json* obj, const char* key) {
  if (!obj || !obj->is_object()) return std::nullopt;
  auto it = obj->find(key);
  if (it == obj->end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

inline std::optional<long long> int_at(const nlohmann::json* obj, const char* key) {
  if (!obj || !obj->is_object()) return std::nullopt;
  auto it = obj->find(key);
  if (it == obj->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<long long>();
}

// RFC 6901: annotation keys carry '/', which a JSON pointer spells ~1.
inline std::string pointer_escape(std::string_view key) {
  std::string out;
  detail::append_pointer_token(out, key);
  return out.substr(1);  // without the leading '/'
}

// One place a securityContext may be set: the pod's, or a container's
// (init, regular, ephemeral: the containers PSA's visitContainers walks).
struct ContextSite {
  const nlohmann::json* sc;       // the securityContext object
  std::string path;               // its JSON pointer
  const ContainerRef* container;  // null for the pod's
  std::string who;                // "the pod" / "container \"x\""
};

// Calls fn for the pod's securityContext and each container's, where present.
inline void for_each_security_context(const PodContext& ctx, const std::function<void(const ContextSite&)>& fn) {
  if (const auto* psc = object_at(ctx.pod.spec, "securityContext"))
    fn({psc, ctx.pod.spec_path + "/securityContext", nullptr, "the pod"});
  for (const auto& c : ctx.containers)
    if (const auto* csc = object_at(c.json, "securityContext")) fn({csc, c.path + "/securityContext", &c, describe(c)});
}

inline std::optional<std::string> container_name(const ContextSite& s) {
  if (!s.container) return std::nullopt;
  return s.container->name;
}

// The pod's volumes: (volume, JSON pointer, name).
inline void for_each_volume(
    const PodContext& ctx,
    const std::function<void(const nlohmann::json&, const std::string&, const std::string&)>& fn) {
  auto it = ctx.pod.spec->find("volumes");
  if (it == ctx.pod.spec->end() || !it->is_array()) return;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_object()) continue;
    std::string name = string_at(&v, "name").value_or("#" + std::to_string(i));
    fn(v, ctx.pod.spec_path + "/volumes/" + std::to_string(i), name);
  }
}

// The pod template's annotations (where the legacy AppArmor/seccomp ones live).
inline void for_each_annotation(
    const PodContext& ctx, const std::function<void(const std::string&, const std::string&, const std::string&)>& fn) {
  const auto* ann = object_at(ctx.pod.metadata, "annotations");
  if (!ann) return;
  for (auto it = ann->begin(); it != ann->end(); ++it)
    if (it->is_string())
      fn(it.key(), it->get<std::string>(), ctx.pod.metadata_path + "/annotations/" + pointer_escape(it.key()));
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "/var//run/./docker.sock/" -> "/var/run/docker.sock"; ".." pops a component
// (lexically, as the kernel resolves the path when no symlink is involved).
inline std::string normalize_path(std::string_view p) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    auto part = p.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto part : parts) out.append("/").append(part);
  return out.empty() ? "/" : out;
}

// `path` is `dir` or inside it (both normalized).
inline bool path_under(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path == dir || (starts_with(path, dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

// Each hostPath volume with a non-empty path: fn(normalized path, the volume's
// JSON pointer, its name). The runtime-socket and sensitive-path rules match on
// the normalized path, so `/var/run/../run/docker.sock` cannot slip past.
inline void for_each_host_path(
    const PodContext& ctx, const std::function<void(const std::string&, const std::string&, const std::string&)>& fn) {
  for_each_volume(ctx, [&](const nlohmann::json& v, const std::string& path, const std::string& name) {
    const auto* hp = object_at(&v, "hostPath");
    if (!hp) return;
    auto raw = string_at(hp, "path");
    if (!raw || raw->empty()) return;
    fn(normalize_path(*raw), path, name);
  });
}

}  // namespace loki::checks::pss
