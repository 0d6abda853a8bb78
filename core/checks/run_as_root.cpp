// run-as-root: effective runAsUser 0, or nothing that forces a non-root user
// (runAsNonRoot not true and no non-zero runAsUser), so the image's USER,
// often root, decides. runAsNonRoot/runAsUser inherit from the pod.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void run_as_root(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto sc = effective_security_context(ctx.pod, c);
    if (sc.runAsUser && *sc.runAsUser == 0) {
      emit(out, sc.runAsUserPath, c.name, describe(c) + " runs as root (runAsUser: 0)",
           "set `runAsUser: 1000` (any non-zero UID) and `runAsNonRoot: true` in the pod's securityContext");
      continue;
    }
    if (sc.runAsNonRoot.value_or(false) || (sc.runAsUser && *sc.runAsUser > 0)) continue;
    std::string field = sc.runAsNonRoot ? sc.runAsNonRootPath : c.path;
    emit(out, field, c.name,
         describe(c) +
             " may run as root: runAsNonRoot is not true and no non-zero runAsUser is set, so the "
             "image's USER decides",
         "add to the pod spec:\n  securityContext:\n    runAsNonRoot: true\n    runAsUser: 1000\n    runAsGroup: 1000");
  }
}

}  // namespace

extern const Rule rule_run_as_root{"run-as-root",
                                   Severity::error,
                                   RuleScope::pod,
                                   "A container runs, or may run, as root (UID 0).",
                                   "Set `runAsNonRoot: true` and a non-zero `runAsUser`.",
                                   run_as_root,
                                   "effective `runAsUser: 0`, or nothing forcing a non-root user",
                                   RuleSubject::pod_template,
                                   Action::patch};

}  // namespace loki::checks
