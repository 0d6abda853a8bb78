#include <loki/base64.hpp>
#include <loki/json_access.hpp>
#include <loki/kubeconfig.hpp>
#include <loki/manifest.hpp>

#include "kubeconfig_steps.hpp"
#include "yaml_json.hpp"

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

namespace loki {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The in-cluster ServiceAccount directory. LOKI_INCLUSTER_DIR exists so the
// in-cluster path can be tested against a real API server outside a pod.
std::string serviceaccount_dir() {
  const char* d = std::getenv("LOKI_INCLUSTER_DIR");
  return d && *d ? d : "/var/run/secrets/kubernetes.io/serviceaccount";
}

std::string read_file_or_throw(const std::string& path, const std::string& what) {
  try {
    return read_input(path);
  } catch (const std::exception& e) {
    throw KubeError(what + ": cannot read " + path + ": " + e.what());
  }
}

std::string b64decode(const std::string& in, const std::string& what) {
  auto out = base64_decode(in);
  if (!out) throw KubeError(what + ": not valid base64");
  return *out;
}

struct FileEntries {
  std::string path;
  std::string dir;
  std::string current_context;
  json clusters = json::object();  // name -> cluster
  json users = json::object();
  json contexts = json::object();
};

FileEntries parse_kubeconfig_file(const std::string& path) {
  FileEntries f;
  f.path = path;
  f.dir = fs::absolute(path).parent_path().string();
  std::string text = read_file_or_throw(path, "kubeconfig");
  std::vector<detail::ParsedDocument> docs;
  std::vector<detail::YamlError> errors;
  detail::parse_yaml(text, 0, docs, errors);
  if (!errors.empty())
    throw KubeError("kubeconfig " + path + ":" + std::to_string(errors[0].line) + ": " + errors[0].message);
  if (docs.empty() || docs[0].value.is_null()) return f;  // an empty kubeconfig is valid
  const json& root = docs[0].value;
  if (!root.is_object()) throw KubeError("kubeconfig " + path + ": not a kubeconfig (expected a mapping)");
  f.current_context = string_field(root, "current-context");
  auto collect = [&](const char* list, const char* inner, json& into) {
    auto it = root.find(list);
    if (it == root.end() || it->is_null()) return;
    if (!it->is_array()) throw KubeError("kubeconfig " + path + ": field " + list + ": expected a list");
    for (const auto& e : *it) {
      std::string name = e.is_object() ? string_field(e, "name") : "";
      if (name.empty()) throw KubeError("kubeconfig " + path + ": an entry in " + list + " has no name");
      auto body = e.find(inner);
      if (!into.contains(name)) into[name] = (body != e.end() && body->is_object()) ? *body : json::object();
    }
  };
  collect("clusters", "cluster", f.clusters);
  collect("users", "user", f.users);
  collect("contexts", "context", f.contexts);
  // Relative paths resolve against the file that names them.
  auto resolve = [&](json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string() || it->get<std::string>().empty()) return;
    fs::path p = it->get<std::string>();
    if (p.is_relative()) *it = (fs::path(f.dir) / p).lexically_normal().string();
  };
  for (auto& [n, c] : f.clusters.items()) resolve(c, "certificate-authority");
  for (auto& [n, u] : f.users.items()) {
    resolve(u, "client-certificate");
    resolve(u, "client-key");
    resolve(u, "tokenFile");
    if (auto ex = u.find("exec"); ex != u.end() && ex->is_object()) {
      // A command with a slash is a path relative to the kubeconfig (client-go).
      std::string cmd = string_field(*ex, "command");
      if (cmd.find('/') != std::string::npos && fs::path(cmd).is_relative())
        (*ex)["command"] = (fs::path(f.dir) / cmd).lexically_normal().string();
    }
  }
  return f;
}

std::vector<std::string> split_paths(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.push_back(item);
  return out;
}

ClusterConfig in_cluster_config() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  ClusterConfig cfg;
  std::string h = host;
  cfg.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + (port ? port : "443");
  parse_server_url(cfg.server, cfg);
  std::string dir = serviceaccount_dir();
  cfg.token_file = dir + "/token";
  cfg.ca_pem = read_file_or_throw(dir + "/ca.crt", "in-cluster config");
  cfg.ca_source = dir + "/ca.crt";
  if (fs::exists(dir + "/namespace")) {
    cfg.default_namespace = read_input(dir + "/namespace");
    while (!cfg.default_namespace.empty() && std::isspace(static_cast<unsigned char>(cfg.default_namespace.back())))
      cfg.default_namespace.pop_back();
  }
  cfg.context = "in-cluster";
  cfg.user_name = "serviceaccount";
  cfg.source = "in-cluster (" + dir + ")";
  return cfg;
}

}  // namespace

