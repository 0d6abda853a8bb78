// service-account-token: with a mounted token the agent can call the API
// server as its ServiceAccount. The pod field wins over the ServiceAccount's.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void service_account_token(const PodContext& ctx, std::vector<RawFinding>& out) {
  auto it = ctx.pod.spec->find("automountServiceAccountToken");
  if (it != ctx.pod.spec->end() && it->is_boolean() && !it->get<bool>()) return;
  bool explicit_true = it != ctx.pod.spec->end();
  emit(out, explicit_true ? ctx.pod.spec_path + "/automountServiceAccountToken" : ctx.pod.spec_path, std::nullopt,
       explicit_true ? "pod mounts a ServiceAccount token (automountServiceAccountToken: true): the agent can reach "
                       "the API server with it"
                     : "pod mounts a ServiceAccount token by default (automountServiceAccountToken is not false): the "
                       "agent can reach the API server with it",
       "set `automountServiceAccountToken: false` in the pod spec");
}

void fix_pod(FixContext& f) {
  if (fix::is_set(f.spec, "automountServiceAccountToken")) return;
  f.spec["automountServiceAccountToken"] = false;
  f.note("automountServiceAccountToken");
}
const Fix kFix{.order = 3, .pod = fix_pod};

}  // namespace

extern const Rule rule_service_account_token{"service-account-token",
                                             Severity::warning,
                                             RuleScope::pod,
                                             "The pod mounts a ServiceAccount API token.",
                                             "Set `automountServiceAccountToken: false`.",
                                             service_account_token,
                                             "`automountServiceAccountToken` not false",
                                             RuleSubject::pod_template,
                                             Action::patch,
                                             &kFix};

}  // namespace loki::checks
