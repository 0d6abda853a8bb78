// git-repo-volume: the deprecated gitRepo volume makes the kubelet run `git`
// on the node, as root, on a repository the pod names: CVE-2024-10220 turned
// that into arbitrary command execution on the node (hooks in the cloned
// repository). Restricted forbids it (policy/check_restrictedVolumes.go lists
// spec.volumes[*].gitRepo); it gets a rule of its own because it is an escape
// at any level and agents are the pods most likely to want "a repo volume".
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void git_repo_volume(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_volume(ctx, [&](const nlohmann::json& v, const std::string& path, const std::string& name) {
    const auto* gr = pss::object_at(&v, "gitRepo");
    if (!gr) return;
    std::string repo = pss::string_at(gr, "repository").value_or("?");
    emit(out, path + "/gitRepo", std::nullopt,
         "volume \"" + name + "\" is a gitRepo volume (" + repo +
             "): the kubelet runs git as root on the node for it, arbitrary command execution on the node "
             "(CVE-2024-10220)",
         "replace the gitRepo volume \"" + name +
             "\" with an emptyDir filled by an init container that runs `git clone` (as non-root, in the pod)");
  });
}

}  // namespace

extern const Rule rule_git_repo_volume{
    "git-repo-volume",
    Severity::error,
    RuleScope::pod,
    "A volume is a gitRepo volume: deprecated, cloned by the kubelet as root on the node; a crafted repository "
    "runs commands on the node (CVE-2024-10220).",
    "Clone into an emptyDir from an init container instead.",
    git_repo_volume,
    "any `gitRepo` volume (CVE-2024-10220)"};

}  // namespace loki::checks
