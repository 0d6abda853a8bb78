// The outputs of `loki-audit netmap`: a table, JSON (schema in the README) and
// a Graphviz digraph in the style of np-guard's `--output dot` (namespaces as
// clusters, edges labelled with the allowed connections).
#include <loki/netmap.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

namespace loki::netpol {

namespace {

using A = Verdict::Answer;

// ---- text ---------------------------------------------------------------------

struct Cell {
  std::string text;
  const char* color = nullptr;  // ANSI SGR, or nullptr
};

constexpr const char* kRed = "1;31";
constexpr const char* kYellow = "33";
constexpr const char* kBold = "1";

std::string row_name(const PodInfo& p) {
  std::string s = p.ref.kind + "/" + p.ref.name;
  if (p.host_network) s += " [hostNetwork]";
  if (p.loki) s += " *";
  return s;
}

Cell pod_cell(const ConnSet& c) {
  if (c.conditional.empty()) return {to_string(c.allowed), nullptr};
  std::string cond = "?" + to_string(c.conditional);
  return {c.allowed.empty() ? cond : to_string(c.allowed) + " " + cond, kYellow};
}

// Which families of the internet an answer holds for, when they differ.
std::string families(const ExternalCell& cell, A answer) {
  if (cell.probes.size() < 2) return "";
  std::string s;
  bool all = true;
  for (std::size_t k = 0; k < cell.probes.size(); ++k) {
    if (cell.probes[k].answer == answer)
      s += std::string(s.empty() ? "" : ",") + (k == 0 ? "IPv4" : "IPv6");
    else
      all = false;
  }
  return all ? "" : " (" + s + ")";
}

Cell external_cell(const NetmapExternal& ext, const ExternalCell& cell) {
  std::string s = std::string(to_string(cell.answer)) + families(cell, cell.answer);
  if (cell.answer == A::conditional) return {s + " ?", kYellow};
  if (cell.answer == A::allowed && ext.sensitive) return {s + " !", kRed};
  return {s, nullptr};
}

void print_table(std::ostream& out, const std::vector<std::vector<Cell>>& rows, bool color) {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].text.size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      // Pad the plain text, so escape codes do not skew the columns.
      const bool last = i + 1 == r.size();
      std::string pad = last ? "" : std::string(w[i] - r[i].text.size() + 2, ' ');
      if (color && r[i].color)
        line += "\x1b[" + std::string(r[i].color) + "m" + r[i].text + "\x1b[0m" + pad;
      else
        line += r[i].text + pad;
    }
    out << line << "\n";
  }
}

std::string probe_list(const NetmapExternal& e) {
  std::string s;
  for (const auto& p : e.probes) s += (s.empty() ? "" : ", ") + p.text;
  return s;
}

std::vector<std::vector<Cell>> table_rows(const Netmap& m) {
  std::vector<Cell> head = {{"FROM \\ TO", nullptr}};
  for (std::size_t j = 0; j < m.pods.size(); ++j) head.push_back({"[" + std::to_string(j + 1) + "]", nullptr});
  for (const auto& e : m.externals) head.push_back({e.id, nullptr});
  std::vector<std::vector<Cell>> rows = {head};
  for (std::size_t i = 0; i < m.pods.size(); ++i) {
    std::vector<Cell> r = {
        {"[" + std::to_string(i + 1) + "] " + row_name(*m.pods[i]), m.pods[i]->loki ? kBold : nullptr}};
    for (std::size_t j = 0; j < m.pods.size(); ++j) r.push_back(i == j ? Cell{"=", nullptr} : pod_cell(m.conns[i][j]));
    for (std::size_t e = 0; e < m.externals.size(); ++e) r.push_back(external_cell(m.externals[e], m.out[i][e]));
    rows.push_back(std::move(r));
  }
  return rows;
}

// ---- json ---------------------------------------------------------------------

nlohmann::json ranges_json(const std::vector<PortRange>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : v) a.push_back({{"protocol", to_string(r.protocol)}, {"first", r.first}, {"last", r.last}});
  return a;
}

// One side of a connection, as explain -f json writes it.
nlohmann::json side_json(const Verdict& v) {
  nlohmann::json j = {{"verdict", to_string(v.answer)},
                      {"reason", v.reason},
                      {"caveats", v.caveats},
                      {"policy", nullptr},
                      {"rule", nullptr}};
  if (v.by && v.by->policy) {
    j["policy"] = v.by->policy->display();
    j["rule"] = v.by->rule;
    j["peer"] = v.by->peer->to_string();
    j["ports"] = v.by->port->to_string();
  }
  return j;
}

