// host-probe: a probe or lifecycle handler with `host` set makes the kubelet
// connect from the node to an address the pod chooses: a blind SSRF from the
// node's network position (cloud metadata, the node's own localhost services).
// policy/check_hostProbesAndhostLifecycle.go (v0.36.3, baseline since 1.34):
// "Host field is restricted in the probes and lifecycle handlers", allowed
// "", undefined/null, for httpGet and tcpSocket of liveness/readiness/startup
// probes and postStart/preStop handlers.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

void host_probe(const PodContext& ctx, std::vector<RawFinding>& out) {
  auto check = [&](const ContainerRef& c, const nlohmann::json* handler, const std::string& path,
                   const std::string& what) {
    for (const char* kind : {"httpGet", "tcpSocket"}) {
      auto host = pss::string_at(pss::object_at(handler, kind), "host");
      if (!host || host->empty()) continue;
      emit(out, path + "/" + kind + "/host", c.name,
           describe(c) + "'s " + what + " sets " + kind + ".host: " + *host +
               ": the kubelet connects from the node to an address the pod chooses",
           "remove `host` from the " + what + " of " + describe(c) + " (the kubelet then uses the pod's IP)");
    }
  };
  for (const auto& c : ctx.containers) {
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"})
      check(c, pss::object_at(c.json, probe), c.path + "/" + probe, probe);
    const auto* lc = pss::object_at(c.json, "lifecycle");
    for (const char* hook : {"postStart", "preStop"})
      check(c, pss::object_at(lc, hook), c.path + "/lifecycle/" + hook, std::string("lifecycle.") + hook + " hook");
  }
}

}  // namespace

extern const Rule rule_host_probe{
    "host-probe",
    Severity::error,
    RuleScope::pod,
    "A probe or lifecycle hook sets `httpGet.host` or `tcpSocket.host`: the kubelet connects from the node to "
    "an address the pod picks (Pod Security Standard baseline, \"Probes and Lifecycle Hooks\", 1.34+).",
    "Remove `host` from probes and lifecycle handlers.",
    host_probe,
    "`host` set in a probe's or lifecycle hook's httpGet/tcpSocket"};

}  // namespace loki::checks
