// proc-mount-unmasked: procMount other than Default exposes /proc paths the
// runtime masks (kcore, sysrq-trigger, keys, ...). policy/check_procMount_
// restricted.go (v0.36.3): allowed "undefined/null, \"Default\"". Baseline
// 1.35 relaxes it for user-namespaced pods (hostUsers: false); loki-guard keeps
// the restricted control for every agent pod: an agent does not need it, and
// the user namespace is the only thing left between it and the node's /proc.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void proc_mount_unmasked(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto mount = pss::string_at(pss::object_at(c.json, "securityContext"), "procMount");
    if (!mount || *mount == "Default") continue;
    emit(out, c.path + "/securityContext/procMount", c.name,
         describe(c) + " sets procMount: " + *mount +
             ": /proc is mounted without the runtime's masks (/proc/kcore, /proc/sysrq-trigger, ...)",
         "remove `procMount` from " + where(c) + " (or set it to Default)");
  }
}

}  // namespace

extern const Rule rule_proc_mount_unmasked{
    "proc-mount-unmasked",
    Severity::error,
    RuleScope::pod,
    "A container sets `procMount` to something other than Default (Unmasked): /proc without the runtime's masks "
    "(Pod Security Standard restricted, \"/proc Mount Type\"; refused in user-namespaced pods too).",
    "Remove `procMount` or set it to Default.",
    proc_mount_unmasked,
    "`procMount` other than `Default`"};

}  // namespace loki::checks
