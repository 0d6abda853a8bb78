// privilege-escalation: allowPrivilegeEscalation defaults to true (setuid
// binaries work) unless set to false on the container.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void privilege_escalation(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto sc = effective_security_context(ctx.pod, c);
    if (sc.allowPrivilegeEscalation && !*sc.allowPrivilegeEscalation) continue;
    std::string field = sc.allowPrivilegeEscalation ? c.path + "/securityContext/allowPrivilegeEscalation" : c.path;
    emit(out, field, c.name,
         describe(c) +
             " allows privilege escalation (allowPrivilegeEscalation is not false): setuid binaries "
             "can gain root",
         "set `allowPrivilegeEscalation: false` in " + where(c));
  }
}

}  // namespace

extern const Rule rule_privilege_escalation{"privilege-escalation",
                                            Severity::error,
                                            RuleScope::pod,
                                            "A container may gain more privileges than its process started with.",
                                            "Set `allowPrivilegeEscalation: false`.",
                                            privilege_escalation,
                                            "`allowPrivilegeEscalation` not false",
                                            RuleSubject::pod_template,
                                            Action::patch};

}  // namespace loki::checks
