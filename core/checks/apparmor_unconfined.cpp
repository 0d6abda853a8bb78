// apparmor-unconfined: AppArmor switched off or overridden with a profile type
// the standard does not allow. policy/check_appArmorProfile.go (v0.36.3):
// appArmorProfile.type allowed "'RuntimeDefault', 'Localhost', undefined";
// the legacy annotation container.apparmor.security.beta.kubernetes.io/*
// allowed "'runtime/default', 'localhost/*', empty, undefined". The annotation
// is still honoured (synced to the field), so both are checked.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

constexpr std::string_view annotation_prefix = "container.apparmor.security.beta.kubernetes.io/";

void apparmor_unconfined(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_security_context(ctx, [&](const pss::ContextSite& s) {
    const auto* prof = pss::object_at(s.sc, "appArmorProfile");
    if (!prof) return;
    std::string type = pss::string_at(prof, "type").value_or("");
    if (type == "RuntimeDefault" || type == "Localhost") return;
    emit(out, s.path + "/appArmorProfile/type", pss::container_name(s),
         s.who + " sets appArmorProfile.type: " + (type.empty() ? "\"\"" : type) +
             (type == "Unconfined" ? " (AppArmor off)" : "") + "; only RuntimeDefault or Localhost are allowed",
         "set `appArmorProfile: {type: RuntimeDefault}` (or remove it) in " +
             (s.container ? where(*s.container) : std::string("the pod's securityContext")));
  });
  pss::for_each_annotation(ctx, [&](const std::string& key, const std::string& value, const std::string& field) {
    if (!pss::starts_with(key, annotation_prefix)) return;
    if (value.empty() || value == "runtime/default" || pss::starts_with(value, "localhost/")) return;
    std::string container = key.substr(annotation_prefix.size());
    emit(out, field, container,
         "annotation " + key + ": " + value + " sets container \"" + container + "\"'s AppArmor profile to " + value +
             (value == "unconfined" ? " (AppArmor off)" : "") +
             "; only runtime/default or localhost/<profile> are allowed",
         "remove the annotation and set `appArmorProfile: {type: RuntimeDefault}` in the container's securityContext");
  });
}

}  // namespace

extern const Rule rule_apparmor_unconfined{
    "apparmor-unconfined",
    Severity::error,
    RuleScope::pod,
    "The pod or a container sets an AppArmor profile other than RuntimeDefault or Localhost (`Unconfined` turns "
    "AppArmor off), by `appArmorProfile.type` or the legacy annotation "
    "container.apparmor.security.beta.kubernetes.io/<container> (Pod Security Standard baseline, \"AppArmor\").",
    "Use `appArmorProfile: {type: RuntimeDefault}` or a Localhost profile.",
    apparmor_unconfined,
    "`appArmorProfile.type` or the AppArmor annotation not RuntimeDefault/Localhost"};

}  // namespace loki::checks
