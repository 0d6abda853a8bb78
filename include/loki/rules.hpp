// The rule registry; kept so existing includes work. See <loki/rule.hpp>.
#pragma once

#include <loki/rule.hpp>

namespace loki::checks {
// Rules whose findings are also made outside their check (the webhook's
// fail-closed and policy-change findings), or settled outside it (a
// ServiceAccount's automountServiceAccountToken), named by the rule, not a literal.
extern const Rule rule_egress_unrestricted;
extern const Rule rule_service_account_token;
}  // namespace loki::checks
