// privilege-escalation: allowPrivilegeEscalation defaults to true (setuid
// binaries work) unless set to false on the container.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void privilege_escalation(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
    if (sc.allowPrivilegeEscalation && !*sc.allowPrivilegeEscalation) continue;
    std::string field = sc.allowPrivilegeEscalation ? c.path + "/securityContext/allowPrivilegeEscalation" : c.path;
    emit(out, field, c.name,
         describe(c) +
             " allows privilege escalation (allowPrivilegeEscalation is not false): setuid binaries "
             "can gain root",
         "set `allowPrivilegeEscalation: false` in " + where(c));
  }
}

// A privileged container escalates anyway: that is the privileged rule's
// finding, refused rather than patched.
void fix_container(FixContext& f, nlohmann::json&, nlohmann::json& sc) {
  if (fix::is_set(sc, "allowPrivilegeEscalation") || fix::flag(sc, "privileged")) return;
  sc["allowPrivilegeEscalation"] = false;
  f.note("allowPrivilegeEscalation");
}
const Fix kFix{.order = 5, .container = fix_container};

}  // namespace

extern const Rule rule_privilege_escalation{"privilege-escalation",
                                            Severity::error,
                                            RuleScope::pod,
                                            "A container may gain more privileges than its process started with.",
                                            "Set `allowPrivilegeEscalation: false`.",
                                            privilege_escalation,
                                            "`allowPrivilegeEscalation` not false",
                                            RuleSubject::pod_template,
                                            Action::patch,
                                            &kFix};

}  // namespace loki::checks
