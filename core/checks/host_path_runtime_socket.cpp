// host-path-runtime-socket: a hostPath volume exposes a container runtime's
// API socket (Docker, containerd, CRI-O, podman, cri-dockerd) or a directory
// that contains one. Whoever can talk to it starts a privileged container with
// the node's root mounted: the most common agent escape ("the agent needs to
// run docker"). Named on its own so that an ignore of host-path-volume for a
// harmless mount never hides it.
#include "pss_util.hpp"

#include <array>

namespace loki::checks {
namespace {

// The API sockets' usual locations; /var/run is a symlink to /run on every
// current distribution, so both spellings are listed.
constexpr std::array<std::string_view, 14> sockets = {"/var/run/docker.sock",
                                                      "/run/docker.sock",
                                                      "/var/run/containerd/containerd.sock",
                                                      "/run/containerd/containerd.sock",
                                                      "/var/run/crio/crio.sock",
                                                      "/run/crio/crio.sock",
                                                      "/var/run/podman/podman.sock",
                                                      "/run/podman/podman.sock",
                                                      "/var/run/cri-dockerd.sock",
                                                      "/run/cri-dockerd.sock",
                                                      "/var/run/dockershim.sock",
                                                      "/run/dockershim.sock",
                                                      "/run/k3s/containerd/containerd.sock",
                                                      "/var/run/k3s/containerd/containerd.sock"};
// A socket of these names anywhere (rootless podman/docker under
// /run/user/<uid>/, custom --host paths) is one too.
constexpr std::array<std::string_view, 5> socket_names = {"docker.sock", "containerd.sock", "crio.sock", "podman.sock",
                                                          "cri-dockerd.sock"};

void host_path_runtime_socket(const PodContext& ctx, std::vector<RawFinding>& out) {
  pss::for_each_host_path(ctx, [&](const std::string& p, const std::string& path, const std::string& name) {
    std::string_view hit;
    for (auto s : sockets)
      if (pss::path_under(s, p)) {
        hit = s;
        break;
      }
    if (hit.empty()) {
      auto base = std::string_view(p).substr(p.rfind('/') + 1);
      for (auto n : socket_names)
        if (base == n) hit = p;
    }
    if (hit.empty()) return;
    std::string what = hit == p ? "the container runtime socket " + p
                                : p + ", which contains the container runtime socket " + std::string(hit);
    emit(out, path + "/hostPath/path", std::nullopt,
         "volume \"" + name + "\" mounts " + what +
             " (hostPath): whoever can reach it starts a privileged container with the node's root mounted",
         "remove the volume \"" + name +
             "\"; to build or run images, use a rootless builder (BuildKit rootless, kaniko) or a remote "
             "builder, never the node's runtime");
  });
}

}  // namespace

extern const Rule rule_host_path_runtime_socket{
    "host-path-runtime-socket",
    Severity::error,
    RuleScope::pod,
    "A hostPath volume exposes a container runtime's API socket (docker.sock, containerd.sock, crio.sock, "
    "podman.sock, under /run or /var/run) or a directory holding one: full control of the node. Not named by the "
    "Pod Security Standards; reported even when host-path-volume is ignored.",
    "Remove the volume; build images rootless (BuildKit rootless, kaniko) or remotely.",
    host_path_runtime_socket,
    "a `hostPath` of docker/containerd/CRI-O/podman sockets or their parent directories"};

}  // namespace loki::checks
