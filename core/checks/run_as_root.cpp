// run-as-root: effective runAsUser 0, or nothing that forces a non-root user
// (runAsNonRoot not true and no non-zero runAsUser), so the image's USER,
// often root, decides. runAsNonRoot/runAsUser inherit from the pod.
// A pod-level runAsNonRoot: false or runAsUser: 0 is refused even when every
// container overrides it, as Pod Security Admission does
// (policy/check_runAsNonRoot.go:84-85, check_runAsUser.go:83-84): an
// ephemeral debug container added later inherits the pod's value.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void run_as_root(const PodContext& ctx, std::vector<RawFinding>& out) {
  const std::string psc_path = ctx.pod.spec_path + "/securityContext";
  bool pod_user_reported = false, pod_non_root_reported = false;
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
    if (sc.runAsUser && *sc.runAsUser == 0) {
      pod_user_reported |= sc.runAsUserPath == psc_path + "/runAsUser";
      emit(out, sc.runAsUserPath, c.name, describe(c) + " runs as root (runAsUser: 0)",
           "set `runAsUser: 1000` (any non-zero UID) and `runAsNonRoot: true` in the pod's securityContext");
      continue;
    }
    if (sc.runAsNonRoot.value_or(false) || (sc.runAsUser && *sc.runAsUser > 0)) continue;
    std::string field = sc.runAsNonRoot ? sc.runAsNonRootPath : c.path;
    pod_non_root_reported |= field == psc_path + "/runAsNonRoot";
    emit(out, field, c.name,
         describe(c) +
             " may run as root: runAsNonRoot is not true and no non-zero runAsUser is set, so the "
             "image's USER decides",
         "add to the pod spec:\n  securityContext:\n    runAsNonRoot: true\n    runAsUser: 1000\n    runAsGroup: 1000");
  }
  // The pod's own value, when no container finding above already points at it.
  const auto* psc = pss::object_at(ctx.pod.spec, "securityContext");
  if (auto u = pss::int_at(psc, "runAsUser"); u && *u == 0 && !pod_user_reported)
    emit(out, psc_path + "/runAsUser", std::nullopt,
         "the pod's securityContext sets runAsUser: 0; every container overrides it, but a container added later "
         "(an ephemeral debug container) inherits it and runs as root",
         "set the pod's `securityContext.runAsUser` to a non-zero UID (e.g. 1000); the containers' own values "
         "still apply");
  if (psc && psc->contains("runAsNonRoot") && (*psc)["runAsNonRoot"] == false && !pod_non_root_reported)
    emit(out, psc_path + "/runAsNonRoot", std::nullopt,
         "the pod's securityContext sets runAsNonRoot: false, which every container without its own value "
         "inherits, including one added later (an ephemeral debug container), which may then run as root",
         "set the pod's `securityContext.runAsNonRoot: true`; the containers' own values still apply");
}

bool is_root(const nlohmann::json& sc) {
  if (!sc.is_object()) return false;
  auto it = sc.find("runAsUser");
  return it != sc.end() && it->is_number_integer() && it->get<long long>() == 0;
}

// True when every init and regular container sets `key` itself, so the pod's
// value reaches none of them (only containers added later).
bool all_containers_set(nlohmann::json& spec, const char* key) {
  bool all = true, any = false;
  fix::for_each_container(spec, [&](nlohmann::json& c) {
    any = true;
    auto sc = c.find("securityContext");
    if (sc == c.end() || !fix::is_set(*sc, key)) all = false;
  });
  return any && all;
}

// A root pod-level value every container overrides is replaced: it changes
// nothing for the pod's own containers, only for one added later. Otherwise
// non-root only when nothing asks for root explicitly; a user id only when
// no container chose one.
void fix_pod(FixContext& f) {
  if (is_root(f.psc) && all_containers_set(f.spec, "runAsUser")) {
    f.psc["runAsUser"] = f.config.mutation.run_as_user;
    f.note("runAsUser");
  }
  if (auto it = f.psc.find("runAsNonRoot");
      it != f.psc.end() && it->is_boolean() && !it->get<bool>() && all_containers_set(f.spec, "runAsNonRoot")) {
    *it = true;
    f.note("runAsNonRoot");
  }
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

extern const Rule rule_run_as_root{
    "run-as-root",
    Severity::error,
    RuleScope::pod,
    "A container runs, or may run, as root (UID 0), or the pod's securityContext sets "
    "`runAsNonRoot: false` or `runAsUser: 0`, which a container added later (an "
    "ephemeral debug container) inherits even when every container overrides it.",
    "Set `runAsNonRoot: true` and a non-zero `runAsUser`.",
    run_as_root,
    "effective `runAsUser: 0`, nothing forcing a non-root user, or a root pod-level value",
    RuleSubject::pod_template,
    Action::patch,
    &kFix};

}  // namespace loki::checks
