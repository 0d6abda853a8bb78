#include "exec_credential.hpp"

#include <loki/base64.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

extern char** environ;

namespace loki {

using nlohmann::json;

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  char rest[64] = {0};
  // Fixed-width %Nd fields cannot overflow an int, and a non-number fails the match count.
  // NOLINTNEXTLINE(cert-err34-c)
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%63s", &y, &mo, &d, &h, &mi, &sec, rest) < 6) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  std::string r = rest;
  if (!r.empty() && r[0] == '.') {  // fractional seconds: ignored
    std::size_t i = 1;
    while (i < r.size() && std::isdigit(static_cast<unsigned char>(r[i]))) ++i;
    r = r.substr(i);
  }
  if (!r.empty() && (r[0] == '+' || r[0] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(r.c_str() + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;  // NOLINT(cert-err34-c): as above
    int off = (oh * 3600 + om * 60) * (r[0] == '+' ? 1 : -1);
    t -= off;
  } else if (r != "Z" && r != "z") {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(t);
}

ExecCredential parse_exec_credential(const std::string& text, const std::string& expected_api_version,
                                     const std::string& command) {
  auto j = json::parse(text, nullptr, false);
  const std::string who = "exec plugin \"" + command + "\"";
  if (!j.is_object()) throw KubeError(who + " printed something that is not an ExecCredential JSON document");
  if (j.value("kind", "") != "ExecCredential")
    throw KubeError(who + " printed kind \"" + j.value("kind", "") + "\", expected ExecCredential");
  if (j.value("apiVersion", "") != expected_api_version)
    throw KubeError(who + " answered with apiVersion \"" + j.value("apiVersion", "") +
                    "\" but the kubeconfig asks for \"" + expected_api_version + "\"");
  auto st = j.find("status");
  if (st == j.end() || !st->is_object()) throw KubeError(who + " printed an ExecCredential without status");
  ExecCredential c;
  c.token = st->value("token", "");
  c.client_cert_pem = st->value("clientCertificateData", "");
  c.client_key_pem = st->value("clientKeyData", "");
  if (c.token.empty() && c.client_cert_pem.empty())
    throw KubeError(who + " returned neither a token nor a client certificate");
  if (auto exp = st->value("expirationTimestamp", ""); !exp.empty()) {
    c.expiration = parse_rfc3339(exp);
    if (!c.expiration) throw KubeError(who + " returned an invalid expirationTimestamp \"" + exp + "\"");
  }
  return c;
}

namespace {

// KUBERNETES_EXEC_INFO: the ExecCredential request, with the cluster when the
// kubeconfig asks for provideClusterInfo.
json exec_info(const ExecConfig& exec, const ClusterConfig& cluster) {
  json info = {{"apiVersion", exec.apiVersion}, {"kind", "ExecCredential"}, {"spec", {{"interactive", false}}}};
  if (exec.provideClusterInfo) {
    json c = {{"server", cluster.server}};
    if (!cluster.ca_pem.empty()) c["certificate-authority-data"] = base64_encode(cluster.ca_pem);
    if (!cluster.tls_server_name.empty()) c["tls-server-name"] = cluster.tls_server_name;
    if (cluster.insecure_skip_tls_verify) c["insecure-skip-tls-verify"] = true;
    info["spec"]["cluster"] = c;
  }
  return info;
}

// Our environment, with the kubeconfig's env entries overriding it.
std::vector<std::string> plugin_env(const ExecConfig& exec, const json& info) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("KUBERNETES_EXEC_INFO=", 0) == 0) continue;
    bool overridden = false;
    for (auto& [k, v] : exec.env) overridden |= kv.rfind(k + "=", 0) == 0;
    if (!overridden) env.push_back(kv);
  }
  for (auto& [k, v] : exec.env) env.push_back(k + "=" + v);
  env.push_back("KUBERNETES_EXEC_INFO=" + info.dump());
  return env;
}

// A null-terminated char* array over `strings` (which must outlive it).
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts the plugin with stdin from /dev/null and stdout to a pipe; returns
// the pid and the pipe's read end.
std::pair<pid_t, int> spawn_plugin(const ExecConfig& exec, const ClusterConfig& cluster, char* const* argv,
                                   char* const* envp) {
  int out[2];
  if (::pipe(out) != 0) throw KubeError(std::string("exec plugin: pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, out[1]);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, exec.command.c_str(), &fa, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    std::string msg = "exec plugin \"" + exec.command + "\" for user \"" + cluster.user_name +
                      "\" could not be run: " + std::strerror(rc);
    if (rc == ENOENT && !exec.installHint.empty()) msg += "\n" + exec.installHint;
    throw KubeError(msg);
  }
  return {pid, out[0]};
}

// Reads `fd` to its end, at most 1 MiB and until `deadline`; false when the
// deadline passed.
bool read_bounded(int fd, std::chrono::steady_clock::time_point deadline, std::string& output) {
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return pr != 0;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    output.append(buf, static_cast<std::size_t>(n));
    if (output.size() > std::size_t{1024} * 1024) return true;
  }
}

void check_exit(const ExecConfig& exec, int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string msg = "exec plugin \"" + exec.command + "\" failed (exit " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !exec.installHint.empty()) msg += "\n" + exec.installHint;
  throw KubeError(msg);
}

}  // namespace

ExecCredential run_exec_plugin(const ExecConfig& exec, const ClusterConfig& cluster) {
  std::vector<std::string> env_store = plugin_env(exec, exec_info(exec, cluster));
  std::vector<std::string> argv_store{exec.command};
  argv_store.insert(argv_store.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> envp = c_array(env_store), argv = c_array(argv_store);
  auto [pid, fd] = spawn_plugin(exec, cluster, argv.data(), envp.data());
  std::string output;
  // Bounded: a plugin that hangs for a minute or prints megabytes is broken.
  const bool timed_out = !read_bounded(fd, std::chrono::steady_clock::now() + std::chrono::seconds(60), output);
  ::close(fd);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw KubeError("exec plugin \"" + exec.command + "\" did not finish within 60 s");
  check_exit(exec, status);
  // clientCertificateData is PEM text, not base64 (unlike kubeconfig *-data).
  return parse_exec_credential(output, exec.apiVersion, exec.command);
}

}  // namespace loki