void parse_server_url(const std::string& url, ClusterConfig& cfg) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) {
    cfg.tls = true;
    rest = rest.substr(8);
  } else if (rest.rfind("http://", 0) == 0) {
    cfg.tls = false;
    rest = rest.substr(7);
  } else {
    throw KubeError("server \"" + url + "\" is not an http(s) URL");
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  cfg.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!cfg.base_path.empty() && cfg.base_path.back() == '/') cfg.base_path.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) throw KubeError("server \"" + url + "\": unterminated IPv6 address");
    cfg.host = hostport.substr(1, close - 1);
    cfg.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "";
  } else {
    auto colon = hostport.rfind(':');
    cfg.host = hostport.substr(0, colon);
    cfg.port = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (cfg.port.empty()) cfg.port = cfg.tls ? "443" : "80";
  if (cfg.host.empty()) throw KubeError("server \"" + url + "\" has no host");
}

namespace kubeconfig {

std::vector<std::string> discover_files(const std::string& flag) {
  std::vector<std::string> files;
  if (!flag.empty()) {
    if (!fs::exists(flag)) throw KubeError("kubeconfig " + flag + ": no such file");
    files.push_back(flag);
  } else if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    for (auto& p : split_paths(env))
      if (fs::exists(p)) files.push_back(p);  // missing entries are skipped, as kubectl does
  } else if (const char* home = std::getenv("HOME"); home && fs::exists(std::string(home) + "/.kube/config")) {
    files.push_back(std::string(home) + "/.kube/config");
  }
  return files;
}

Merged merge_files(const std::vector<std::string>& files) {
  // The first file to set a value wins (kubectl's merge order).
  Merged merged;
  for (const auto& path : files) {
    FileEntries f = parse_kubeconfig_file(path);
    if (merged.current_context.empty()) merged.current_context = f.current_context;
    for (auto [from, into] : {std::pair{&f.clusters, &merged.clusters}, std::pair{&f.users, &merged.users},
                              std::pair{&f.contexts, &merged.contexts}})
      for (auto& [k, v] : from->items())
        if (!into->contains(k)) (*into)[k] = v;
    merged.sources += (merged.sources.empty() ? "" : ":") + path;
  }
  return merged;
}

}  // namespace kubeconfig

