// capabilities-not-dropped: the runtime's default set (NET_RAW, CHOWN, ...)
// stays unless `drop: [ALL]`; anything in `add` widens it again. Stricter than
// the restricted standard (policy/check_capabilities_restricted.go: "may only
// add NET_BIND_SERVICE"), on purpose: an agent needs no port below 1024.
#include "check_util.hpp"

#include <algorithm>

namespace loki::checks {
namespace {

void capabilities(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
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
      bool only_bind = sc.capAdd.size() == 1 && sc.capAdd[0] == "NET_BIND_SERVICE";
      emit(out, caps + "/add", c.name,
           describe(c) + " adds capabilities: " + list +
               (only_bind ? " (the restricted standard allows it; loki-guard does not: listen on a port >= 1024)" : ""),
           "remove `capabilities.add` from " + where(c));
    }
  }
}

// Adds ALL to capabilities.drop; added capabilities are refused, not removed.
void fix_container(FixContext& f, nlohmann::json&, nlohmann::json& sc) {
  nlohmann::json& caps = fix::object_field(sc, "capabilities");
  nlohmann::json& drop = caps["drop"];
  if (!drop.is_array()) drop = nlohmann::json::array();
  if (std::find(drop.begin(), drop.end(), nlohmann::json("ALL")) != drop.end()) return;
  drop.push_back("ALL");
  f.note("capabilities.drop ALL");
}
const Fix kFix{.order = 6, .container = fix_container};

}  // namespace

extern const Rule rule_capabilities{"capabilities-not-dropped",
                                    Severity::error,
                                    RuleScope::pod,
                                    "A container does not drop ALL capabilities, or adds some back, NET_BIND_SERVICE "
                                    "included: the restricted standard allows that one, but an agent never needs a "
                                    "port below 1024 and a Service maps any port.",
                                    "Set `capabilities: {drop: [\"ALL\"]}` and no `add`.",
                                    capabilities,
                                    "`drop` lacks `ALL`, or anything is added",
                                    RuleSubject::pod_template,
                                    Action::patch,
                                    &kFix};

}  // namespace loki::checks
