// capabilities-not-dropped: the runtime's default set (NET_RAW, CHOWN, ...)
// stays unless `drop: [ALL]`; anything in `add` widens it again.
#include "check_util.hpp"

#include <algorithm>

namespace loki::checks {
namespace {

void capabilities(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto sc = effective_security_context(ctx.pod, c);
    bool drops_all = std::find(sc.capDrop.begin(), sc.capDrop.end(), "ALL") != sc.capDrop.end();
    const std::string caps = c.path + "/securityContext/capabilities";
    if (!drops_all) {
      emit(out, sc.capDrop.empty() ? c.path : caps + "/drop", c.name,
           describe(c) + " keeps the runtime's default capabilities (capabilities.drop does not contain ALL)",
           "add to " + where(c) + ":\n  capabilities:\n    drop: [\"ALL\"]");
    }
    if (!sc.capAdd.empty()) {
      std::string list;
      for (const auto& a : sc.capAdd) list += (list.empty() ? "" : ", ") + a;
      emit(out, caps + "/add", c.name, describe(c) + " adds capabilities: " + list,
           "remove `capabilities.add` from " + where(c));
    }
  }
}

}  // namespace

extern const Rule rule_capabilities{"capabilities-not-dropped",
                                    Severity::error,
                                    RuleScope::pod,
                                    "A container does not drop ALL capabilities, or adds some back.",
                                    "Set `capabilities: {drop: [\"ALL\"]}` and no `add`.",
                                    capabilities,
                                    "`drop` lacks `ALL`, or anything is added",
                                    RuleSubject::pod_template,
                                    Action::patch};

}  // namespace loki::checks
