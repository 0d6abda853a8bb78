// kubeconfig resolution on temporary files, against kubectl's documented
// semantics: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
// ("merging kubeconfig files": the first file to set a value or a map key wins).
#include <doctest/doctest.h>
#include <unistd.h>
#include <loki/base64.hpp>
#include <loki/kubeconfig.hpp>

#include "kube/exec_credential.hpp"
#include "kube/kubeconfig_steps.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

namespace fs = std::filesystem;
using loki::KubeConfigOptions;
using loki::KubeError;
using loki::load_cluster_config;

namespace {

// A private directory for one test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "loki-kubeconfig-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
};

// Sets (or unsets, with nullopt) an environment variable for one scope: the
// loader reads KUBECONFIG, HOME and KUBERNETES_SERVICE_HOST.
struct EnvVar {
  std::string name;
  std::optional<std::string> old;
  EnvVar(std::string n, std::optional<std::string> value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  ~EnvVar() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

// A kubeconfig with one cluster, user and context (`ctx`), plus extra YAML.
std::string one(const std::string& ctx, const std::string& cluster, const std::string& server, const std::string& user,
                const std::string& current = "") {
  std::string t = "apiVersion: v1\nkind: Config\n";
  if (!current.empty()) t += "current-context: " + current + "\n";
  t += "clusters:\n- name: " + cluster + "\n  cluster: {server: \"" + server + "\"}\n";
  t += "users:\n- name: " + user + "\n  user: {token: token-of-" + user + "}\n";
  t += "contexts:\n- name: " + ctx + "\n  context: {cluster: " + cluster + ", user: " + user + ", namespace: ns-" +
       ctx + "}\n";
  return t;
}

KubeConfigOptions with(const std::string& file, const std::string& context = "") {
  return KubeConfigOptions{file, context};
}

}  // namespace

TEST_CASE("kubeconfig discover: --kubeconfig, then KUBECONFIG (missing entries skipped), then ~/.kube/config") {
  TempDir d;
  std::string a = d.write("a", ""), b = d.write("b", "");
  std::string home_cfg = d.write("home/.kube/config", "");
  EnvVar home("HOME", (d.path / "home").string());
  {
    EnvVar kc("KUBECONFIG", a + ":" + (d.path / "missing").string() + "::" + b);
    CHECK(loki::kubeconfig::discover_files("") == std::vector<std::string>{a, b});
    CHECK(loki::kubeconfig::discover_files(b) == std::vector<std::string>{b});  // the flag wins, that file only
    CHECK_THROWS_WITH_AS(loki::kubeconfig::discover_files((d.path / "nope").string()),
                         doctest::Contains("no such file"), KubeError);
  }
  {
    EnvVar kc("KUBECONFIG", std::nullopt);
    CHECK(loki::kubeconfig::discover_files("") == std::vector<std::string>{home_cfg});
  }
  {
    EnvVar kc("KUBECONFIG", "");  // empty is unset, as for kubectl
    CHECK(loki::kubeconfig::discover_files("") == std::vector<std::string>{home_cfg});
  }
  {
    EnvVar kc("KUBECONFIG", (d.path / "missing").string());
    EnvVar sh("KUBERNETES_SERVICE_HOST", std::nullopt);
    CHECK(loki::kubeconfig::discover_files("").empty());
    CHECK_THROWS_WITH_AS(load_cluster_config({}), doctest::Contains("no kubeconfig found"), KubeError);
  }
}

TEST_CASE("kubeconfig merge: the first file to set a name or current-context wins") {
  TempDir d;
  // a: no current-context, defines cluster "shared" (server A) and context "dev".
  std::string a = d.write("a.yaml", one("dev", "shared", "https://a.example:6443", "alice"));
  // b: sets current-context, redefines "shared" (server B, ignored) and adds "prod".
  std::string b =
      d.write("b.yaml", one("prod", "shared", "https://b.example:6443", "bob", "prod") + "preferences: {}\n");
  // c: another current-context, later: ignored.
  std::string c = d.write("c.yaml", one("stage", "stage", "https://c.example", "carol", "stage"));
  auto m = loki::kubeconfig::merge_files({a, b, c});
  CHECK(m.current_context == "prod");
  CHECK(m.sources == a + ":" + b + ":" + c);
  CHECK(m.clusters["shared"]["server"] == "https://a.example:6443");
  CHECK(m.contexts.size() == 3);

  EnvVar kc("KUBECONFIG", a + ":" + b + ":" + c);
  auto cfg = load_cluster_config({});
  CHECK(cfg.context == "prod");
  CHECK(cfg.cluster_name == "shared");
  CHECK(cfg.server == "https://a.example:6443");  // a's definition of "shared"
  CHECK(cfg.host == "a.example");
  CHECK(cfg.port == "6443");
  CHECK(cfg.user_name == "bob");
  CHECK(cfg.token == "token-of-bob");
  CHECK(cfg.default_namespace == "ns-prod");
  CHECK(cfg.source == a + ":" + b + ":" + c);

  // Order matters: with b first, its "shared" wins.
  EnvVar kc2("KUBECONFIG", b + ":" + a);
  CHECK(load_cluster_config({}).server == "https://b.example:6443");
}

TEST_CASE("kubeconfig: --context, --user and --cluster override the current context's choices") {
  TempDir d;
  std::string f =
      d.write("config", one("dev", "c1", "https://one", "u1", "dev") + "---\n");  // a trailing empty document is fine
  std::string extra = d.write("extra", one("other", "c2", "http://two:8080", "u2"));
  EnvVar kc("KUBECONFIG", f + ":" + extra);
  CHECK(load_cluster_config({}).context == "dev");
  auto other = load_cluster_config({"", "other"});
  CHECK(other.server == "http://two:8080");
  CHECK_FALSE(other.tls);
  CHECK(other.token == "token-of-u2");
  KubeConfigOptions o;
  o.user = "u2";
  o.cluster = "c2";
  auto mixed = load_cluster_config(o);
  CHECK(mixed.context == "dev");
  CHECK(mixed.user_name == "u2");
  CHECK(mixed.token == "token-of-u2");
  CHECK(mixed.cluster_name == "c2");
  CHECK(mixed.port == "8080");
  CHECK(mixed.default_namespace == "ns-dev");
  o.user = "nobody";
  CHECK_THROWS_WITH_AS(load_cluster_config(o), doctest::Contains("user \"nobody\""), KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config({"", "missing"}), doctest::Contains("context \"missing\" not found"),
                       KubeError);
  // --kubeconfig reads that file only: "other" is not there.
  CHECK_THROWS_AS(load_cluster_config(with(f, "other")), KubeError);
}

TEST_CASE("kubeconfig: no current-context names the contexts; an empty file is valid but has none") {
  TempDir d;
  std::string f = d.write("config", one("dev", "c", "https://x", "u"));
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f)),
                       doctest::Contains("sets no current-context; pass --context (contexts: dev)"), KubeError);
  std::string empty = d.write("empty", "");
  CHECK_THROWS_WITH_AS(load_cluster_config(with(empty)), doctest::Contains("(contexts: none)"), KubeError);
  std::string nocluster =
      d.write("nocluster", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: gone}\n");
  CHECK_THROWS_WITH_AS(load_cluster_config(with(nocluster)), doctest::Contains("names cluster \"gone\""), KubeError);
}

