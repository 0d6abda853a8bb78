// host-path-volume: a hostPath volume mounts a directory or file of the node
// into the pod. Pod Security Standard baseline control "HostPath Volumes"
// (pod-security-admission policy/check_hostPathVolumes.go: "HostPath volumes
// must be forbidden", spec.volumes[*].hostPath allowed only undefined/null).
// Runtime sockets and node paths get a named finding of their own
// (host-path-runtime-socket, host-path-sensitive) on top of this one.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void host_path_volume(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_volume(ctx, [&](const nlohmann::json& v, const std::string& path, const std::string& name) {
    const auto* hp = pss::object_at(&v, "hostPath");
    if (!hp) return;
    std::string host = pss::string_at(hp, "path").value_or("?");
    emit(out, path + "/hostPath", std::nullopt,
         "volume \"" + name + "\" mounts the node's " + host +
             " (hostPath): the agent reads and writes the node's filesystem outside the container",
         "replace the hostPath volume \"" + name +
             "\" with an emptyDir, a configMap/secret or a persistentVolumeClaim; a node path is never needed by an "
             "agent");
  });
}

}  // namespace

extern const Rule rule_host_path_volume{"host-path-volume",
                                        Severity::error,
                                        RuleScope::pod,
                                        "A volume is a hostPath: a file or directory of the node is mounted into "
                                        "the pod (Pod Security Standard baseline, \"HostPath Volumes\").",
                                        "Use emptyDir, configMap, secret or persistentVolumeClaim volumes instead.",
                                        host_path_volume,
                                        "any `hostPath` volume"};

}  // namespace loki::checks
