#include "explain.hpp"

#include "inventory.hpp"

#include <loki/config.hpp>
#include <loki/lint.hpp>
#include <loki/netpol.hpp>
#include <loki/workload_kinds.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

namespace loki_audit {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// kubectl's names for the workload kinds (kind, plural, short names) -> the lower-case kind.
std::string canonical_kind(const std::string& k) {
  std::string l = lower(k);
  for (const loki::WorkloadKind& w : loki::workload_kinds()) {
    bool match = l == w.plural;
    for (std::string_view s : w.short_names) match |= l == s;
    if (match) return lower(std::string(w.kind));
  }
  return l;
}

// Finds the workload KIND/NAME; `ns` empty = any namespace, if unique.
const loki::netpol::PodInfo* find_workload(const loki::netpol::Inventory& inv, const std::string& target,
                                           const std::string& ns, std::string& error) {
  auto slash = target.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == target.size()) {
    error = "expected KIND/NAME (e.g. deployment/loki-agent), got \"" + target + "\"";
    return nullptr;
  }
  std::string kind = canonical_kind(target.substr(0, slash));
  std::string name = target.substr(slash + 1);
  std::vector<const loki::netpol::PodInfo*> found;
  for (const auto& p : inv.pods)
    if (lower(p.ref.kind) == kind && p.ref.name == name && (ns.empty() || p.ns == ns)) found.push_back(&p);
  if (found.empty()) {
    error =
        "no " + target + (ns.empty() ? std::string() : " in namespace " + ns) + " among the pod templates of the input";
    return nullptr;
  }
  if (found.size() > 1) {
    error = target + " exists in several namespaces (";
    for (std::size_t i = 0; i < found.size(); ++i) error += (i ? ", " : "") + found[i]->ns;
    error += "): pick one with -n";
    return nullptr;
  }
  return found.front();
}

// The steps of parse_to. Each returns what is wrong (empty: nothing), which
// parse_to prefixes with "--to TEXT: ".

// Strips a "/PROTO" suffix (a slash after the last colon, so KIND/NAME:PORT keeps its slash).
std::string take_protocol(std::string& s, loki::netpol::ExplainTarget& t, bool& proto_given) {
  auto slash = s.rfind('/');
  if (slash == std::string::npos || s.find(':', slash) != std::string::npos) return "";
  auto proto = loki::netpol::parse_protocol(s.substr(slash + 1));
  if (!proto) return "protocol must be TCP, UDP or SCTP";
  t.protocol = *proto;
  proto_given = true;
  s.resize(slash);
  return "";
}

// HOST:PORT or [IPv6]:PORT.
std::string split_host_port(const std::string& s, std::string& host, std::string& port) {
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return "expected [IPv6]:PORT";
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    return "";
  }
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return "expected HOST_OR_IP:PORT[/PROTO]";
  host = s.substr(0, colon);
  port = s.substr(colon + 1);
  return "";
}