TEST_CASE("kubeconfig auth: token file, client certificate data vs file, TLS settings") {
  TempDir d;
  d.write("certs/client.crt", "CERT FROM FILE");
  d.write("certs/client.key", "KEY FROM FILE");
  d.write("certs/ca.crt", "CA FROM FILE");
  d.write("secrets/token", "file-token");
  const std::string data_cert = loki::base64_encode("CERT FROM DATA");
  std::string f = d.write("kube/config", R"(current-context: files
clusters:
- name: c
  cluster:
    server: https://[fd00::1]:6443/prefix/
    certificate-authority: ../certs/ca.crt
    tls-server-name: api.internal
- name: insecure
  cluster: {server: "https://10.0.0.1", insecure-skip-tls-verify: true, certificate-authority-data: )" +
                                             loki::base64_encode("CA DATA") + R"(}
users:
- name: files
  user: {client-certificate: ../certs/client.crt, client-key: ../certs/client.key, tokenFile: ../secrets/token}
- name: data
  user:
    client-certificate-data: )" + data_cert + R"(
    client-certificate: ../certs/client.crt
    client-key: ../certs/client.key
- name: half
  user: {client-certificate: ../certs/client.crt}
- name: badb64
  user: {client-certificate-data: "!!!", client-key-data: "!!!"}
contexts:
- {name: files, context: {cluster: c, user: files}}
- {name: data, context: {cluster: insecure, user: data}}
- {name: half, context: {cluster: c, user: half}}
- {name: badb64, context: {cluster: c, user: badb64}}
)");
  auto files = load_cluster_config(with(f));
  CHECK(files.host == "fd00::1");
  CHECK(files.base_path == "/prefix");
  CHECK(files.ca_pem == "CA FROM FILE");  // relative to the kubeconfig's directory
  CHECK(files.ca_source == (d.path / "certs/ca.crt").string());
  CHECK(files.tls_server_name == "api.internal");
  CHECK_FALSE(files.insecure_skip_tls_verify);
  CHECK(files.client_cert_pem == "CERT FROM FILE");
  CHECK(files.client_key_pem == "KEY FROM FILE");
  CHECK(files.token_file == (d.path / "secrets/token").string());  // kept as a path: it rotates
  CHECK(files.token.empty());

  auto data = load_cluster_config(with(f, "data"));
  CHECK(data.client_cert_pem == "CERT FROM DATA");  // data wins over the file
  CHECK(data.client_key_pem == "KEY FROM FILE");
  CHECK(data.insecure_skip_tls_verify);
  CHECK(data.ca_pem == "CA DATA");
  CHECK(data.ca_source == "certificate-authority-data of cluster \"insecure\"");

  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "half")), doctest::Contains("without a key"), KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "badb64")), doctest::Contains("not valid base64"), KubeError);
}

