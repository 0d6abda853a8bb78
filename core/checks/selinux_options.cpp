// selinux-options: an SELinux type outside the container types, or a custom
// SELinux user or role. policy/check_seLinuxOptions.go (v0.36.3): "Setting
// the SELinux type is restricted, and setting a custom SELinux user or role
// option is forbidden"; allowed types "", container_t, container_init_t,
// container_kvm_t, and container_engine_t since 1.31 (selinuxAllowedTypes1_31).
// spc_t ("super privileged container") turns SELinux confinement off.
#include "pss_util.hpp"

#include <array>

namespace loki::checks {
namespace {

constexpr std::array<std::string_view, 5> allowed_types = {"", "container_t", "container_init_t", "container_kvm_t",
                                                           "container_engine_t"};

void selinux_options(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_security_context(ctx, [&](const pss::ContextSite& s) {
    const auto* opts = pss::object_at(s.sc, "seLinuxOptions");
    if (!opts) return;
    const std::string base = s.path + "/seLinuxOptions";
    const std::string fix = "remove seLinuxOptions from " +
                            (s.container ? where(*s.container) : std::string("the pod's securityContext")) +
                            " (the runtime assigns container_t with a per-pod MCS level)";
    if (auto type = pss::string_at(opts, "type")) {
      bool ok = false;
      for (auto a : allowed_types) ok = ok || a == *type;
      if (!ok)
        emit(out, base + "/type", pss::container_name(s),
             s.who + " sets seLinuxOptions.type: " + *type +
                 (*type == "spc_t" ? " (super-privileged container: SELinux confinement off)" : "") +
                 "; only container_t, container_init_t, container_kvm_t, container_engine_t are allowed",
             fix);
    }
    for (const char* field : {"user", "role"}) {
      auto v = pss::string_at(opts, field);
      if (!v || v->empty()) continue;
      emit(out, base + "/" + field, pss::container_name(s),
           s.who + " sets seLinuxOptions." + field + ": " + *v + "; a custom SELinux " + field + " may not be set",
           fix);
    }
  });
}

}  // namespace

extern const Rule rule_selinux_options{
    "selinux-options",
    Severity::error,
    RuleScope::pod,
    "The pod or a container sets an SELinux type other than container_t, container_init_t, container_kvm_t or "
    "container_engine_t (e.g. spc_t, unconfined), or a custom SELinux user or role (Pod Security Standard "
    "baseline, \"SELinux\").",
    "Remove `seLinuxOptions` (or keep only `level`).",
    selinux_options,
    "`seLinuxOptions.type` not a container type, or `user`/`role` set"};

}  // namespace loki::checks
