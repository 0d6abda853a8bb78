// host-port: a container (init and sidecar included) binds a port on the
// node. Traffic through a hostPort is NATed on the node and is a well-known
// way around NetworkPolicy; a sidecar with one is the tunnel in the seeds.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void host_port(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    auto ports = c.json->find("ports");
    if (ports == c.json->end() || !ports->is_array()) continue;
    for (std::size_t i = 0; i < ports->size(); ++i) {
      const auto& p = (*ports)[i];
      if (!p.is_object()) continue;
      auto hp = p.find("hostPort");
      if (hp == p.end() || !hp->is_number_integer() || hp->get<long long>() == 0) continue;
      std::string container_port = "?";
      if (auto cp = p.find("containerPort"); cp != p.end() && cp->is_number_integer())
        container_port = std::to_string(cp->get<long long>());
      std::string proto = "TCP";
      if (auto pr = p.find("protocol"); pr != p.end() && pr->is_string()) proto = pr->get<std::string>();
      emit(out, c.path + "/ports/" + std::to_string(i) + "/hostPort", c.name,
           describe(c) + " declares hostPort " + std::to_string(hp->get<long long>()) + " (containerPort " +
               container_port + "/" + proto + "): a port on the node bypasses the pod's NetworkPolicy",
           "remove `hostPort: " + std::to_string(hp->get<long long>()) + "` from " + describe(c) +
               " and reach it through a Service");
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
