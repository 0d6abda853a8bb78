// Where to reach the API server and how to authenticate, resolved exactly as
// kubectl does: --kubeconfig (that file only), else $KUBECONFIG (a colon list,
// merged, the first file to define a name wins), else ~/.kube/config; else
// in-cluster config from the pod's ServiceAccount.
// https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace loki {

// Any failure to reach or use the API server, worded for the person running
// the command (which server, which user, what to do).
struct KubeError : std::runtime_error {
  // runtime_error copies the message either way (it has no string&& constructor).
  KubeError(const std::string& message, int status = 0, std::string reason = {})
      : std::runtime_error(message), status(status), reason(std::move(reason)) {}
  int status;  // HTTP status, 0 for transport/config errors
  // The Status's first details.causes[].reason where it says more than the code (NamespaceTerminating), else
  // its reason (Forbidden, NotFound, Conflict, ...); empty without a Status body.
  std::string reason;
};

// client.authentication.k8s.io exec credential plugin settings.
struct ExecConfig {
  std::string apiVersion;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string installHint;
  bool provideClusterInfo = false;
};

struct ClusterConfig {
  std::string server;  // https://host:port[/path]
  std::string host;
  std::string port;
  std::string base_path;  // from the server URL, usually empty
  bool tls = true;

  // TLS
  std::string ca_pem;  // empty: system roots
  std::string ca_source;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string client_cert_pem;
  std::string client_key_pem;

  // Credentials
  std::string token;
  std::string token_file;  // re-read as it rotates (in-cluster, tokenFile)
  std::optional<ExecConfig> exec;

  // Names, for messages.
  std::string context;
  std::string cluster_name;
  std::string user_name;
  std::string default_namespace;  // the context's namespace, "" when unset
  std::string source;             // which file(s), or "in-cluster"
};

struct KubeConfigOptions {
  std::string kubeconfig;    // --kubeconfig
  std::string context;       // --context
  std::string user = {};     // kubectl's --user: overrides the context's user
  std::string cluster = {};  // kubectl's --cluster: overrides the context's cluster
};

// Resolves the client configuration. Throws KubeError with a clear message
// (missing file, unknown context, legacy auth-provider, ...).
ClusterConfig load_cluster_config(const KubeConfigOptions& opts);

// Splits "https://host:port/path" into cfg's host, port, base_path and tls.
void parse_server_url(const std::string& url, ClusterConfig& cfg);

}  // namespace loki
