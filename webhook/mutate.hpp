// The mutating half: fill in what is safe to fill in on a loki-mode pod, as
// a JSON Patch (RFC 6902) with the operations nlohmann::json::diff would give.
#pragma once

#include <loki/config.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace loki::webhook {

inline constexpr std::string_view patched_annotation = "loki-guard.io/patched";

struct MutationResult {
  nlohmann::json patched;            // the object after the changes
  nlohmann::json patch;              // JSON Patch operations (empty array: nothing to do)
  std::vector<std::string> changes;  // what was filled in, for the log and the annotation
};

// Mutates a Pod (or, with `pod_spec_path`, the pod template of a workload).
// Never touches hostNetwork, hostPort, privileged, explicit runAsUser: 0,
// explicit Unconfined or added capabilities: those are refused by validation,
// not silently changed. Idempotent: mutating the result again yields an
// empty patch.
// JSON Patch (RFC 6902) from source to target: the same operations, in the
// same order, as nlohmann's json::diff (the oracle in tests/unit/test_admission.cpp),
// without its deep equality test at every level (one walk instead of one per
// depth: a third of a mutating review went there).
nlohmann::json json_patch_diff(const nlohmann::json& source, const nlohmann::json& target);

// `settled`: rules whose fix is not applied (what the cluster already
// settles for this pod, e.g. its ServiceAccount mounts no token).
MutationResult mutate_pod(const nlohmann::json& object, const std::string& spec_path, const std::string& meta_path,
                          const Config& config, const std::vector<std::string_view>& settled = {});

}  // namespace loki::webhook