bool all_digits(const std::string& port) {
  return !port.empty() && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string set_port_number(const std::string& port, loki::netpol::ExplainTarget& t) {
  try {
    t.port = std::stoi(port);
  } catch (const std::exception&) {
    t.port = 0;  // out of int's range
  }
  if (t.port < 1 || t.port > 65535)
    return "port must be a number from 1 to 65535 (or a named port of a destination pod)";
  return "";
}

// A named port, resolved against the destination's container ports as the API
// resolves a named port of a policy; the first match wins.
std::string resolve_named_port(const loki::netpol::PodInfo& p, const std::string& port, bool proto_given,
                               loki::netpol::ExplainTarget& t) {
  const loki::netpol::NamedPort* found = nullptr;
  std::string names;
  for (const auto& np : p.ports) {
    names += (names.empty() ? "" : ", ") + np.name;
    if (np.name == port && (!proto_given || np.protocol == t.protocol) && !found) found = &np;
  }
  if (!found)
    return p.ref.display() + " has no container port named " + port +
           (proto_given ? " on " + std::string(loki::netpol::to_string(t.protocol)) : std::string()) +
           (names.empty() ? std::string(" (it names none)") : " (named ports: " + names + ")");
  t.port = found->port;
  t.protocol = found->protocol;
  t.port_name = port;
  return "";
}

// Another workload of the input: --to-namespace, else the same namespace
// first, else wherever the name is unique.
std::string to_workload(const loki::netpol::Inventory& inv, const loki::netpol::PodInfo& from, const std::string& to_ns,
                        const std::string& host, const std::string& port, bool proto_given,
                        loki::netpol::ExplainTarget& t) {
  std::string err;
  const loki::netpol::PodInfo* p = nullptr;
  if (!to_ns.empty()) {
    p = find_workload(inv, host, to_ns, err);
  } else {
    p = find_workload(inv, host, from.ns, err);
    if (!p) p = find_workload(inv, host, "", err);
  }
  if (!p) return err;
  t.dest = loki::netpol::Destination::to_pod(*p);
  return all_digits(port) ? "" : resolve_named_port(*p, port, proto_given, t);
}

// An IP address or a host name; their ports must be numbers.
std::string to_address(const std::string& host, const std::string& port, loki::netpol::ExplainTarget& t) {
  using loki::netpol::Destination;
  if (!all_digits(port)) return "port must be a number from 1 to 65535 (names only for a KIND/NAME destination)";
  if (auto ip = loki::netpol::IpAddress::parse(host))
    t.dest = Destination::address(*ip);
  else if (!host.empty())
    t.dest = Destination::hostname(host);
  else
    return "missing host";
  return "";
}

// --to HOST_OR_IP:PORT[/PROTO], [IPv6]:PORT[/PROTO] or KIND/NAME:PORT_OR_NAME[/PROTO].
std::optional<loki::netpol::ExplainTarget> parse_to(const std::string& text, const loki::netpol::Inventory& inv,
                                                    const loki::netpol::PodInfo& from, const std::string& to_ns,
                                                    std::string& error) {
  loki::netpol::ExplainTarget t;
  t.text = text;
  std::string s = text, host, port;
  bool proto_given = false;
  std::string err = take_protocol(s, t, proto_given);
  if (err.empty()) err = split_host_port(s, host, port);
  if (err.empty() && all_digits(port)) err = set_port_number(port, t);
  if (err.empty())
    err = host.find('/') != std::string::npos ? to_workload(inv, from, to_ns, host, port, proto_given, t)
                                              : to_address(host, port, t);
  if (!err.empty()) {
    error = "--to " + text + ": " + err;
    return std::nullopt;
  }
  return t;
}

std::vector<loki::netpol::Cidr> pod_cidrs_of(const ExplainOptions& o) {
  return parse_pod_cidrs(o.pod_cidrs);
}

// --queries: one JSON line per query; a query that cannot be parsed is
// answered with {"error": ...} in its place, so results stay aligned.
int run_queries(const ExplainOptions& o, const loki::netpol::Inventory& inv) {
  std::ifstream in(o.queries);
  if (!in) {
    std::cerr << "loki-audit: explain: cannot read --queries " << o.queries << "\n";
    return 2;
  }
  loki::netpol::Analyzer analyzer(inv);
  analyzer.set_pod_cidrs(pod_cidrs_of(o));
  nlohmann::json out = nlohmann::json::array();
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json q = nlohmann::json::parse(line, nullptr, false);
    if (!q.is_object() || !q.contains("from") || !q.contains("to") || !q["from"].is_string() || !q["to"].is_string()) {
      out.push_back({{"error", "a query needs string fields from and to"}, {"query", line}});
      continue;
    }
    std::string error;
    const auto* pod = find_workload(inv, q["from"].get<std::string>(), q.value("namespace", ""), error);
    std::optional<loki::netpol::ExplainTarget> to;
    if (pod) to = parse_to(q["to"].get<std::string>(), inv, *pod, q.value("to_namespace", ""), error);
    if (!pod || !to) {
      out.push_back({{"error", error}, {"query", q}});
      continue;
    }
    out.push_back(loki::netpol::explain_json(analyzer, *pod, *to));
  }
  std::cout << out.dump(1) << "\n";
  return 0;
}

}  // namespace

