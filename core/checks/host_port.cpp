// host-port: a container (init and sidecar included) binds a port on the
// node. Traffic through a hostPort is NATed on the node and is a well-known
// way around NetworkPolicy; a sidecar with one is the tunnel in the seeds.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void host_port(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    for (const ContainerPort& p : ports_of(c)) {
      if (p.host_port.value_or(0) == 0) continue;
      const std::string hp = std::to_string(*p.host_port);
      const std::string container_port = p.container_port ? std::to_string(*p.container_port) : "?";
      const std::string proto = p.protocol.value_or("TCP");
      const std::size_t i = p.index;
      emit(out, c.path + "/ports/" + std::to_string(i) + "/hostPort", c.name,
           describe(c) + " declares hostPort " + hp + " (containerPort " + container_port + "/" + proto +
               "): a port on the node bypasses the pod's NetworkPolicy",
           "remove `hostPort: " + hp + "` from " + describe(c) + " and reach it through a Service");
    }
  }
}

}  // namespace

extern const Rule rule_host_port{"host-port",
                                 Severity::error,
                                 RuleScope::pod,
                                 "A container, init container or sidecar declares a hostPort, opening a port on "
                                 "the node outside NetworkPolicy.",
                                 "Remove `hostPort` and use a Service.",
                                 host_port,
                                 "any container, init container or sidecar declares a `hostPort`"};

}  // namespace loki::checks
