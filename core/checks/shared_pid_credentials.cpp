// shared-pid-credentials: shareProcessNamespace: true puts all containers in
// one PID namespace; each can then read the others' /proc/<pid>/environ and
// their files through /proc/<pid>/root (same UID, or CAP_SYS_PTRACE). A
// sidecar or an agent that runs untrusted code thereby gets the secrets of
// every other container. Reported for each container that holds credentials:
// env from a Secret, a mounted secret or projected token, or the automounted
// service-account token.
#include "pss_util.hpp"

#include <map>

namespace loki::checks {
namespace {

// Volume name -> what credential it carries, for secret-bearing volumes.
std::map<std::string, std::string> credential_volumes(const PodContext& ctx) {
  std::map<std::string, std::string> out;
  pss::for_each_volume(ctx, [&](const nlohmann::json& v, const std::string&, const std::string& name) {
    if (const auto* s = pss::object_at(&v, "secret")) {
      out[name] = "secret " + pss::string_at(s, "secretName").value_or("?");
      return;
    }
    const auto* proj = pss::object_at(&v, "projected");
    if (!proj) return;
    auto srcs = proj->find("sources");
    if (srcs == proj->end() || !srcs->is_array()) return;
    for (const auto& src : *srcs) {
      if (pss::object_at(&src, "secret")) out[name] = "projected secret";
      if (pss::object_at(&src, "serviceAccountToken")) out[name] = "projected service-account token";
    }
  });
  return out;
}

std::vector<std::string> credentials_of(const ContainerRef& c, const std::map<std::string, std::string>& vols,
                                        bool sa_token) {
  std::vector<std::string> out;
  if (auto env = c.json->find("env"); env != c.json->end() && env->is_array())
    for (const auto& e : *env)
      if (pss::object_at(pss::object_at(&e, "valueFrom"), "secretKeyRef"))
        out.push_back("env " + pss::string_at(&e, "name").value_or("?") + " from a Secret");
  if (auto ef = c.json->find("envFrom"); ef != c.json->end() && ef->is_array())
    for (const auto& e : *ef)
      if (const auto* ref = pss::object_at(&e, "secretRef"))
        out.push_back("envFrom secret " + pss::string_at(ref, "name").value_or("?"));
  if (auto vm = c.json->find("volumeMounts"); vm != c.json->end() && vm->is_array())
    for (const auto& m : *vm)
      if (auto n = pss::string_at(&m, "name"); n && vols.count(*n))
        out.push_back(vols.at(*n) + " mounted at " + pss::string_at(&m, "mountPath").value_or("?"));
  if (sa_token) out.push_back("the automounted service-account token");
  return out;
}

void shared_pid_credentials(const PodContext& ctx, std::vector<RawFinding>& out) {
  if (!is_true(*ctx.pod.spec, "shareProcessNamespace")) return;
  // Alone in the namespace (with the pause process), nobody can read it.
  if (ctx.containers.size() < 2) return;
  auto vols = credential_volumes(ctx);
  auto am = ctx.pod.spec->find("automountServiceAccountToken");
  bool sa_token = am == ctx.pod.spec->end() || !am->is_boolean() || am->get<bool>();
  for (const auto& c : ctx.containers) {
    auto creds = credentials_of(c, vols, sa_token);
    if (creds.empty()) continue;
    std::string list;
    for (const auto& x : creds) list += (list.empty() ? "" : ", ") + x;
    emit(out, ctx.pod.spec_path + "/shareProcessNamespace", c.name,
         "shareProcessNamespace: true lets every other container read " + describe(c) + "'s credentials (" + list +
             ") through /proc/<pid>/environ and /proc/<pid>/root",
         "remove `shareProcessNamespace: true`, or move the credentials into a pod of their own");
  }
}

}  // namespace

extern const Rule rule_shared_pid_credentials{
    "shared-pid-credentials",
    Severity::error,
    RuleScope::pod,
    "`shareProcessNamespace: true` in a pod where a container holds credentials (env from a Secret, a mounted "
    "secret or token, the automounted service-account token): the other containers read them through /proc. Not "
    "in the Pod Security Standards.",
    "Drop `shareProcessNamespace`, or split the credential holder into its own pod.",
    shared_pid_credentials,
    "`shareProcessNamespace: true` and a container holding credentials"};

}  // namespace loki::checks
