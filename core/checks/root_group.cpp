// root-group: the pod or a container runs with group 0 (runAsGroup: 0), has
// its volumes chowned to group 0 (fsGroup: 0), or gets group 0 as a
// supplemental group. Not a control of the Pod Security Standards, which only
// look at the user: with GID 0 a non-root agent still writes every file the
// image or a volume leaves group-root-writable (a common image convention), and
// fsGroup 0 makes the kubelet hand every volume to group root.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void root_group(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_security_context(ctx, [&](const pss::ContextSite& s) {
    const std::string fix = "set a non-zero group in " +
                            (s.container ? where(*s.container) : std::string("the pod's securityContext")) +
                            ", e.g. runAsGroup: 1000 and fsGroup: 1000";
    if (auto g = pss::int_at(s.sc, "runAsGroup"); g && *g == 0)
      emit(out, s.path + "/runAsGroup", pss::container_name(s),
           s.who + " runs with group root (runAsGroup: 0): every group-root-writable file is writable", fix);
    if (s.container) return;  // fsGroup and supplementalGroups are pod-level only
    if (auto g = pss::int_at(s.sc, "fsGroup"); g && *g == 0)
      emit(out, s.path + "/fsGroup", std::nullopt,
           "the pod sets fsGroup: 0: the kubelet gives every volume to group root and adds it to every container", fix);
    auto sup = s.sc->find("supplementalGroups");
    if (sup == s.sc->end() || !sup->is_array()) return;
    for (std::size_t i = 0; i < sup->size(); ++i)
      if ((*sup)[i].is_number_integer() && (*sup)[i].get<long long>() == 0)
        emit(out, s.path + "/supplementalGroups/" + std::to_string(i), std::nullopt,
             "the pod adds group root (0) to supplementalGroups of every container",
             "remove 0 from supplementalGroups");
  });
}

}  // namespace

extern const Rule rule_root_group{"root-group",
                                  Severity::error,
                                  RuleScope::pod,
                                  "The pod or a container runs with group root: `runAsGroup: 0`, `fsGroup: 0` or "
                                  "0 in `supplementalGroups` (not in the Pod Security Standards, which check only "
                                  "the user).",
                                  "Use a non-zero runAsGroup and fsGroup; never add group 0.",
                                  root_group,
                                  "`runAsGroup: 0`, `fsGroup: 0` or 0 in `supplementalGroups`"};

}  // namespace loki::checks