namespace {

using kubeconfig::Merged;

// The context, cluster and user names, and the context's namespace.
void select_context(const Merged& m, const KubeConfigOptions& opts, ClusterConfig& cfg) {
  cfg.context = opts.context.empty() ? m.current_context : opts.context;
  if (cfg.context.empty())
    throw KubeError("kubeconfig " + m.sources + " sets no current-context; pass --context (contexts: " + [&] {
      std::string names;
      for (auto& [k, v] : m.contexts.items()) names += (names.empty() ? "" : ", ") + k;
      return names.empty() ? std::string("none") : names;
    }() + ")");
  if (!m.contexts.contains(cfg.context))
    throw KubeError("context \"" + cfg.context + "\" not found in kubeconfig " + m.sources);
  const json& ctx = m.contexts[cfg.context];
  cfg.cluster_name = opts.cluster.empty() ? string_field(ctx, "cluster") : opts.cluster;
  cfg.user_name = opts.user.empty() ? string_field(ctx, "user") : opts.user;
  cfg.default_namespace = string_field(ctx, "namespace");
}

// Server and TLS settings of the selected cluster.
void apply_cluster(const Merged& m, ClusterConfig& cfg) {
  if (!m.clusters.contains(cfg.cluster_name))
    throw KubeError("context \"" + cfg.context + "\" names cluster \"" + cfg.cluster_name + "\", which kubeconfig " +
                    m.sources + " does not define");
  const json& cl = m.clusters[cfg.cluster_name];
  cfg.server = string_field(cl, "server");
  if (cfg.server.empty()) throw KubeError("cluster \"" + cfg.cluster_name + "\" in " + m.sources + " has no server");
  parse_server_url(cfg.server, cfg);
  cfg.tls_server_name = string_field(cl, "tls-server-name");
  if (auto it = cl.find("insecure-skip-tls-verify"); it != cl.end() && it->is_boolean())
    cfg.insecure_skip_tls_verify = it->get<bool>();
  if (auto data = string_field(cl, "certificate-authority-data"); !data.empty()) {
    cfg.ca_pem = b64decode(data, "cluster \"" + cfg.cluster_name + "\" certificate-authority-data");
    cfg.ca_source = "certificate-authority-data of cluster \"" + cfg.cluster_name + "\"";
  } else if (auto file = string_field(cl, "certificate-authority"); !file.empty()) {
    cfg.ca_pem = read_file_or_throw(file, "cluster \"" + cfg.cluster_name + "\" certificate-authority");
    cfg.ca_source = file;
  }
}

// Legacy auth providers were removed from client-go: say what replaces them.
void reject_auth_provider(const json& u, const std::string& who) {
  auto ap = u.find("auth-provider");
  if (ap == u.end() || !ap->is_object()) return;
  std::string name = string_field(*ap, "name");
  if (name == "gcp")
    throw KubeError(who +
                    " uses the removed `auth-provider: gcp`; install gke-gcloud-auth-plugin and run "
                    "`gcloud container clusters get-credentials` to switch the kubeconfig to it "
                    "(https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)");
  if (name == "azure")
    throw KubeError(who +
                    " uses the removed `auth-provider: azure`; convert the kubeconfig with `kubelogin "
                    "convert-kubeconfig`");
  throw KubeError(who + " uses `auth-provider: " + name +
                  "`, which was removed from Kubernetes clients; use an exec credential plugin instead");
}

// Inline data wins over the file, as in client-go.
std::string data_or_file(const json& u, const std::string& key, const std::string& who) {
  if (auto d = string_field(u, (key + "-data").c_str()); !d.empty()) return b64decode(d, who + " " + key + "-data");
  if (auto f = string_field(u, key.c_str()); !f.empty()) return read_file_or_throw(f, who + " " + key);
  return "";
}

ExecConfig parse_exec(const json& ex, const std::string& who) {
  ExecConfig e;
  e.apiVersion = string_field(ex, "apiVersion");
  e.command = string_field(ex, "command");
  e.installHint = string_field(ex, "installHint");
  if (e.command.empty()) throw KubeError(who + ": exec plugin has no command");
  if (e.apiVersion != "client.authentication.k8s.io/v1" && e.apiVersion != "client.authentication.k8s.io/v1beta1")
    throw KubeError(who + ": exec plugin apiVersion \"" + e.apiVersion +
                    "\" is not supported (use client.authentication.k8s.io/v1 or v1beta1)");
  if (auto a = ex.find("args"); a != ex.end() && a->is_array())
    for (auto& v : *a)
      if (v.is_string()) e.args.push_back(v.get<std::string>());
  if (auto en = ex.find("env"); en != ex.end() && en->is_array())
    for (auto& v : *en)
      if (v.is_object()) e.env.emplace_back(string_field(v, "name"), string_field(v, "value"));
  if (auto pci = ex.find("provideClusterInfo"); pci != ex.end() && pci->is_boolean())
    e.provideClusterInfo = pci->get<bool>();
  return e;
}

// Credentials of the selected user (none when the context names no user).
void apply_user(const Merged& m, ClusterConfig& cfg) {
  if (cfg.user_name.empty()) return;
  if (!m.users.contains(cfg.user_name))
    throw KubeError("context \"" + cfg.context + "\" names user \"" + cfg.user_name + "\", which kubeconfig " +
                    m.sources + " does not define");
  const json& u = m.users[cfg.user_name];
  const std::string who = "user \"" + cfg.user_name + "\"";
  reject_auth_provider(u, who);
  cfg.token = string_field(u, "token");
  cfg.token_file = string_field(u, "tokenFile");
  cfg.client_cert_pem = data_or_file(u, "client-certificate", who);
  cfg.client_key_pem = data_or_file(u, "client-key", who);
  if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty())
    throw KubeError(who + " has a client certificate without a key (or a key without a certificate)");
  if (auto ex = u.find("exec"); ex != u.end() && ex->is_object()) cfg.exec = parse_exec(*ex, who);
  if (!string_field(u, "username").empty())
    throw KubeError(who +
                    " uses basic auth (username/password), which loki-audit does not support; use a token "
                    "or client certificate");
}

}  // namespace

ClusterConfig load_cluster_config(const KubeConfigOptions& opts) {
  std::vector<std::string> files = kubeconfig::discover_files(opts.kubeconfig);
  if (files.empty()) {
    if (std::getenv("KUBERNETES_SERVICE_HOST") && opts.context.empty()) return in_cluster_config();
    throw KubeError(
        "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config (and not running in a "
        "cluster: KUBERNETES_SERVICE_HOST is not set)");
  }
  Merged merged = kubeconfig::merge_files(files);
  ClusterConfig cfg;
  cfg.source = merged.sources;
  select_context(merged, opts, cfg);
  apply_cluster(merged, cfg);
  apply_user(merged, cfg);
  return cfg;
}

}  // namespace loki
