// missing-seccomp: no effective seccomp profile, or Unconfined. The container
// field wins over the pod's; RuntimeDefault and Localhost pass.
// A pod-level profile other than RuntimeDefault/Localhost is refused even when
// every container sets its own, as Pod Security Admission does
// (policy/check_seccompProfile_restricted.go:76-79): an ephemeral debug
// container added later inherits the pod's profile.
// https://kubernetes.io/docs/tutorials/security/seccomp/
#include "pss_util.hpp"

namespace loki::checks {
namespace {

bool confined(std::string_view type) {
  return type == "RuntimeDefault" || type == "Localhost";
}

void missing_seccomp(const PodContext& ctx, std::vector<RawFinding>& out) {
  const std::string pod_type_path = ctx.pod.spec_path + "/securityContext/seccompProfile/type";
  bool pod_reported = false;
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
    if (sc.seccompType && confined(*sc.seccompType)) continue;
    bool unconfined = sc.seccompType && *sc.seccompType == "Unconfined";
    pod_reported |= sc.seccompPath == pod_type_path;
    emit(out, unconfined ? sc.seccompPath : c.path, c.name,
         describe(c) + (unconfined ? " runs with seccomp Unconfined: every syscall is allowed"
                                   : " has no seccomp profile (neither the pod nor the container sets one)"),
         "add to the pod spec:\n  securityContext:\n    seccompProfile:\n      type: RuntimeDefault");
  }
  // The pod's own profile, when no container finding above already points at it.
  const auto* profile = pss::object_at(pss::object_at(ctx.pod.spec, "securityContext"), "seccompProfile");
  if (!profile || pod_reported) return;
  auto type = pss::string_at(profile, "type");
  if (type && confined(*type)) return;
  emit(out, profile->contains("type") ? pod_type_path : pod_type_path.substr(0, pod_type_path.rfind('/')), std::nullopt,
       "the pod's securityContext sets seccompProfile type " + (type ? *type : std::string("(none)")) +
           "; every container sets its own, but a container added later (an ephemeral debug container) inherits "
           "the pod's and runs without seccomp",
       "set the pod's `securityContext.seccompProfile.type: RuntimeDefault`; the containers' own profiles still "
       "apply");
}

// A pod-level RuntimeDefault covers every container that sets none; an
// explicit container profile (even Unconfined) is left alone. A pod-level
// profile every container overrides is replaced: it reaches only containers
// added later, so the change cannot break the pod.
void fix_pod(FixContext& f) {
  if (auto it = f.psc.find("seccompProfile"); it != f.psc.end() && !it->is_null()) {
    bool ok = it->is_object() && it->contains("type") && (*it)["type"].is_string() &&
              confined((*it)["type"].get<std::string>());
    bool all = true, any = false;
    fix::for_each_container(f.spec, [&](nlohmann::json& c) {
      any = true;
      auto sc = c.find("securityContext");
      if (sc == c.end() || !fix::is_set(*sc, "seccompProfile")) all = false;
    });
    if (!ok && any && all) {
      *it = {{"type", "RuntimeDefault"}};
      f.note("seccompProfile");
    }
    return;
  }
  f.psc["seccompProfile"] = {{"type", "RuntimeDefault"}};
  f.note("seccompProfile");
}
const Fix kFix{.order = 1, .pod = fix_pod};

}  // namespace

extern const Rule rule_missing_seccomp{
    "missing-seccomp",
    Severity::error,
    RuleScope::pod,
    "A container has no seccomp profile, or an Unconfined one; or the pod's securityContext sets "
    "a profile other than RuntimeDefault/Localhost, which a container added later "
    "(an ephemeral debug container) inherits even when every container sets its own.",
    "Set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext.",
    missing_seccomp,
    "no effective seccomp profile, `Unconfined`, or an unconfined pod-level profile",
    RuleSubject::pod_template,
    Action::patch,
    &kFix};

}  // namespace loki::checks