TEST_CASE("kubeconfig auth: exec plugins, removed auth providers, basic auth") {
  TempDir d;
  std::string f = d.write("config", R"(current-context: exec
clusters: [{name: c, cluster: {server: "https://k"}}]
users:
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: [--cluster, prod, 7]
      env: [{name: A, value: "1"}, "junk"]
      provideClusterInfo: true
      installHint: install get-token
- name: bare
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}}
- name: oldapi
  user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: aws}}
- name: nocmd
  user: {exec: {apiVersion: client.authentication.k8s.io/v1}}
- name: gcp
  user: {auth-provider: {name: gcp}}
- name: oidc
  user: {auth-provider: {name: oidc}}
- name: basic
  user: {username: admin, password: secret}
contexts:
- {name: exec, context: {cluster: c, user: exec}}
- {name: bare, context: {cluster: c, user: bare}}
- {name: oldapi, context: {cluster: c, user: oldapi}}
- {name: nocmd, context: {cluster: c, user: nocmd}}
- {name: gcp, context: {cluster: c, user: gcp}}
- {name: oidc, context: {cluster: c, user: oidc}}
- {name: basic, context: {cluster: c, user: basic}}
- {name: anonymous, context: {cluster: c}}
)");
  auto e = load_cluster_config(with(f));
  REQUIRE(e.exec);
  CHECK(e.exec->command == (d.path / "bin/get-token").string());  // a command with a slash is relative to the file
  CHECK(e.exec->args == std::vector<std::string>{"--cluster", "prod"});  // non-strings dropped
  REQUIRE(e.exec->env.size() == 1);
  CHECK(e.exec->env[0] == std::pair<std::string, std::string>{"A", "1"});
  CHECK(e.exec->provideClusterInfo);
  CHECK(e.exec->installHint == "install get-token");
  auto bare = load_cluster_config(with(f, "bare"));
  REQUIRE(bare.exec);
  CHECK(bare.exec->command == "aws");  // looked up on PATH
  CHECK_FALSE(bare.exec->provideClusterInfo);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "oldapi")), doctest::Contains("v1alpha1\" is not supported"),
                       KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "nocmd")), doctest::Contains("has no command"), KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "gcp")), doctest::Contains("gke-gcloud-auth-plugin"), KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "oidc")), doctest::Contains("auth-provider: oidc"), KubeError);
  CHECK_THROWS_WITH_AS(load_cluster_config(with(f, "basic")), doctest::Contains("basic auth"), KubeError);
  auto anon = load_cluster_config(with(f, "anonymous"));
  CHECK(anon.user_name.empty());
  CHECK_FALSE(anon.exec);
  CHECK(anon.token.empty());
}

TEST_CASE("exec plugin: environment, cluster info, exit codes, install hint") {
  TempDir d;
  // Prints a token built from its argument, its env entry and whether the cluster info arrived.
  std::string plugin = d.write("plugin.sh", R"(#!/bin/sh
case "$KUBERNETES_EXEC_INFO" in *'"server":"https://k:6443"'*) info=yes ;; *) info=no ;; esac
[ "$1" = fail ] && exit 3
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s-%s","expirationTimestamp":"2030-01-01T00:00:00Z"}}' "$1" "$LOKI_TEST_VALUE" "$info"
)");
  fs::permissions(plugin, fs::perms::owner_all);
  loki::ClusterConfig cluster;
  cluster.server = "https://k:6443";
  cluster.user_name = "u";
  loki::ExecConfig e;
  e.apiVersion = "client.authentication.k8s.io/v1";
  e.command = plugin;
  e.args = {"tok"};
  e.env = {{"LOKI_TEST_VALUE", "from-kubeconfig"}};
  EnvVar outer("LOKI_TEST_VALUE", "from-environment");  // the kubeconfig's entry wins
  auto c = loki::run_exec_plugin(e, cluster);
  CHECK(c.token == "tok-from-kubeconfig-no");
  REQUIRE(c.expiration);
  CHECK_FALSE(c.expired());
  e.provideClusterInfo = true;
  CHECK(loki::run_exec_plugin(e, cluster).token == "tok-from-kubeconfig-yes");
  e.args = {"fail"};
  CHECK_THROWS_WITH_AS(loki::run_exec_plugin(e, cluster), doctest::Contains("failed (exit 3)"), KubeError);
  e.command = (d.path / "no-such-plugin").string();
  e.installHint = "install the plugin";
  CHECK_THROWS_WITH_AS(loki::run_exec_plugin(e, cluster), doctest::Contains("could not be run"), KubeError);
  CHECK_THROWS_WITH_AS(loki::run_exec_plugin(e, cluster), doctest::Contains("install the plugin"), KubeError);
}