CLI::App* add_explain_command(CLI::App& app, ExplainOptions& o) {
  auto* cmd = app.add_subcommand(
      "explain",
      "Explain a workload's network isolation: the policies of its namespace and whether (or why not) they select "
      "it, isolation per direction, its allowed egress and ingress, and with --to the verdict for one destination "
      "(a pod: its egress and the destination's ingress). Exit codes: 0 (with --to: allowed), 1 (with --to: "
      "denied), 3 (with --to: conditional on something the input does not say), 2 usage error.");
  cmd->add_option("workload", o.target, "KIND/NAME, e.g. deployment/loki-agent (not with --queries)");
  cmd->add_option("paths", o.paths, "Files, directories or - (stdin); none: the live cluster");
  cmd->add_option("--kubeconfig", o.kubeconfig,
                  "Kubeconfig (cluster mode; else $KUBECONFIG, ~/.kube/config, in-cluster)");
  cmd->add_option("--context", o.context, "Kubeconfig context (cluster mode)");
  cmd->add_option("-n,--namespace", o.ns,
                  "Namespace of the workload (default: wherever the name is unique); also the namespace of objects "
                  "that set none when given");
  cmd->add_option("--to", o.to,
                  "Destination: HOST_OR_IP:PORT[/PROTO] ([IPv6]:PORT), or KIND/NAME:PORT[/PROTO] for another workload "
                  "of the input (PORT may be one of its named ports); protocol defaults to TCP (a named port's own)");
  cmd->add_option("--to-namespace", o.to_ns, "Namespace of a KIND/NAME destination (default: the workload's)");
  cmd->add_option("-f,--format", o.format, "Output with --to: text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--pod-cidr", o.pod_cidrs,
                  "The cluster's pod CIDR (repeatable): decides ipBlock rules for destinations known only by their "
                  "template, whose IP is otherwise unknown (verdict: conditional)")
      ->check(cidr_validator())
      ->allow_extra_args(false);  // one CIDR per --pod-cidr: the paths follow
  cmd->add_option("--queries", o.queries,
                  "Answer many queries in one run: a file of JSON lines {\"from\": \"KIND/NAME\", \"namespace\": NS, "
                  "\"to\": TO, \"to_namespace\": NS2}; prints a JSON array of verdicts (as -f json)");
  cmd->add_option("--config", o.config_path, "Policy config file (selector, AI hosts)");
  cmd->add_option("-l,--selector", o.selector, "Which pods are loki-mode pods (kubectl label-selector syntax)");
  cmd->add_flag("--all-pods", o.all_pods, "Treat every pod as a loki-mode pod");
  cmd->add_option("--threads", o.threads, "Parser threads (0: one per core)");
  return cmd;
}

int run_explain(const ExplainOptions& opts) {
  ExplainOptions o = opts;
  // With --queries there is no workload argument: the first positional is a path.
  if (!o.queries.empty() && !o.target.empty()) {
    o.paths.insert(o.paths.begin(), o.target);
    o.target.clear();
  }
  InventorySource src;
  src.paths = o.paths;
  src.kubeconfig = o.kubeconfig;
  src.context = o.context;
  src.ns = o.ns;
  src.threads = o.threads;
  // A destination in another namespace: its pods and its ingress policies too.
  if (!o.to_ns.empty()) src.more_namespaces.push_back(o.to_ns);
  LoadedInventory loaded(src, engine_options_for(o.config_path, o.selector, o.all_pods));
  const loki::netpol::Inventory& inv = loaded.get();
  std::string error;
  if (!o.queries.empty()) return run_queries(o, inv);
  if (o.target.empty()) {
    std::cerr << "loki-audit: explain: a workload KIND/NAME is required (or --queries FILE)\n";
    return 2;
  }
  const loki::netpol::PodInfo* pod = find_workload(inv, o.target, o.ns, error);
  if (!pod) {
    std::cerr << "loki-audit: explain: " << error << "\n";
    return 2;
  }
  std::optional<loki::netpol::ExplainTarget> to;
  if (!o.to.empty()) {
    to = parse_to(o.to, inv, *pod, o.to_ns, error);
    if (!to) {
      std::cerr << "loki-audit: explain: " << error << "\n";
      return 2;
    }
  }
  loki::netpol::Analyzer analyzer(inv);
  analyzer.set_pod_cidrs(pod_cidrs_of(o));
  if (to && o.format == "json")
    std::cout << loki::netpol::explain_json(analyzer, *pod, *to).dump(2) << "\n";
  else
    std::cout << loki::netpol::explain(analyzer, *pod, to);
  std::cout.flush();
  if (!to) return 0;
  switch (analyzer.connect(*pod, to->dest, to->port, to->protocol).answer) {
    case loki::netpol::Verdict::Answer::allowed:
      return 0;
    case loki::netpol::Verdict::Answer::denied:
      return 1;
    case loki::netpol::Verdict::Answer::conditional:
      return 3;
  }
  return 1;
}

}  // namespace loki_audit
