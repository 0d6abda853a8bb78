// writable-root-fs: readOnlyRootFilesystem is container-only (not inherited
// from the pod), so each container must set it.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void writable_root_fs(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto sc = effective_security_context(ctx.pod, c);
    if (sc.readOnlyRootFilesystem.value_or(false)) continue;
    std::string field = sc.readOnlyRootFilesystem ? c.path + "/securityContext/readOnlyRootFilesystem" : c.path;
    emit(out, field, c.name,
         describe(c) +
             " has a writable root filesystem (readOnlyRootFilesystem is not true): the agent can "
             "modify its own image and drop tools into it",
         "set `readOnlyRootFilesystem: true` in " + where(c) +
             " and mount an emptyDir where it must write:\n  volumeMounts:\n  - name: tmp\n    mountPath: /tmp\n"
             "volumes:\n- name: tmp\n  emptyDir:\n    medium: Memory\n    sizeLimit: 256Mi");
  }
}

}  // namespace

extern const Rule rule_writable_root_fs{"writable-root-fs",
                                        Severity::error,
                                        RuleScope::pod,
                                        "A container's root filesystem is writable.",
                                        "Set `readOnlyRootFilesystem: true` and mount an emptyDir at /tmp.",
                                        writable_root_fs,
                                        "`readOnlyRootFilesystem` not true (container-only field)",
                                        RuleSubject::pod_template,
                                        Action::patch};

}  // namespace loki::checks
