// windows-host-process: a Windows HostProcess container runs as a process on
// the node with the node's network and filesystem. policy/check_windowsHost
// Process.go (v0.36.3): "Pod and containers must not set
// securityContext.windowsOptions.hostProcess to true".
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void windows_host_process(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_security_context(ctx, [&](const pss::ContextSite& s) {
    const auto* win = pss::object_at(s.sc, "windowsOptions");
    if (!win || !is_true(*win, "hostProcess")) return;
    emit(out, s.path + "/windowsOptions/hostProcess", pss::container_name(s),
         s.who +
             " sets windowsOptions.hostProcess: true: a process on the Windows node, with its network and "
             "filesystem",
         "remove `windowsOptions.hostProcess` from " +
             (s.container ? where(*s.container) : std::string("the pod's securityContext")));
  });
}

}  // namespace

extern const Rule rule_windows_host_process{
    "windows-host-process",
    Severity::error,
    RuleScope::pod,
    "The pod or a container sets `windowsOptions.hostProcess: true`: a Windows HostProcess container runs on the "
    "node itself (Pod Security Standard baseline, \"HostProcess\").",
    "Remove `windowsOptions.hostProcess`.",
    windows_host_process,
    "`windowsOptions.hostProcess: true`"};

}  // namespace loki::checks
