// restricted-volume-type: a volume of a type the restricted Pod Security
// Standard does not allow. policy/check_restrictedVolumes.go (v0.36.3):
// "the restricted profile limits usage of inline pod volume sources to:
// configMap, downwardAPI, emptyDir, projected, secret, csi,
// persistentVolumeClaim, ephemeral, image". Network and cloud disk types (nfs,
// iscsi, rbd, cephfs, flexVolume, ...) are mounted by the node with the pod's
// parameters; flexVolume even runs a driver binary on the node.
// hostPath and gitRepo have rules of their own (host-path-volume,
// git-repo-volume) and are not repeated here. loki-guard applies this control
// to every agent pod, whatever the namespace's level.
#include "pss_util.hpp"

#include <array>

namespace loki::checks {
namespace {

constexpr std::array<std::string_view, 9> allowed = {"configMap", "csi",   "downwardAPI",           "emptyDir",
                                                     "ephemeral", "image", "persistentVolumeClaim", "projected",
                                                     "secret"};

bool is_allowed(std::string_view type) {
  for (auto a : allowed)
    if (a == type) return true;
  return false;
}

void restricted_volume_type(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_volume(ctx, [&](const nlohmann::json& v, const std::string& path, const std::string& name) {
    // A volume is its name plus one source; a volume with no source is
    // defaulted to emptyDir by the API server.
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& type = it.key();
      if (type == "name" || is_allowed(type) || type == "hostPath" || type == "gitRepo") continue;
      emit(out, path + "/" + pss::pointer_escape(type), std::nullopt,
           "volume \"" + name + "\" uses the restricted volume type " + type +
               ": mounted by the node with the pod's parameters (restricted allows only configMap, csi, "
               "downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret)",
           "move the storage behind a PersistentVolume and mount it through a persistentVolumeClaim (or use csi); "
           "an admin then owns the " +
               type + " parameters");
    }
  });
}

}  // namespace

extern const Rule rule_restricted_volume_type{
    "restricted-volume-type",
    Severity::error,
    RuleScope::pod,
    "A volume uses a type that the restricted Pod Security Standard forbids (nfs, iscsi, rbd, cephfs, "
    "flexVolume, cloud disks, ...): only configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
    "persistentVolumeClaim, projected and secret are allowed. hostPath and gitRepo are reported by their own rules.",
    "Mount the storage through a persistentVolumeClaim (or csi) that an admin provisions.",
    restricted_volume_type,
    "a volume type other than configMap, csi, downwardAPI, emptyDir, ephemeral, image, PVC, projected, secret"};

}  // namespace loki::checks
