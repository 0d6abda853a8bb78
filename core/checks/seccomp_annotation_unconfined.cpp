// seccomp-annotation-unconfined: the legacy seccomp annotations with a value
// that is not a confining profile. policy/check_seccompProfile_baseline.go
// (v0.36.3), v1.0-v1.18: metadata.annotations
// ['seccomp.security.alpha.kubernetes.io/pod'] and
// ['container.seccomp.security.alpha.kubernetes.io/*'], allowed
// "'runtime/default', 'docker/default', 'localhost/*', undefined". Clusters
// before 1.27 still apply them; a manifest carrying `unconfined` states the
// intent either way, and missing-seccomp only reads the fields.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

constexpr std::string_view pod_key = "seccomp.security.alpha.kubernetes.io/pod";
constexpr std::string_view container_prefix = "container.seccomp.security.alpha.kubernetes.io/";

void seccomp_annotation_unconfined(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_annotation(ctx, [&](const std::string& key, const std::string& value, const std::string& field) {
    std::optional<std::string> container;
    if (pss::starts_with(key, container_prefix))
      container = key.substr(container_prefix.size());
    else if (key != pod_key)
      return;
    if (value == "runtime/default" || value == "docker/default" || pss::starts_with(value, "localhost/")) return;
    emit(out, field, container,
         "annotation " + key + ": " + value + " sets " +
             (container ? "container \"" + *container + "\"'s" : std::string("the pod's")) + " seccomp profile to " +
             value + (value == "unconfined" ? " (every syscall allowed)" : ""),
         "remove the annotation and set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext");
  });
}

}  // namespace

extern const Rule rule_seccomp_annotation_unconfined{
    "seccomp-annotation-unconfined",
    Severity::error,
    RuleScope::pod,
    "A legacy seccomp annotation (seccomp.security.alpha.kubernetes.io/pod, "
    "container.seccomp.security.alpha.kubernetes.io/<container>) names a profile other than runtime/default, "
    "docker/default or localhost/<profile> (Pod Security Standard baseline, \"Seccomp\", v1.0-v1.18).",
    "Remove the annotation; set `seccompProfile: {type: RuntimeDefault}`.",
    seccomp_annotation_unconfined,
    "a legacy seccomp annotation that is not runtime/default, docker/default or localhost/*"};

}  // namespace loki::checks
