// privileged: a privileged container has every capability and the node's
// devices; nothing else in the pod's hardening holds after that.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void privileged(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
    if (!sc.privileged.value_or(false)) continue;
    emit(out, c.path + "/securityContext/privileged", c.name,
         describe(c) + " runs privileged (securityContext.privileged: true): full access to the node",
         "set `privileged: false` in " + where(c));
  }
}

}  // namespace

extern const Rule rule_privileged{"privileged",
                                  Severity::error,
                                  RuleScope::pod,
                                  "A container runs privileged, with all capabilities and host devices.",
                                  "Set `securityContext.privileged: false`.",
                                  privileged,
                                  "a privileged container"};

}  // namespace loki::checks