nlohmann::json pod_json(const PodInfo& p) {
  nlohmann::json ips = nlohmann::json::array();
  for (const auto& ip : p.ips) ips.push_back(ip.to_string());
  return {{"id", p.ref.display()}, {"kind", p.ref.kind},   {"name", p.ref.name},
          {"namespace", p.ns},     {"agent", p.loki},      {"host_network", p.host_network},
          {"labels", p.labels},    {"ips", std::move(ips)}};
}

nlohmann::json external_json(const NetmapExternal& e) {
  nlohmann::json probes = nlohmann::json::array();
  for (const auto& p : e.probes)
    probes.push_back({{"to", p.dest.to_string()}, {"port", p.port}, {"protocol", to_string(p.protocol)}});
  return {{"id", e.id}, {"label", e.label}, {"sensitive", e.sensitive}, {"probes", std::move(probes)}};
}

nlohmann::json pod_conn_json(const PodInfo& from, const PodInfo& to, const ConnSet& c) {
  nlohmann::json j = {{"from", from.ref.display()},
                      {"to", to.ref.display()},
                      {"verdict", to_string(c.answer())},
                      {"allowed", ranges_json(c.allowed)},
                      {"conditional", ranges_json(c.conditional)},
                      {"text", pod_cell(c).text}};
  if (!c.conditional.empty()) j["condition"] = c.condition;
  return j;
}

nlohmann::json external_conn_json(const PodInfo& from, const NetmapExternal& e, const ExternalCell& cell) {
  nlohmann::json probes = nlohmann::json::array();
  for (std::size_t k = 0; k < cell.probes.size(); ++k) {
    const Connection& c = cell.probes[k];
    nlohmann::json p = {{"to", e.probes[k].dest.to_string()},
                        {"port", e.probes[k].port},
                        {"protocol", to_string(e.probes[k].protocol)},
                        {"verdict", to_string(c.answer)},
                        {"egress", side_json(c.egress)}};
    // As explain: an address has no ingress side.
    p["ingress"] = c.ingress
                       ? side_json(*c.ingress)
                       : nlohmann::json{{"verdict", "not-applicable"},
                                        {"reason", e.probes[k].dest.to_string() +
                                                       " is not a pod of the input; only the source's egress applies"}};
    probes.push_back(std::move(p));
  }
  return {{"from", from.ref.display()}, {"to", e.id}, {"verdict", to_string(cell.answer)}, {"probes", probes}};
}

// ---- dot ----------------------------------------------------------------------

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// np-guard's node names: ns/name[Kind].
std::string node_id(const PodInfo& p) {
  return p.ns + "/" + p.ref.name + "[" + p.ref.kind + "]";
}

std::string node_line(const PodInfo& p) {
  std::string label = p.ref.name + "\\n[" + p.ref.kind + "]";
  if (p.host_network) label += "\\nhostNetwork";
  if (p.loki) label += "\\nagent";
  std::string attrs = "label=\"" + label + "\"";
  if (p.loki) attrs += " color=red2 fontcolor=red2 penwidth=2";
  if (p.host_network) attrs += " style=dashed";
  return "    " + quoted(node_id(p)) + " [" + attrs + "]\n";
}

std::string edge_label(const ConnSet& c) {
  if (c.conditional.empty()) return to_string(c.allowed);
  return (c.allowed.empty() ? "" : to_string(c.allowed) + " ") + "?" + to_string(c.conditional);
}

std::string edge_line(const std::string& from, const std::string& to, const std::string& label, bool dashed, bool red) {
  std::string attrs = "label=" + quoted(label);
  if (dashed) attrs += " style=dashed";
  if (red) attrs += " color=red2 fontcolor=red2 penwidth=2";
  return "  " + quoted(from) + " -> " + quoted(to) + " [" + attrs + "]\n";
}

std::string external_node(const NetmapExternal& e, const Netmap& m) {
  std::string label = e.label + "\\n";
  for (std::size_t k = 0; k < e.probes.size(); ++k) {
    const Destination& d = e.probes[k].dest;
    label += (k ? ", " : "") + (d.kind == Destination::Kind::pod ? d.pod->ref.name : d.ip.to_string());
  }
  std::string line = quoted(e.id) + " [label=\"" + label + "\" shape=ellipse]\n";
  if (e.id != "dns") return "  " + line;
  const std::string ns = e.probes.front().dest.pod->ns;
  if (ns == m.ns) return "  " + line;
  return "  subgraph " + quoted("cluster_" + ns) + " {\n    label=" + quoted("namespace " + ns) + "\n    " + line +
         "  }\n";
}

