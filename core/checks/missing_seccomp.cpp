// missing-seccomp: no effective seccomp profile, or Unconfined. The container
// field wins over the pod's; RuntimeDefault and Localhost pass.
// https://kubernetes.io/docs/tutorials/security/seccomp/
#include "check_util.hpp"

namespace loki::checks {
namespace {

void missing_seccomp(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto sc = effective_security_context(ctx.pod, c);
    if (sc.seccompType && (*sc.seccompType == "RuntimeDefault" || *sc.seccompType == "Localhost")) continue;
    bool unconfined = sc.seccompType && *sc.seccompType == "Unconfined";
    emit(out, unconfined ? sc.seccompPath : c.path, c.name,
         describe(c) + (unconfined ? " runs with seccomp Unconfined: every syscall is allowed"
                                   : " has no seccomp profile (neither the pod nor the container sets one)"),
         "add to the pod spec:\n  securityContext:\n    seccompProfile:\n      type: RuntimeDefault");
  }
}

// A pod-level RuntimeDefault covers every container that sets none; an
// explicit container profile (even Unconfined) is left alone.
void fix_pod(FixContext& f) {
  if (fix::is_set(f.psc, "seccompProfile")) return;
  f.psc["seccompProfile"] = {{"type", "RuntimeDefault"}};
  f.note("seccompProfile");
}
const Fix kFix{.order = 1, .pod = fix_pod};

}  // namespace

extern const Rule rule_missing_seccomp{"missing-seccomp",
                                       Severity::error,
                                       RuleScope::pod,
                                       "A container has no seccomp profile, or an Unconfined one.",
                                       "Set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext.",
                                       missing_seccomp,
                                       "no effective seccomp profile, or `Unconfined`",
                                       RuleSubject::pod_template,
                                       Action::patch,
                                       &kFix};

}  // namespace loki::checks
