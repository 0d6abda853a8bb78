// client.authentication.k8s.io exec credential plugins (kubectl's "exec:"
// users): run the command, read an ExecCredential from its stdout.
// https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins
#pragma once

#include <loki/kubeconfig.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace loki {

struct ExecCredential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<std::chrono::system_clock::time_point> expiration;
  bool expired() const { return expiration && std::chrono::system_clock::now() >= *expiration; }
};

// Runs the plugin (stdin closed, stderr passed through) and parses its
// output. Throws KubeError: command missing (with installHint), non-zero
// exit, malformed output.
ExecCredential run_exec_plugin(const ExecConfig& exec, const ClusterConfig& cluster);

// Parses an ExecCredential document; `expected_api_version` must match.
ExecCredential parse_exec_credential(const std::string& json_text, const std::string& expected_api_version,
                                     const std::string& command);

// RFC 3339 timestamp ("2026-11-23T14:00:00Z", with optional fraction and offset).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s);

}  // namespace loki
