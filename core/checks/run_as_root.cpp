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

bool is_root(const nlohmann::json& sc) {
  if (!sc.is_object()) return false;
  auto it = sc.find("runAsUser");
  return it != sc.end() && it->is_number_integer() && it->get<long long>() == 0;
}

// Non-root only when nothing asks for root explicitly; a user id only when
// no container chose one.
void fix_pod(FixContext& f) {
  bool explicit_root = is_root(f.psc);
  fix::for_each_container(f.spec, [&](nlohmann::json& c) {
    if (auto sc = c.find("securityContext"); sc != c.end() && is_root(*sc)) explicit_root = true;
  });
  if (explicit_root) return;
  if (!fix::is_set(f.psc, "runAsNonRoot")) {
    f.psc["runAsNonRoot"] = true;
    f.note("runAsNonRoot");
  }
  bool any_user = fix::is_set(f.psc, "runAsUser");
  fix::for_each_container(f.spec, [&](nlohmann::json& c) {
    if (c.contains("securityContext") && fix::is_set(c["securityContext"], "runAsUser")) any_user = true;
  });
  if (any_user) return;
  f.psc["runAsUser"] = f.config.mutation.run_as_user;
  f.note("runAsUser");
  if (!fix::is_set(f.psc, "runAsGroup")) {
    f.psc["runAsGroup"] = f.config.mutation.run_as_group;
    f.note("runAsGroup");
  }
}
const Fix kFix{.order = 2, .pod = fix_pod};

}  // namespace

extern const Rule rule_run_as_root{"run-as-root",
                                   Severity::error,
                                   RuleScope::pod,
                                   "A container runs, or may run, as root (UID 0).",
                                   "Set `runAsNonRoot: true` and a non-zero `runAsUser`.",
                                   run_as_root,
                                   "effective `runAsUser: 0`, or nothing forcing a non-root user",
                                   RuleSubject::pod_template,
                                   Action::patch,
                                   &kFix};

}  // namespace loki::checks
