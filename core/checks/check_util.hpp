// Small helpers shared by the checks in this folder.
#pragma once

#include <loki/json_access.hpp>
#include <loki/rules.hpp>

#include <string>

namespace loki::checks {

// "container \"agent\"", "init container \"setup\"".
inline std::string describe(const ContainerRef& c) {
  return std::string(to_string(c.kind)) + " \"" + c.name + "\"";
}

// Where a container's securityContext field lives, for messages.
inline std::string where(const ContainerRef& c) {
  switch (c.kind) {
    case ContainerKind::init:
      return "initContainers[name=" + c.name + "].securityContext";
    case ContainerKind::ephemeral:
      return "ephemeralContainers[name=" + c.name + "].securityContext";
    default:
      return "containers[name=" + c.name + "].securityContext";
  }
}

// The runner (check_object) stamps the rule's id into each finding.
inline void emit(std::vector<RawFinding>& out, std::string field, std::optional<std::string> container,
                 std::string message, std::string remediation) {
  out.push_back({std::move(field), std::move(container), std::move(message), std::move(remediation)});
}

}  // namespace loki::checks