std::string external_edge_label(const NetmapExternal& e, const ExternalCell& cell) {
  std::string s;
  for (std::size_t k = 0; k < e.probes.size(); ++k) {
    if (cell.probes[k].answer == A::denied) continue;
    std::string one = std::string(cell.probes[k].answer == A::conditional ? "?" : "") +
                      std::string(to_string(e.probes[k].protocol)) + "/" + std::to_string(e.probes[k].port);
    if (s.find(one) == std::string::npos) s += (s.empty() ? "" : " ") + one;
  }
  return s + families(cell, cell.answer);
}

}  // namespace

std::string netmap_text(const Netmap& m, const NetmapTextOptions& opts) {
  std::ostringstream out;
  std::size_t agents = 0;
  for (const PodInfo* p : m.pods) agents += p->loki ? 1 : 0;
  out << "Namespace " << m.ns << ": pods or workloads " << m.pods.size() << ", agents (*) " << agents << "\n";
  out << "  pod to pod: every protocol and port the source's egress and the destination's ingress both allow\n";
  for (const auto& e : m.externals) out << "  " << e.id << ": " << probe_list(e) << "\n";
  if (m.pods.empty()) {
    out << "\nNo pods or pod templates in namespace " << m.ns << ".\n";
    return out.str();
  }
  out << "\n";
  print_table(out, table_rows(m), opts.color);
  out << "\n* agent (loki-mode)  ! open egress to the internet or the metadata endpoint  - nothing allowed\n"
         "? conditional: allowed only under a condition the input does not settle (-f json names it;\n"
         "  loki-audit explain KIND/NAME --to ... explains one connection)  = a workload to itself (not listed)\n";
  return out.str();
}

nlohmann::json netmap_json(const Netmap& m) {
  nlohmann::json pods = nlohmann::json::array(), ext = nlohmann::json::array(), conns = nlohmann::json::array();
  for (const PodInfo* p : m.pods) pods.push_back(pod_json(*p));
  for (const auto& e : m.externals) ext.push_back(external_json(e));
  for (std::size_t i = 0; i < m.pods.size(); ++i) {
    for (std::size_t j = 0; j < m.pods.size(); ++j)
      if (i != j) conns.push_back(pod_conn_json(*m.pods[i], *m.pods[j], m.conns[i][j]));
    for (std::size_t e = 0; e < m.externals.size(); ++e)
      conns.push_back(external_conn_json(*m.pods[i], m.externals[e], m.out[i][e]));
  }
  return {{"namespace", m.ns}, {"pods", pods}, {"externals", ext}, {"connections", conns}};
}

std::string netmap_dot(const Netmap& m) {
  std::ostringstream out;
  out << "digraph netmap {\n"
      << "  graph [rankdir=LR fontname=\"Helvetica\" labelloc=t label=" << quoted("loki-audit netmap -n " + m.ns)
      << "]\n  node [shape=box fontname=\"Helvetica\" fontsize=11]\n"
      << "  edge [fontname=\"Helvetica\" fontsize=9 color=gray40]\n";
  out << "  subgraph " << quoted("cluster_" + m.ns) << " {\n    label=" << quoted("namespace " + m.ns) << "\n";
  for (const PodInfo* p : m.pods) out << node_line(*p);
  out << "  }\n";
  for (const auto& e : m.externals) out << external_node(e, m);
  for (std::size_t i = 0; i < m.pods.size(); ++i) {
    const std::string from = node_id(*m.pods[i]);
    for (std::size_t j = 0; j < m.pods.size(); ++j) {
      const ConnSet& c = m.conns[i][j];
      if (i == j || c.answer() == A::denied) continue;
      out << edge_line(from, node_id(*m.pods[j]), edge_label(c), c.allowed.empty(), false);
    }
    for (std::size_t e = 0; e < m.externals.size(); ++e) {
      const ExternalCell& cell = m.out[i][e];
      if (cell.answer == A::denied) continue;
      // An agent's open egress to the internet or the metadata endpoint.
      const bool red = m.pods[i]->loki && m.externals[e].sensitive;
      out << edge_line(from, m.externals[e].id, external_edge_label(m.externals[e], cell),
                       cell.answer == A::conditional, red);
    }
  }
  out << "}\n";
  return out.str();
}

}  // namespace loki::netpol
