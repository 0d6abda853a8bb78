// runtime-class-not-sandboxed (off by default): a loki-mode pod runs under the
// node's shared kernel (no runtimeClassName, or one that is not a sandbox).
// An agent that runs untrusted or model-written code is one kernel bug away
// from the node; gVisor (runsc) and Kata Containers put a user-space kernel or
// a VM in between, the strongest isolation Kubernetes offers. No peer linter
// checks it, and it needs a RuntimeClass installed on the nodes, so it is
// opt-in (rules: {runtime-class-not-sandboxed: {enabled: true}}) and only
// warns. The sandboxed names are the config's sandboxRuntimeClasses.
#include "pss_util.hpp"

namespace loki::checks {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

void runtime_class_not_sandboxed(const PodContext& ctx, std::vector<RawFinding>& out) {
  static const Config defaults;
  const Config& cfg = ctx.config ? *ctx.config : defaults;
  auto rc = pss::string_at(ctx.pod.spec, "runtimeClassName");
  if (rc && !rc->empty() && cfg.is_sandbox_runtime_class(*rc)) return;
  const std::string list = joined(cfg.sandbox_runtime_classes);
  if (!rc || rc->empty()) {
    emit(out, ctx.pod.spec_path, std::nullopt,
         "the pod sets no runtimeClassName: its containers share the node's kernel; an agent running untrusted "
         "code is one kernel exploit away from the node",
         "run it in a sandbox: set `runtimeClassName` to a gVisor or Kata RuntimeClass installed on the nodes "
         "(sandboxed names: " +
             list + ")");
    return;
  }
  emit(out, ctx.pod.spec_path + "/runtimeClassName", std::nullopt,
       "runtimeClassName \"" + *rc + "\" is not a sandboxed runtime (" + list +
           "): its containers share the node's kernel",
       "set `runtimeClassName` to a gVisor or Kata RuntimeClass, or list \"" + *rc +
           "\" in the config's sandboxRuntimeClasses if it is one");
}

}  // namespace

extern const Rule rule_runtime_class_not_sandboxed{
    "runtime-class-not-sandboxed",
    Severity::info,
    RuleScope::pod,
    "A loki-mode pod does not run in a sandboxed runtime (gVisor/runsc, Kata Containers): its containers share the "
    "node's kernel. gVisor and Kata are the strongest isolation Kubernetes offers for agents that run untrusted or "
    "model-written code, and no peer linter checks for them. Off by default (it needs a RuntimeClass on the nodes): "
    "enable it with `rules: {runtime-class-not-sandboxed: {enabled: true}}`; the webhook warns. The config's "
    "`sandboxRuntimeClasses` lists the sandboxed names (default gvisor, runsc, kata*; a trailing * matches a prefix).",
    "Set `runtimeClassName` to a gVisor or Kata RuntimeClass installed on the nodes.",
    runtime_class_not_sandboxed,
    "no sandboxed `runtimeClassName` (gVisor, Kata); off by default, warns",
    RuleSubject::pod_template,
    Action::warn,
    nullptr,
    false,
    nullptr,
    0,
    false};

}  // namespace loki::checks
