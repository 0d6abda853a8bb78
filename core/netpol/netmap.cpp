// `loki-audit netmap`: a namespace's reachability, every cell a verdict of
// Analyzer::connect. Pod to pod cells list every allowed protocol and port, as
// np-guard's netpol-analyzer connectivity lists do (and, like them, leave out
// a workload's traffic to itself).
#include <loki/netmap.hpp>

#include <algorithm>
#include <array>
#include <sstream>

namespace loki::netpol {

namespace {

constexpr std::array<Protocol, 3> kProtocols = {Protocol::TCP, Protocol::UDP, Protocol::SCTP};
constexpr int kMaxPort = 65535;

// Port boundaries per protocol: a range [b, next b) is treated alike by every
// port spec, so one connect() per range is exact.
using Boundaries = std::array<std::vector<int>, 3>;

void add_spec(const PortSpec& s, const PodInfo& to, Boundaries& b) {
  for (std::size_t i = 0; i < kProtocols.size(); ++i) {
    if (!s.covers_protocol(kProtocols[i])) continue;
    if (!s.name.empty()) {
      // Named ports resolve against the destination pod on either side.
      for (const auto& np : to.ports)
        if (np.name == s.name && np.protocol == kProtocols[i]) b[i].insert(b[i].end(), {np.port, np.port + 1});
    } else if (s.port != 0) {
      b[i].insert(b[i].end(), {s.port, (s.end_port ? s.end_port : s.port) + 1});
    }
  }
}

void add_rules(const std::vector<EgressRule>& rules, const PodInfo& to, Boundaries& b) {
  for (const auto& r : rules)
    for (const auto& s : r.ports) add_spec(s, to, b);
}

Boundaries boundaries(const Analyzer& an, const PodInfo& from, const PodInfo& to) {
  Boundaries b;
  for (const Policy* p : an.policies_for(from.ns)) add_rules(p->egress_rules, to, b);
  for (const Policy* p : an.policies_for(to.ns)) add_rules(p->ingress_rules, to, b);
  for (const Policy* p : an.cluster_policies()) {
    add_rules(p->egress_rules, to, b);
    add_rules(p->ingress_rules, to, b);
  }
  for (auto& v : b) {
    v.push_back(1);
    v.push_back(kMaxPort + 1);
    std::erase_if(v, [](int x) { return x < 1 || x > kMaxPort + 1; });
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return b;
}

void append_range(std::vector<PortRange>& v, Protocol p, int first, int last) {
  if (!v.empty() && v.back().protocol == p && v.back().last + 1 == first) {
    v.back().last = last;
    return;
  }
  v.push_back(PortRange{p, first, last});
}

const std::string& condition_of(const Connection& c) {
  using A = Verdict::Answer;
  return c.egress.answer == A::conditional || !c.ingress ? c.egress.reason : c.ingress->reason;
}

std::string protocol_ports(Protocol p, const std::vector<PortRange>& ranges) {
  std::string ports;
  for (const auto& r : ranges) {
    if (r.protocol != p) continue;
    if (r.first == 1 && r.last == kMaxPort) return std::string(to_string(p)) + "/*";
    ports += (ports.empty() ? "" : ",") + std::to_string(r.first);
    if (r.last != r.first) ports += "-" + std::to_string(r.last);
  }
  return ports.empty() ? "" : std::string(to_string(p)) + "/" + ports;
}

Verdict::Answer combine(const std::vector<Connection>& probes) {
  using A = Verdict::Answer;
  A best = A::denied;
  for (const auto& c : probes) {
    if (c.answer == A::allowed) return A::allowed;
    if (c.answer == A::conditional) best = A::conditional;
  }
  return best;
}

// connections() with both pods analysed once.
ConnSet connections_of(const Analyzer& an, const PodNetwork& from, const PodNetwork& to) {
  ConnSet out;
  const Boundaries b = boundaries(an, *from.pod, *to.pod);
  const Destination dest = Destination::to_pod(*to.pod);
  for (std::size_t i = 0; i < kProtocols.size(); ++i) {
    for (std::size_t k = 0; k + 1 < b[i].size(); ++k) {
      const int first = b[i][k], last = b[i][k + 1] - 1;
      Connection c = an.connect(from, dest, to, first, kProtocols[i]);
      if (c.answer == Verdict::Answer::allowed) append_range(out.allowed, kProtocols[i], first, last);
      if (c.answer != Verdict::Answer::conditional) continue;
      append_range(out.conditional, kProtocols[i], first, last);
      if (out.condition.empty()) out.condition = condition_of(c);
    }
  }
  return out;
}

std::shared_ptr<PodInfo> kube_dns_stand_in() {
  auto p = std::make_shared<PodInfo>();
  p->ref = ObjectRef{"v1", "Service", "kube-system", "kube-dns"};
  p->ns = "kube-system";
  p->labels = {{"k8s-app", "kube-dns"}};
  p->ports = {{"dns", Protocol::UDP, 53}, {"dns-tcp", Protocol::TCP, 53}, {"metrics", Protocol::TCP, 9153}};
  p->file = "<kube-dns>";
  return p;
}

std::vector<NetmapExternal> externals_for(const PodInfo& dns) {
  auto ip = [](const char* s) { return Destination::address(*IpAddress::parse(s)); };
  std::vector<NetmapExternal> out;
  out.push_back({"internet",
                 "internet",
                 {{ip("1.1.1.1"), 443, Protocol::TCP, "1.1.1.1:443/TCP"},
                  {ip("2606:4700::1111"), 443, Protocol::TCP, "[2606:4700::1111]:443/TCP"}},
                 true});
  out.push_back(
      {"metadata", "metadata endpoint", {{ip("169.254.169.254"), 80, Protocol::TCP, "169.254.169.254:80/TCP"}}, true});
  out.push_back({"dns", "DNS", {{Destination::to_pod(dns), 53, Protocol::UDP, dns.ref.display() + ":53/UDP"}}, false});
  return out;
}

}  // namespace

Verdict::Answer ConnSet::answer() const {
  if (!allowed.empty()) return Verdict::Answer::allowed;
  return conditional.empty() ? Verdict::Answer::denied : Verdict::Answer::conditional;
}

std::string to_string(const std::vector<PortRange>& ranges) {
  if (ranges.empty()) return "-";
  std::string out;
  int whole = 0;
  for (Protocol p : kProtocols) {
    std::string s = protocol_ports(p, ranges);
    whole += s.ends_with("/*") ? 1 : 0;
    if (!s.empty()) out += (out.empty() ? "" : " ") + s;
  }
  return whole == static_cast<int>(kProtocols.size()) ? "all" : out;
}

ConnSet connections(const Analyzer& an, const PodInfo& from, const PodInfo& to) {
  return connections_of(an, an.analyze(from), an.analyze(to));
}

const PodInfo* find_kube_dns(const Analyzer& an) {
  for (const PodInfo* p : an.pods_in("kube-system")) {
    auto it = p->labels.find("k8s-app");
    if (it != p->labels.end() && it->second == "kube-dns") return p;
  }
  return nullptr;
}

Netmap compute_netmap(const Analyzer& an, const std::string& ns) {
  Netmap m;
  m.ns = ns;
  m.pods = an.pods_in(ns);
  const PodInfo* dns = find_kube_dns(an);
  if (!dns) {
    m.dns_stand_in = kube_dns_stand_in();
    dns = m.dns_stand_in.get();
  }
  m.externals = externals_for(*dns);
  const std::size_t n = m.pods.size();
  std::vector<PodNetwork> nets;
  for (const PodInfo* p : m.pods) nets.push_back(an.analyze(*p));
  const PodNetwork dns_net = an.analyze(*dns);
  m.conns.assign(n, std::vector<ConnSet>(n));
  m.out.assign(n, std::vector<ExternalCell>(m.externals.size()));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j)
      if (i != j) m.conns[i][j] = connections_of(an, nets[i], nets[j]);
    for (std::size_t e = 0; e < m.externals.size(); ++e) {
      ExternalCell& cell = m.out[i][e];
      for (const auto& probe : m.externals[e].probes)
        cell.probes.push_back(an.connect(nets[i], probe.dest, dns_net, probe.port, probe.protocol));
      cell.answer = combine(cell.probes);
    }
  }
  return m;
}

}  // namespace loki::netpol
