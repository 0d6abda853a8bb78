// host-path-sensitive: a hostPath volume mounts a node path that hands over
// the node: its root, /proc, /sys, the kubelet's and the control plane's
// credentials, the runtimes' state, users' homes. Named with the reason, on
// top of host-path-volume, so a baseline namespace (or an ignored
// host-path-volume) does not hide it.
#include "pss_util.hpp"

#include <array>
#include <utility>

namespace loki::checks {
namespace {

// Most specific first: /etc/kubernetes is reported as such, not as /etc.
constexpr std::array<std::pair<std::string_view, std::string_view>, 14> sensitive = {{
    {"/etc/kubernetes", "the control plane's and kubelet's certificates and kubeconfigs"},
    {"/var/lib/kubelet", "every pod's secrets, service-account tokens and volumes on the node"},
    {"/var/lib/docker", "every container's filesystem and the runtime's state"},
    {"/var/lib/containerd", "every container's filesystem and the runtime's state"},
    {"/var/log", "the node's logs; the kubelet follows symlinks placed there (log-symlink escape)"},
    {"/proc", "the node's processes, their memory and environment, and kernel knobs"},
    {"/sys", "kernel and device settings (cgroups, kernel modules' parameters)"},
    {"/dev", "the node's devices (disks, memory)"},
    {"/boot", "the node's kernel and boot loader"},
    {"/etc", "the node's configuration: users, sudoers, cron, systemd units, SSH keys"},
    {"/root", "root's home: SSH keys, cloud and kubectl credentials"},
    {"/home", "users' homes: SSH keys, cloud and kubectl credentials"},
    {"/var", "the runtimes' and kubelet's state (/var/lib/kubelet, /var/run)"},
    {"/", "the node's whole filesystem"},
}};

void host_path_sensitive(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_host_path(ctx, [&](const std::string& p, const std::string& path, const std::string& name) {
    for (auto [dir, why] : sensitive) {
      // The path is the sensitive directory, inside it, or one of its parents
      // (/var/lib holds /var/lib/kubelet).
      // /var and / themselves are not sensitive throughout, only as holders.
      bool inside = dir != "/" && dir != "/var" && pss::path_under(p, dir);
      bool parent = pss::path_under(dir, p);
      if (!inside && !parent) continue;
      std::string what = p == dir ? std::string(dir)
                         : inside ? p + " (inside " + std::string(dir) + ")"
                                  : p + " (which holds " + std::string(dir) + ")";
      emit(out, path + "/hostPath/path", std::nullopt,
           "volume \"" + name + "\" mounts the node's " + what + " (hostPath): " + std::string(why),
           "remove the volume \"" + name + "\"; an agent never needs a node path");
      return;
    }
  });
}

}  // namespace

extern const Rule rule_host_path_sensitive{
    "host-path-sensitive",
    Severity::error,
    RuleScope::pod,
    "A hostPath volume mounts a node path that gives the node away: /, /proc, /sys, /dev, /etc, /etc/kubernetes, "
    "/var/lib/kubelet, the runtimes' /var/lib directories, /var/log, /root, /home, or a parent of one. Not named "
    "by the Pod Security Standards; reported even when host-path-volume is ignored.",
    "Remove the volume; use emptyDir, configMap, secret or persistentVolumeClaim volumes.",
    host_path_sensitive,
    "a `hostPath` of /, /proc, /sys, /etc, /var/lib/kubelet, /etc/kubernetes, /root, /home, ..."};

}  // namespace loki::checks
